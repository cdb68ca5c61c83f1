# SPDX-License-Identifier: MIT
"""`nitrovm build-enclave --ramdisk-dir` packs a tree that GNU cpio reads back identically.

The ramdisk is taken out of the EIF with tests/cli/eiflib.py, listed with `cpio -it`, unpacked with `cpio -idm`,
and the unpacked tree is compared with the original: names, types, permission bits, contents, symlink targets.
The archive's own headers are checked with a small parser here (uid/gid 0, mtimes from SOURCE_DATE_EPOCH,
inodes in order, sorted names).
"""

import json
import os
import shutil
import socket
import stat
import subprocess
from pathlib import Path

import pytest

import eiflib

REPO = Path(__file__).resolve().parents[2]
NITROVM = os.environ.get("NITROVM", str(REPO / "build" / "nitrovm"))
EPOCH = 1700000000

pytestmark = pytest.mark.skipif(shutil.which("cpio") is None, reason="GNU cpio is not installed")

# relative path: (kind, mode, content or link target)
TREE = {
    "bin": ("dir", 0o755, None),
    "bin/sh": ("file", 0o755, b"#!/bin/true\n"),
    "bin/sh-link": ("symlink", None, "sh"),
    "etc": ("dir", 0o755, None),
    "etc/passwd": ("file", 0o644, b"root:x:0:0:root:/root:/bin/sh\n"),
    "etc/hosts-link": ("symlink", None, "/etc/hosts"),
    "empty-dir": ("dir", 0o700, None),
    "empty-file": ("file", 0o600, b""),
    "odd size": ("file", 0o640, b"12345"),
    "big": ("file", 0o644, eiflib.pseudo_random((1 << 20) + 3, 7)),
    "setuid": ("file", 0o4755, b"s"),
    "sticky-dir": ("dir", 0o1777, None),
    "deep": ("dir", 0o755, None),
    "deep/a": ("dir", 0o755, None),
    "deep/a/b": ("dir", 0o750, None),
    "deep/a/b/file": ("file", 0o444, b"deep\n"),
    "dangling": ("symlink", None, "../nowhere/at/all"),
    "fifo": ("fifo", 0o620, None),
    "B-upper": ("file", 0o644, b"B"),
    "a-dash": ("file", 0o644, b"-"),
    "\u00e9t\u00e9": ("file", 0o644, "\u00e9t\u00e9".encode()),
}


def make_tree(root: Path, order=1):
    """Create TREE under root; order=-1 creates entries in reverse, to vary what readdir() returns."""
    root.mkdir()
    os.chmod(root, 0o755)
    # Parents first either way (by depth); within a depth, names ascending or descending.
    items = sorted(TREE.items(), key=lambda kv: (kv[0].count("/"), kv[0]))
    items = sorted(items[::order], key=lambda kv: kv[0].count("/"))
    for rel, (kind, mode, content) in items:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if kind == "dir":
            p.mkdir(exist_ok=True)
        elif kind == "file":
            p.write_bytes(content)
        elif kind == "symlink":
            os.symlink(content, p)
        elif kind == "fifo":
            os.mkfifo(p)
        if kind != "symlink":
            os.chmod(p, mode)
    # Sockets are skipped by the packer.
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(root / "sock"))
    s.close()
    # A hard link becomes a second, independent copy.
    os.link(root / "etc/passwd", root / "etc/passwd-hardlink")
    return root


def expected_entries():
    e = dict(TREE)
    e["etc/passwd-hardlink"] = TREE["etc/passwd"]
    return e


def build(tmp_path, *dirs, env_extra=None, out="out.eif"):
    kernel = tmp_path / "kernel"
    if not kernel.exists():
        kernel.write_bytes(eiflib.fake_kernel())
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(EPOCH))
    env.update(env_extra or {})
    args = [NITROVM, "build-enclave", "--kernel", str(kernel), "--cmdline", "console=ttyS0",
            "--output-file", str(tmp_path / out)]
    for d in dirs:
        args += ["--ramdisk-dir", str(d)]
    return subprocess.run(args, capture_output=True, env=env, timeout=120)


def ramdisks_of(eif: Path):
    return [s.data for s in eiflib.read_sections(eif.read_bytes()) if s.type == eiflib.RAMDISK]


def parse_newc(buf: bytes):
    """[(name, fields dict, data)] up to and including the trailer."""
    names = ["ino", "mode", "uid", "gid", "nlink", "mtime", "filesize", "devmajor", "devminor", "rdevmajor",
             "rdevminor", "namesize", "check"]
    off, out = 0, []
    while True:
        assert buf[off:off + 6] == b"070701"
        f = {n: int(buf[off + 6 + 8 * i:off + 14 + 8 * i], 16) for i, n in enumerate(names)}
        name = buf[off + 110:off + 110 + f["namesize"] - 1].decode("utf-8", "surrogateescape")
        off = (off + 110 + f["namesize"] + 3) & ~3
        data = buf[off:off + f["filesize"]]
        off = (off + f["filesize"] + 3) & ~3
        out.append((name, f, data))
        if name == "TRAILER!!!":
            assert off == len(buf)
            return out


