# SPDX-License-Identifier: MIT
"""Local sources and everything around a build: broken images (one sentence each, nitro-cli's error number, no
output file left), a full disk, platforms and architectures, nitro-cli's blobs as the kernel, progress on
stderr, --docker-dir through buildah."""
import gzip
import json
import os
import pty
import shutil
import struct
import subprocess

import pytest

import oci_images
from conftest import build, build_env, check_ok, one_error

APP = {"Cmd": ["/bin/busybox", "true"]}
BUSYBOX_LAYER = None


def busybox_layer():
    global BUSYBOX_LAYER
    if BUSYBOX_LAYER is None:
        BUSYBOX_LAYER = oci_images.tar_bytes([("bin", "dir", None),
                                              ("bin/busybox", "file", open(oci_images.BUSYBOX, "rb").read())])
    return BUSYBOX_LAYER


def layout(tmp_path, layers, config=APP, **kw):
    lay = oci_images.Layout(str(tmp_path / "layout"))
    lay.tag(lay.image(layers, config, **kw), "v1")
    return f"oci:{lay.path}:v1"


def copy_layout(work, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(work / "exports" / "layout", dst)
    index = json.load(open(dst / "index.json"))
    manifest = json.loads(oci_images.blob(str(dst), index["manifests"][0]["digest"]))
    return dst, [dst / "blobs" / "sha256" / layer["digest"].split(":")[1] for layer in manifest["layers"]]


def test_truncated_and_corrupt_layers(nitrovm, home, kernel, refs, work, tmp_path):
    dst, layers = copy_layout(work, tmp_path)
    data = layers[0].read_bytes()
    layers[0].write_bytes(data[: len(data) // 2])
    out = tmp_path / "t.eif"
    one_error(build(nitrovm, home, f"oci:{dst}:v1", out, kernel=kernel), 50, "bytes, not the", "descriptor")
    mid = len(data) // 2
    layers[0].write_bytes(data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1:])
    one_error(build(nitrovm, home, f"oci:{dst}:v1", out, kernel=kernel), 50, "layer 1 of 2", "does not match its digest")
    assert not out.exists()
    assert [f for f in os.listdir(tmp_path) if f.startswith(".")] == []


def test_docker_archive_checked_by_diff_id(nitrovm, home, kernel, refs, tmp_path):
    src = refs["docker-archive"].split(":", 1)[1]
    data = bytearray(open(src, "rb").read())
    at = data.find(b"kept\n")  # a file's contents inside an uncompressed layer
    assert at > 0
    data[at] = ord("K")
    (tmp_path / "bad.tar").write_bytes(bytes(data))
    one_error(build(nitrovm, home, f"docker-archive:{tmp_path}/bad.tar", tmp_path / "x.eif", kernel=kernel), 50,
              "uncompressed (its diff_id) does not match")


def rewrite_docker_archive(src, dst, style):
    """src's docker-archive, its manifest.json naming the layers as older or newer tools do: 'legacy' the
    <id>/layer.tar symlinks (docker save before 25, podman), 'blobs' Docker 25's blobs/sha256/<hex>."""
    import io
    import tarfile
    with tarfile.open(src) as t:
        members = {m.name: (m, t.extractfile(m).read() if m.isfile() else None) for m in t.getmembers()}
    manifest = json.loads(members["manifest.json"][1])
    links = {m.linkname.split("/")[-1]: name for name, (m, _) in members.items() if m.issym()}
    out = {}
    for name, (m, data) in members.items():
        if style == "blobs" and name.endswith(".tar") and "/" not in name:
            m = tarfile.TarInfo("blobs/sha256/" + name[:-4])
            m.size = len(data)
        out[m.name] = (m, data)
    for entry in manifest:
        entry["Layers"] = [links[l] if style == "legacy" else "blobs/sha256/" + l[:-4] for l in entry["Layers"]]
    body = json.dumps(manifest).encode()
    info = tarfile.TarInfo("manifest.json")
    info.size = len(body)
    out["manifest.json"] = (info, body)
    with tarfile.open(dst, "w") as t:
        for m, data in out.values():
            t.addfile(m, io.BytesIO(data) if data is not None else None)


def test_docker_archive_layouts(nitrovm, home, kernel, refs, tmp_path):
    src = refs["docker-archive"].split(":", 1)[1]
    check_ok(build(nitrovm, home, refs["oci"], tmp_path / "o.eif", "--name", "app", kernel=kernel))
    for style in ("legacy", "blobs"):
        rewrite_docker_archive(src, tmp_path / f"{style}.tar", style)
        for ref in ("", ":nitrovm-test:v1", ":docker.io/library/nitrovm-test:v1", ":@0"):
            out = tmp_path / f"{style}.eif"
            check_ok(build(nitrovm, home, f"docker-archive:{tmp_path}/{style}.tar{ref}", out, "--name", "app",
                           kernel=kernel))
            assert out.read_bytes() == (tmp_path / "o.eif").read_bytes(), (style, ref)
    one_error(build(nitrovm, home, f"docker-archive:{tmp_path}/legacy.tar:other:v9", tmp_path / "x.eif",
                    kernel=kernel), 50, "no image tagged 'other:v9'")
    one_error(build(nitrovm, home, f"docker-archive:{tmp_path}/legacy.tar:@3", tmp_path / "x.eif",
                    kernel=kernel), 50, "'@3' is not one of @0 to @0")


def test_compressed_docker_archive(nitrovm, home, kernel, refs, tmp_path):
    src = refs["docker-archive"].split(":", 1)[1]
    (tmp_path / "img.tar.gz").write_bytes(gzip.compress(open(src, "rb").read(), 1))
    check_ok(build(nitrovm, home, f"docker-archive:{tmp_path}/img.tar.gz", tmp_path / "z.eif", "--name", "app",
                   kernel=kernel))
    check_ok(build(nitrovm, home, refs["oci"], tmp_path / "o.eif", "--name", "app", kernel=kernel))
    assert (tmp_path / "z.eif").read_bytes() == (tmp_path / "o.eif").read_bytes()


@pytest.mark.parametrize("entries,code,fragment", [
    ([("../evil", "file", "x")], 48, "'..' component"),
    ([("/etc/evil", "file", "x")], 48, "absolute path"),
    ([("a", "symlink", "/etc"), ("a/../../x", "file", "x")], 48, "'..' component"),
    ([("x", "hardlink", "../../etc/shadow")], 48, "'..' component"),
    ([("d/.wh..", "file", "")], 48, "names no file"),
])
def test_paths_escaping_the_root(nitrovm, home, kernel, tmp_path, entries, code, fragment):
    uri = layout(tmp_path, [busybox_layer(), oci_images.tar_bytes(entries)])
    one_error(build(nitrovm, home, uri, tmp_path / "e.eif", kernel=kernel), code, "layer 2 of 2", fragment)
    assert not (tmp_path / "e.eif").exists()


def test_bad_images(nitrovm, home, kernel, tmp_path):
    cases = [
        (dict(layer_type="application/x-custom-layer"), 50, "not a layer nitrovm knows"),
        (dict(layer_type="application/vnd.oci.image.layer.v1.tar+gzip+encrypted"), 50, "encrypted"),
        (dict(compress=None), 48, "is not tar+gzip as its media type says"),
        (dict(arch="s390x"), 50, "architecture 's390x'"),
    ]
    for i, (kw, code, fragment) in enumerate(cases):
        uri = layout(tmp_path / str(i), [busybox_layer()], **kw)
        one_error(build(nitrovm, home, uri, tmp_path / "b.eif", kernel=kernel), code, fragment)
    uri = layout(tmp_path / "nocmd", [busybox_layer()], config={})
    one_error(build(nitrovm, home, uri, tmp_path / "b.eif", kernel=kernel), 48, "neither Cmd nor Entrypoint",
              "--cmd or --entrypoint")
    check_ok(build(nitrovm, home, uri, tmp_path / "b.eif", "--cmd", "/bin/busybox true", kernel=kernel))
    uri = layout(tmp_path / "nouser", [busybox_layer()], config=dict(APP, User="ghost"))
    one_error(build(nitrovm, home, uri, tmp_path / "g.eif", kernel=kernel), 48, "'ghost' is not in its /etc/passwd")
    one_error(build(nitrovm, home, f"docker-archive:{tmp_path}/none.tar", tmp_path / "n.eif", kernel=kernel), 19,
              "none.tar")


def test_full_disk(nitrovm, home, kernel, refs, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(disk)], check=True)
    try:
        p = build(nitrovm, home, refs["oci"], disk / "full.eif", kernel=kernel)
        one_error(p, 19, "no space left")
        assert os.listdir(disk) == [], "a partial file was left behind"
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_platforms_and_arch(nitrovm, home, kernel, tmp_path):
    lay = oci_images.Layout(str(tmp_path / "multi"))
    amd = lay.image([busybox_layer()], APP, arch="amd64")
    arm = lay.image([busybox_layer()], APP, arch="arm64")
    lay.index([(amd, {"architecture": "amd64", "os": "linux"}),
               (arm, {"architecture": "arm64", "os": "linux", "variant": "v8"})], "v1")
    uri = f"oci:{lay.path}:v1"
    out = tmp_path / "a.eif"
    check_ok(build(nitrovm, home, uri, out, kernel=kernel))
    info = json.loads(subprocess.run([nitrovm, "describe-eif", "--eif-path", str(out)], capture_output=True,
                                     check=True).stdout)["Metadata"]["DockerInfo"]
    assert info["Architecture"] == "amd64"
    one_error(build(nitrovm, home, uri, out, "--arch", "arm64", kernel=kernel), 48,
              "the image is for arm64 but the kernel is an amd64 one")
    arm_kernel = oci_images.fake_arm64_image(str(tmp_path / "Image"))
    arm_init = oci_images.fake_static_elf(str(tmp_path / "init-arm64"))
    check_ok(build(nitrovm, home, uri, out, "--arch", "arm64", "--init", arm_init, kernel=arm_kernel))
    assert struct.unpack(">H", out.read_bytes()[6:8])[0] & 1, "the EIF's arch flag follows the image (arm64)"
    one_error(build(nitrovm, home, uri, out, "--arch", "riscv64", kernel=kernel), 3, "unknown --arch")
    single = layout(tmp_path / "single", [busybox_layer()], arch="arm64")
    one_error(build(nitrovm, home, single, out, kernel=kernel), 48, "the image is for arm64")


def test_nitro_cli_blobs(nitrovm, home, kernel, refs, tmp_path):
    one_error(build(nitrovm, home, refs["oci"], tmp_path / "k.eif", env={"NITRO_CLI_BLOBS": str(tmp_path)}),
              52, "no kernel for the enclave", "--kernel")
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    shutil.copy(kernel, blobs / "bzImage")
    (blobs / "cmdline").write_text("reboot=k panic=30 console=ttyS0\n")
    (blobs / "nsm.ko").write_bytes(b"\x7fELF nsm module")
    out = tmp_path / "b.eif"
    check_ok(build(nitrovm, home, refs["oci"], out, env={"NITRO_CLI_BLOBS": str(blobs)}))
    boot = oci_images.read_newc(oci_images.eif_ramdisks(out)[0])
    assert boot["nsm.ko"]["data"] == b"\x7fELF nsm module" and boot["nsm.ko"]["mode"] & 0o777 == 0o755
    assert "init" in boot
    assert b"reboot=k panic=30 console=ttyS0" in out.read_bytes()
    one_error(build(nitrovm, home, refs["oci"], tmp_path / "c.eif", "--cmdline", "x",
                    env={"NITRO_CLI_BLOBS": str(blobs)}), 1, "--cmdline goes with --kernel")


def test_progress(nitrovm, home, kernel, refs, tmp_path):
    p = check_ok(build(nitrovm, home, refs["oci-archive"], tmp_path / "p.eif", kernel=kernel))
    steps = [line for line in p.stderr.splitlines() if line.startswith("unpack ")]
    assert len(steps) == 2 and steps[0].startswith("unpack 1/2 ") and " entries, " in steps[0], p.stderr
    p = check_ok(build(nitrovm, home, refs["oci-archive"], tmp_path / "q.eif", "--quiet", kernel=kernel))
    assert p.stderr == ""
    # On a terminal: bars redrawn in place.
    primary, secondary = pty.openpty()
    cmd = [nitrovm, "build-enclave", "--docker-uri", refs["oci-archive"], "--kernel", kernel, "--cmdline", "x",
           "--output-file", str(tmp_path / "t.eif")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=secondary, env=build_env(home))
    os.close(secondary)
    tty = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:
            break
        if not chunk:
            break
        tty += chunk
    assert proc.wait() == 0
    os.close(primary)
    assert b"\r" in tty and b"] " in tty and b"MiB/s" in tty, tty


def test_docker_dir(nitrovm, home, kernel, buildah, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    shutil.copy(oci_images.BUSYBOX, ctx / "busybox")
    (ctx / "Dockerfile").write_text('FROM scratch\nCOPY busybox /bin/busybox\nENTRYPOINT ["/bin/busybox", "echo"]\n'
                                    'CMD ["from", "a", "Dockerfile"]\n')
    env = {"CONTAINERS_STORAGE_CONF": buildah.storage_conf(str(tmp_path / "storage.conf")),
           "BUILDAH_ISOLATION": "chroot"}
    out = tmp_path / "d.eif"
    p = check_ok(build(nitrovm, home, "localhost/dockerfile-test:v1", out, "--docker-dir", ctx, "--quiet", env=env,
                       kernel=kernel))
    entries = oci_images.read_newc(oci_images.eif_ramdisks(out)[1])
    assert entries["cmd"]["data"] == b"/bin/busybox\necho\nfrom\na\nDockerfile\n"
    d = json.loads(subprocess.run([nitrovm, "describe-eif", "--eif-path", str(out)], capture_output=True,
                                  check=True).stdout)
    assert d["ImageName"] == "localhost/dockerfile-test", d["ImageName"]
    assert [f for f in os.listdir(tmp_path) if f.startswith(".nitrovm")] == [], "the build's archive was left"
    assert p.stderr == ""
    empty = tmp_path / "nopath"
    empty.mkdir()
    p = build(nitrovm, home, "x:v1", tmp_path / "e.eif", "--docker-dir", ctx, env={"PATH": str(empty)},
              kernel=kernel)
    one_error(p, 49, "needs buildah or podman")
