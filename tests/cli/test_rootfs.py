# SPDX-License-Identifier: MIT
"""`nitrovm build-enclave --rootfs`: nitro-cli's two-ramdisk layout (init in the first, the image under rootfs/ in the second; PCR1 and PCR2 over them).

Both ramdisks are taken out of the EIF with tests/cli/eiflib.py, listed with GNU `cpio -it` and parsed by a small
newc reader here (names, modes, device numbers, contents). Checked: the bootstrap ramdisk (dev/, dev/console,
init, modules/ with its order file), the customer ramdisk (rootfs/ with the directories nitro-cli adds, cmd and
env), that PCR1 covers kernel + cmdline + bootstrap and PCR2 the customer ramdisk alone, determinism, and that
bad input ends with one `[ Exx ]` line and no image.
"""

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

import eiflib
from clicheck import error_line
from conftest import fake_bzimage, run

REPO = Path(__file__).resolve().parents[2]
BUSYBOX = "/bin/busybox"
EPOCH = "1700000000"
CMDLINE = "console=ttyS0 reboot=k"
DEBIAN_ORDER = ["virtio_mmio", "vsock", "vmw_vsock_virtio_transport_common", "vmw_vsock_virtio_transport", "nsm"]


def is_static_elf(path):
    try:
        out = subprocess.run(["file", "-L", path], capture_output=True, text=True).stdout
    except OSError:
        return False
    return "statically linked" in out


pytestmark = [
    pytest.mark.skipif(shutil.which("cpio") is None, reason="GNU cpio is not installed"),
]