def snapshot(root: Path):
    """{relative path: (kind, permission bits, content or target)} of a tree, sockets left out."""
    snap = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            rel = str(p.relative_to(root))
            st = os.lstat(p)
            if stat.S_ISSOCK(st.st_mode):
                continue
            if stat.S_ISLNK(st.st_mode):
                snap[rel] = ("symlink", None, os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                snap[rel] = ("dir", stat.S_IMODE(st.st_mode), None)
            elif stat.S_ISFIFO(st.st_mode):
                snap[rel] = ("fifo", stat.S_IMODE(st.st_mode), None)
            else:
                snap[rel] = ("file", stat.S_IMODE(st.st_mode), p.read_bytes())
    return snap


@pytest.fixture
def packed(tmp_path):
    src = make_tree(tmp_path / "root")
    r = build(tmp_path, src)
    assert r.returncode == 0, r.stderr.decode()
    (rd,) = ramdisks_of(tmp_path / "out.eif")
    cpio = tmp_path / "ramdisk.cpio"
    cpio.write_bytes(rd)
    return src, cpio


def test_gnu_cpio_lists_sorted_names(packed):
    src, cpio = packed
    r = subprocess.run(["cpio", "-it", "--quiet"], stdin=cpio.open("rb"), capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    listed = r.stdout.decode("utf-8", "surrogateescape").splitlines()
    want = sorted(expected_entries(), key=lambda n: n.encode())
    assert listed == want


def test_gnu_cpio_extracts_the_same_tree(packed, tmp_path):
    src, cpio = packed
    dest = tmp_path / "extracted"
    dest.mkdir()
    r = subprocess.run(["cpio", "-idm", "--quiet", "--no-absolute-filenames"], stdin=cpio.open("rb"), cwd=dest,
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    got, want = snapshot(dest), snapshot(src)
    assert sorted(got) == sorted(want)
    for rel in want:
        assert got[rel] == want[rel], rel
    assert set(got) == set(expected_entries())
    # -m restores what the archive says: SOURCE_DATE_EPOCH.
    assert os.stat(dest / "etc/passwd").st_mtime == EPOCH


def test_archive_headers(packed):
    _, cpio = packed
    entries = parse_newc(cpio.read_bytes())
    names = [n for n, _, _ in entries[:-1]]
    assert names == sorted(names, key=lambda n: n.encode("utf-8", "surrogateescape"))
    want = expected_entries()
    for ino, (name, f, data) in enumerate(entries[:-1], start=1):
        kind, mode, content = want[name]
        assert f["ino"] == ino
        assert (f["uid"], f["gid"], f["mtime"], f["devmajor"], f["devminor"], f["check"]) == (0, 0, EPOCH, 0, 0, 0)
        assert f["nlink"] == (2 if kind == "dir" else 1)
        if kind == "symlink":
            assert f["mode"] == stat.S_IFLNK | 0o777 and data == content.encode()
        elif kind == "file":
            assert f["mode"] == stat.S_IFREG | mode and data == content
        elif kind == "dir":
            assert f["mode"] == stat.S_IFDIR | mode and data == b""
        elif kind == "fifo":
            assert f["mode"] == stat.S_IFIFO | mode and data == b""
    name, f, _ = entries[-1]
    assert name == "TRAILER!!!" and f["nlink"] == 1 and f["mode"] == 0


def test_reproducible_whatever_the_creation_order(tmp_path):
    a = make_tree(tmp_path / "a", order=1)
    b = make_tree(tmp_path / "b", order=-1)
    ra, rb = build(tmp_path, a, out="a.eif"), build(tmp_path, b, out="b.eif")
    assert ra.returncode == 0 and rb.returncode == 0, (ra.stderr, rb.stderr)
    assert ramdisks_of(tmp_path / "a.eif") == ramdisks_of(tmp_path / "b.eif")
    # Same inputs, same SOURCE_DATE_EPOCH: the whole image is byte-identical (the output file's name is the
    # default ImageName, so build twice under the same name).
    rc = build(tmp_path, a, out="a.eif")
    first = (tmp_path / "a.eif").read_bytes()
    assert rc.returncode == 0
    rc = build(tmp_path, a, out="a.eif")
    assert rc.returncode == 0 and (tmp_path / "a.eif").read_bytes() == first


def test_two_ramdisk_dirs_measure_like_nitro_cli(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    (one / "init").write_bytes(b"init")
    (two / "app").write_bytes(eiflib.pseudo_random(5000, 3))
    r = build(tmp_path, one, two)
    assert r.returncode == 0, r.stderr.decode()
    secs = eiflib.read_sections((tmp_path / "out.eif").read_bytes())
    assert [s.type for s in secs] == [eiflib.KERNEL, eiflib.CMDLINE, eiflib.METADATA, eiflib.RAMDISK, eiflib.RAMDISK]
    d = subprocess.run([NITROVM, "describe-eif", "--eif-path", str(tmp_path / "out.eif")], capture_output=True,
                       text=True, timeout=60)
    assert d.returncode == 0, d.stderr
    m = json.loads(d.stdout)["Measurements"]
    assert {k: m[k] for k in ("PCR0", "PCR1", "PCR2")} == eiflib.measurements(secs)
    assert [n for n, _, _ in parse_newc(secs[3].data)] == ["init", "TRAILER!!!"]


@pytest.mark.parametrize("value", ["12x", "-1", "4294967296"])
def test_malformed_source_date_epoch_refused(tmp_path, value):
    src = tmp_path / "root"
    src.mkdir()
    (src / "f").write_bytes(b"x")
    r = build(tmp_path, src, env_extra={"SOURCE_DATE_EPOCH": value})
    assert r.returncode != 0
    err = r.stderr.decode()
    # nitro-cli's "Start building the Enclave Image..." may come first; then exactly one error line.
    errors = [line for line in err.splitlines() if line.startswith("[ E")]
    assert len(errors) == 1 and err.splitlines()[-1] == errors[0], err
    assert "SOURCE_DATE_EPOCH" in errors[0]
    assert not (tmp_path / "out.eif").exists()