def parse_newc(buf):
    """{name: (mode, data, (rmajor, rminor))} of a newc archive, in archive order (dicts keep it)."""
    out, pos = {}, 0
    while True:
        assert buf[pos:pos + 6] == b"070701", f"bad magic at {pos}"
        f = [int(buf[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in range(13)]
        namesize, size = f[11], f[6]
        name = buf[pos + 110:pos + 110 + namesize - 1].decode()
        pos += (110 + namesize + 3) & ~3
        data = buf[pos:pos + size]
        pos += (size + 3) & ~3
        if name == "TRAILER!!!":
            return out
        out[name] = (f[1], data, (f[9], f[10]))


def cpio_names(archive, tmp_path):
    """What GNU cpio lists, to check the archive with a second reader."""
    p = tmp_path / "ramdisk.cpio"
    p.write_bytes(archive)
    with open(p, "rb") as f:
        r = subprocess.run(["cpio", "-it", "--quiet"], stdin=f, capture_output=True, check=True)
    return r.stdout.decode().splitlines()


def ramdisks_of(eif):
    secs = eiflib.read_sections(Path(eif).read_bytes())
    return secs, [s.data for s in secs if s.type == eiflib.RAMDISK]


def make_rootfs(root):
    """A small root filesystem: busybox, a config file, a 1777 tmp (kept as is), var as a symlink (kept)."""
    (root / "bin").mkdir(parents=True)
    shutil.copy(BUSYBOX, root / "bin" / "busybox")
    os.symlink("busybox", root / "bin" / "sh")
    (root / "etc").mkdir()
    (root / "etc" / "hostname").write_text("enclave\n")
    (root / "tmp").mkdir()
    os.chmod(root / "tmp", 0o1777)
    (root / "data").mkdir()
    os.symlink("data", root / "var")
    os.chmod(root, 0o755)
    return root


@pytest.fixture
def env(tmp_path):
    k = fake_bzimage(tmp_path / "bzImage")
    rootfs = make_rootfs(tmp_path / "rootfs")
    return {"kernel": k, "rootfs": rootfs, "dir": tmp_path}


def build(env, *extra, out=None, epoch=EPOCH):
    out = out or env["dir"] / "out.eif"
    return run("build-enclave", "--kernel", env["kernel"], "--cmdline", CMDLINE, "--output-file", out, *extra,
               env={"SOURCE_DATE_EPOCH": epoch}), out


def build_ok(env, *extra, out=None):
    p, out = build(env, *extra, out=out)
    assert p.returncode == 0, p.stderr.decode()
    return p, out


def default_init():
    """The init build-enclave takes when given none: next to the nitrovm binary in the build tree."""
    nitrovm = os.environ.get("NITROVM", str(REPO / "build" / "nitrovm"))
    return Path(nitrovm).resolve().parent / "guest" / "init" / "init"


def one_error_line(p, code):
    return error_line(p.stderr, code=code, returncode=p.returncode)


def test_two_ramdisk_layout(nitrovm, env, tmp_path):
    p, out = build_ok(env, "--rootfs", env["rootfs"], "--cmd", "/bin/sh -c 'echo hi; exit 3'",
                      "--env", "A=1", "--env", "GREETING=hello world", "--env", "EMPTY=")
    secs, rds = ramdisks_of(out)
    assert len(rds) == 2, "--rootfs writes exactly two ramdisks"

    boot = parse_newc(rds[0])
    assert list(boot) == ["dev", "dev/console", "init"]
    assert cpio_names(rds[0], tmp_path) == list(boot)
    assert boot["dev"][0] == stat.S_IFDIR | 0o755
    assert boot["dev/console"][0] == stat.S_IFCHR | 0o600 and boot["dev/console"][2] == (5, 1)
    assert boot["init"][0] == stat.S_IFREG | 0o755
    init = default_init()
    if init.exists():
        assert boot["init"][1] == init.read_bytes(), "the init is nitrovm's own, taken from the build tree"

    cust = parse_newc(rds[1])
    assert cpio_names(rds[1], tmp_path) == list(cust)
    assert set(cust) == {
        "cmd", "env", "rootfs", "rootfs/bin", "rootfs/bin/busybox", "rootfs/bin/sh", "rootfs/data", "rootfs/etc",
        "rootfs/etc/hostname", "rootfs/tmp", "rootfs/var",
        # added because the tree lacks them (nitro-cli's customer ramdisk always has them)
        "rootfs/dev", "rootfs/run", "rootfs/sys", "rootfs/proc",
    }
    for d in ("dev", "run", "sys", "proc"):
        assert cust[f"rootfs/{d}"][0] == stat.S_IFDIR | 0o755, d
    assert cust["rootfs/tmp"][0] == stat.S_IFDIR | 0o1777, "a directory the tree has keeps its mode"
    assert stat.S_ISLNK(cust["rootfs/var"][0]) and cust["rootfs/var"][1] == b"data", "and a symlink stays one"
    assert cust["rootfs/bin/busybox"][1] == Path(BUSYBOX).read_bytes()
    assert cust["cmd"][0] == stat.S_IFREG | 0o644 and cust["env"][0] == stat.S_IFREG | 0o644
    assert cust["cmd"][1] == b"/bin/sh\n-c\necho hi; exit 3\n"
    assert cust["env"][1] == b"A=1\nGREETING=hello world\nEMPTY=\n"

    # PCR1 = kernel + cmdline + bootstrap ramdisk, PCR2 = the customer ramdisk: as nitro-cli's images.
    m = json.loads(p.stdout)["Measurements"]
    kernel = next(s.data for s in secs if s.type == eiflib.KERNEL)
    cmdline = next(s.data for s in secs if s.type == eiflib.CMDLINE)
    assert m["PCR0"] == eiflib.pcr(kernel + cmdline + rds[0] + rds[1])
    assert m["PCR1"] == eiflib.pcr(kernel + cmdline + rds[0])
    assert m["PCR2"] == eiflib.pcr(rds[1])


def test_pcr1_is_the_bootstrap_and_pcr2_the_app(nitrovm, env, tmp_path):
    """Changing the app changes PCR2 only; changing the init changes PCR1 only."""
    def pcrs(*extra, name):
        p, _ = build_ok(env, "--rootfs", env["rootfs"], *extra, out=tmp_path / f"{name}.eif")
        return json.loads(p.stdout)["Measurements"]

    base = pcrs("--cmd", "/bin/sh", name="base")
    other_cmd = pcrs("--cmd", "/bin/sh -c true", name="cmd")
    assert other_cmd["PCR1"] == base["PCR1"] and other_cmd["PCR2"] != base["PCR2"]
    other_env = pcrs("--cmd", "/bin/sh", "--env", "X=1", name="env")
    assert other_env["PCR1"] == base["PCR1"] and other_env["PCR2"] != base["PCR2"]
    other_init = pcrs("--cmd", "/bin/sh", "--init", BUSYBOX, name="init")
    assert other_init["PCR1"] != base["PCR1"] and other_init["PCR2"] == base["PCR2"]


@pytest.mark.skipif(not is_static_elf(BUSYBOX), reason="needs a static /bin/busybox (busybox-static)")
def test_init_option(nitrovm, env):
    _, out = build_ok(env, "--rootfs", env["rootfs"], "--cmd", "sh", "--init", BUSYBOX)
    _, rds = ramdisks_of(out)
    assert parse_newc(rds[0])["init"][1] == Path(BUSYBOX).read_bytes()


@pytest.mark.parametrize("cmd,lines", [
    ("prog", ["prog"]),
    ("  prog   a\tb  ", ["prog", "a", "b"]),
    ("sh -c 'echo  \"two  spaces\"; exit 3'", ["sh", "-c", 'echo  "two  spaces"; exit 3']),
    ('echo "a \\"quoted\\" \\\\ word" x', ["echo", 'a "quoted" \\ word', "x"]),
    ("echo a\\ b '' \"\"", ["echo", "a b", "", ""]),
    ("pre'fix 'and\"suf fix\"", ["prefix andsuf fix"]),
    ("echo $HOME *", ["echo", "$HOME", "*"]),
])
def test_cmd_splitting(nitrovm, env, cmd, lines):
    _, out = build_ok(env, "--rootfs", env["rootfs"], "--cmd", cmd)
    _, rds = ramdisks_of(out)
    assert parse_newc(rds[1])["cmd"][1] == "".join(line + "\n" for line in lines).encode()


def test_cmd_file(nitrovm, env):
    f = env["dir"] / "cmd.txt"
    f.write_bytes(b"/bin/sh\n-c\necho 'as is'  \"really\"\n\nlast")
    _, out = build_ok(env, "--rootfs", env["rootfs"], "--cmd-file", f)
    _, rds = ramdisks_of(out)
    assert parse_newc(rds[1])["cmd"][1] == b"/bin/sh\n-c\necho 'as is'  \"really\"\n\nlast\n"


def fake_modules(d, names):
    d.mkdir()
    for n in names:
        (d / n).write_bytes(b"module " + n.encode())
    return d


def test_kernel_modules_default_order(nitrovm, env, tmp_path):
    # Debian's five (in reverse, so readdir order cannot help), two others and a file that is no module.
    names = [m + ".ko.xz" for m in reversed(DEBIAN_ORDER)] + ["zzz_extra.ko", "aaa-other.ko.zst", "README"]
    mods = fake_modules(tmp_path / "mods", names)
    _, out = build_ok(env, "--rootfs", env["rootfs"], "--cmd", "sh", "--kernel-modules", mods)
    _, rds = ramdisks_of(out)
    boot = parse_newc(rds[0])
    expect = [m + ".ko.xz" for m in DEBIAN_ORDER] + ["aaa-other.ko.zst", "zzz_extra.ko"]
    assert boot["modules/order"][1] == "".join(n + "\n" for n in expect).encode()
    assert boot["modules/order"][0] == stat.S_IFREG | 0o644
    assert boot["modules"][0] == stat.S_IFDIR | 0o755
    for n in expect:
        assert boot[f"modules/{n}"][1] == (mods / n).read_bytes()
    assert "modules/README" not in boot
    assert cpio_names(rds[0], tmp_path) == list(boot)


def test_kernel_modules_order_file(nitrovm, env, tmp_path):
    mods = fake_modules(tmp_path / "mods", ["b.ko", "a.ko.xz", "c.ko"])
    (mods / "order").write_text("# mine\nc.ko\n\n  a.ko.xz  \nb.ko\n")
    _, out = build_ok(env, "--rootfs", env["rootfs"], "--cmd", "sh", "--kernel-modules", mods)
    _, rds = ramdisks_of(out)
    assert parse_newc(rds[0])["modules/order"][1] == b"c.ko\na.ko.xz\nb.ko\n"


def test_kernel_modules_script_output_is_accepted(nitrovm, env, tmp_path):
    """scripts/kernel-modules on a fake kernel tree: dependencies from .modinfo, order file accepted."""
    tree = tmp_path / "pkg" / "lib" / "modules" / "6.12.0-test" / "kernel"
    tree.mkdir(parents=True)

    def module(name, depends):
        # The smallest ELF64 the script reads: a section header table with .shstrtab and .modinfo.
        import struct
        modinfo = f"license=GPL\0depends={depends}\0name={name}\0".encode()
        shstr = b"\0.shstrtab\0.modinfo\0"
        data_off = 64
        shoff = data_off + len(shstr) + len(modinfo)
        ehdr = bytearray(64)
        ehdr[:6] = b"\x7fELF\x02\x01"
        struct.pack_into("<Q", ehdr, 0x28, shoff)
        struct.pack_into("<HHH", ehdr, 0x3A, 64, 3, 1)
        sh = bytearray(64 * 3)
        struct.pack_into("<IIQQQQ", sh, 64, 1, 3, 0, 0, data_off, len(shstr))
        struct.pack_into("<IIQQQQ", sh, 128, 11, 1, 0, 0, data_off + len(shstr), len(modinfo))
        (tree / f"{name}.ko").write_bytes(bytes(ehdr) + shstr + modinfo + bytes(sh))

    module("virtio_mmio", "")
    module("vsock", "")
    module("vmw_vsock_virtio_transport_common", "vsock")
    module("vmw_vsock_virtio_transport", "vmw_vsock_virtio_transport_common,vsock")
    module("nsm", "")
    out_dir = tmp_path / "mods"
    r = subprocess.run([str(REPO / "scripts" / "kernel-modules"), str(tmp_path / "pkg"), str(out_dir)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (out_dir / "order").read_text().split() == [m + ".ko" for m in DEBIAN_ORDER]
    build_ok(env, "--rootfs", env["rootfs"], "--cmd", "sh", "--kernel-modules", out_dir)


def test_deterministic(nitrovm, env, tmp_path):
    args = ["--rootfs", env["rootfs"], "--cmd", "sh -c 'exit 0'", "--env", "A=1", "--name", "same"]
    _, a = build_ok(env, *args, out=tmp_path / "a.eif")
    _, b = build_ok(env, *args, out=tmp_path / "b.eif")
    assert a.read_bytes() == b.read_bytes()
    # Another copy of the tree, created in another order, with other host mtimes: the same image.
    other = tmp_path / "other"
    shutil.copytree(env["rootfs"], other, symlinks=True)
    os.utime(other / "etc" / "hostname", (1, 1))
    _, c = build_ok(env, "--rootfs", other, *args[2:], out=tmp_path / "c.eif")
    assert c.read_bytes() == a.read_bytes()


def test_help_mentions_rootfs(nitrovm):
    p = run("build-enclave", "--help")
    assert p.returncode == 0
    for opt in (b"--rootfs DIR", b"--cmd", b"--cmd-file", b"--env", b"--kernel-modules", b"--init"):
        assert opt in p.stdout, opt


@pytest.mark.parametrize("args,code,fragment", [
    (["--rootfs", "/nonexistent/rootfs", "--cmd", "sh"], 48, "/nonexistent/rootfs"),
    (["--rootfs", "ROOT", "--cmd", "sh", "--ramdisk", "K"], 2, "without --ramdisk"),
    (["--rootfs", "ROOT", "--cmd", "sh", "--ramdisk-dir", "ROOT"], 2, "without --ramdisk"),
    (["--rootfs", "ROOT", "--cmd", "sh", "--env", "NOEQUALS"], 3, "'NOEQUALS' is not NAME=VALUE"),
    (["--rootfs", "ROOT", "--cmd", "sh", "--env", "=value"], 3, "is not NAME=VALUE"),
    (["--rootfs", "ROOT", "--cmd", "sh", "--env", "A=x\ny"], 3, "newline"),
    (["--rootfs", "ROOT"], 1, "--cmd"),
    (["--rootfs", "ROOT", "--cmd", ""], 3, "--cmd is empty"),
    (["--rootfs", "ROOT", "--cmd", "   "], 3, "--cmd is empty"),
    (["--rootfs", "ROOT", "--cmd", "sh 'unterminated"], 3, "unterminated ' quote"),
    (["--rootfs", "ROOT", "--cmd", 'sh "unterminated'], 3, "unterminated \" quote"),
    (["--rootfs", "ROOT", "--cmd", "sh 'a\nb'"], 3, "newline"),
    (["--rootfs", "ROOT", "--cmd", "'' x"], 3, "empty program name"),
    (["--rootfs", "ROOT", "--cmd", "sh", "--cmd", "sh"], 2, "--cmd once"),
    (["--rootfs", "ROOT", "--cmd", "sh", "--cmd-file", "K"], 2, "not both"),
    (["--rootfs", "ROOT", "--cmd-file", "/nonexistent/cmd"], 19, "/nonexistent/cmd"),
    (["--ramdisk", "K", "--cmd", "sh"], 1, "--cmd goes with --rootfs"),
    (["--ramdisk", "K", "--env", "A=1"], 1, "--env goes with --rootfs"),
    (["--ramdisk", "K", "--kernel-modules", "ROOT"], 1, "--kernel-modules goes with --rootfs"),
    (["--ramdisk", "K", "--init", "K"], 1, "--init goes with --rootfs"),
    (["--rootfs", "ROOT", "--cmd", "sh", "--init", "/nonexistent/init"], 48, "/nonexistent/init"),
    (["--rootfs", "ROOT", "--cmd", "sh", "--init", "K"], 48, "not an ELF executable"),
    (["--rootfs", "ROOT", "--cmd", "sh", "--init", "DYNAMIC"], 48, "dynamically linked"),
    (["--rootfs", "ROOT", "--cmd", "sh", "--kernel-modules", "/nonexistent/mods"], 48, "/nonexistent/mods"),
    (["--rootfs", "ROOT", "--cmd", "sh", "--kernel-modules", "ROOT"], 48, "holds no kernel modules"),
])
def test_bad_input(nitrovm, env, tmp_path, args, code, fragment):
    out = tmp_path / "out.eif"
    subst = {"ROOT": str(env["rootfs"]), "K": str(env["kernel"]), "DYNAMIC": shutil.which("ls")}
    p, _ = build(env, *[subst.get(a, a) for a in args], out=out)
    line = one_error_line(p, code)
    assert fragment in line, line
    assert not out.exists()


@pytest.mark.parametrize("order,fragment", [
    ("a.ko\n", "b.ko is not listed"),
    ("a.ko\nb.ko\nmissing.ko\n", "missing.ko, which is not a file"),
    ("a.ko\nb.ko\na.ko\n", "a.ko twice"),
    ("a.ko\n../b.ko\n", "is not a file name"),
    ("# nothing\n", "not listed"),
])
def test_bad_module_order(nitrovm, env, tmp_path, order, fragment):
    mods = fake_modules(tmp_path / "mods", ["a.ko", "b.ko"])
    (mods / "order").write_text(order)
    out = tmp_path / "out.eif"
    p, _ = build(env, "--rootfs", env["rootfs"], "--cmd", "sh", "--kernel-modules", mods, out=out)
    line = one_error_line(p, 48)
    assert fragment in line, line
    assert not out.exists()


def test_arm64_image_refuses_x86_init(nitrovm, env, tmp_path):
    out = tmp_path / "out.eif"
    p, _ = build(env, "--rootfs", env["rootfs"], "--cmd", "sh", "--arch", "aarch64", "--init", BUSYBOX, out=out)
    line = one_error_line(p, 48)
    assert "aarch64" in line, line
