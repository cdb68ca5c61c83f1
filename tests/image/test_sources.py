# SPDX-License-Identifier: MIT
"""build-enclave --docker-uri from every source: one image gives one EIF (byte for byte, so one PCR0) from a
registry, oci:, oci-archive: and docker-archive:; its rootfs is what `umoci raw unpack` makes of the image, file
by file; the app's files say what Docker would run; the metadata is nitro-cli's."""
import json
import os
import stat
import subprocess

import oci_images
from conftest import build, build_env, check_ok


def customer(eif):
    return oci_images.read_newc(oci_images.eif_ramdisks(eif)[1])


def lines(entries, name):
    return entries[name]["data"].decode().split("\n")[:-1]


def test_every_source_gives_the_same_eif(nitrovm, home, kernel, refs, registry, tmp_path):
    sources = dict(refs, registry=registry.host + "/public/app:v1")
    eifs, pcrs = {}, {}
    for name, uri in sources.items():
        out = tmp_path / f"{name}.eif"
        p = check_ok(build(nitrovm, home, uri, out, "--name", "app", kernel=kernel))
        eifs[name] = out.read_bytes()
        pcrs[name] = json.loads(p.stdout)["Measurements"]["PCR0"]
    assert len(set(pcrs.values())) == 1, pcrs
    for name, data in eifs.items():
        assert data == eifs["oci"], f"the EIF from {name} differs from the one from oci:"
    # And again: reproducible, not just equal once.
    check_ok(build(nitrovm, home, refs["oci-archive"], tmp_path / "again.eif", "--name", "app", kernel=kernel))
    assert (tmp_path / "again.eif").read_bytes() == eifs["oci"]


def test_metadata_is_nitro_clis(nitrovm, home, kernel, registry, work, tmp_path):
    out = tmp_path / "m.eif"
    uri = registry.host + "/public/app:v1"
    check_ok(build(nitrovm, home, uri, out, kernel=kernel))
    d = json.loads(subprocess.run([nitrovm, "describe-eif", "--eif-path", str(out)], capture_output=True,
                                  text=True, check=True).stdout)
    config = oci_images.image_config(str(work / "exports" / "layout"))
    assert d["ImageName"] == f"{registry.host}/public/app"
    info = d["Metadata"]["DockerInfo"]
    assert d["ImageVersion"] == info["Id"].split(":")[1]
    assert info["Config"]["Entrypoint"] == oci_images.ENTRYPOINT
    assert info["Config"]["Cmd"] == oci_images.CMD
    assert info["Config"]["WorkingDir"] == oci_images.WORKDIR and info["Config"]["User"] == oci_images.USER
    assert info["Architecture"] == "amd64" and info["Os"] == "linux"
    assert info["RootFS"]["Layers"] == config["rootfs"]["diff_ids"]
    assert info["RepoTags"] == [] and info["RepoDigests"] == []
    assert list(info) == sorted(info), "DockerInfo's keys are sorted, as serde_json writes them"


def test_container_semantics(nitrovm, home, kernel, refs, tmp_path):
    out = tmp_path / "c.eif"
    check_ok(build(nitrovm, home, refs["oci"], out, kernel=kernel))
    e = customer(out)
    assert lines(e, "cmd") == oci_images.ENTRYPOINT + oci_images.CMD
    env = lines(e, "env")
    assert oci_images.ENV in env and "HOME=/home/app" in env, env
    assert lines(e, "cwd") == ["/app"]
    assert lines(e, "user") == ["1000 1000 2000"]  # app, its group, and "extra" that lists it


def test_nitro_cli_rule(nitrovm, home, kernel, refs, tmp_path):
    out = tmp_path / "n.eif"
    check_ok(build(nitrovm, home, refs["oci"], out, "--nitro-cli-compat", kernel=kernel))
    e = customer(out)
    assert lines(e, "cmd") == oci_images.CMD  # Cmd alone: nitro-cli never combines it with Entrypoint
    assert oci_images.ENV in lines(e, "env") and not any(v.startswith("HOME=") for v in lines(e, "env"))
    assert "cwd" not in e and "user" not in e  # from /, as root


def test_overrides(nitrovm, home, kernel, refs, tmp_path):
    cases = [
        (["--entrypoint", "/bin/echo x"], ["/bin/echo", "x"]),
        (["--entrypoint", "/bin/echo", "--cmd", "a 'b c'"], ["/bin/echo", "a", "b c"]),
        (["--cmd", "c d"], oci_images.ENTRYPOINT + ["c", "d"]),
    ]
    for i, (args, argv) in enumerate(cases):
        out = tmp_path / f"o{i}.eif"
        check_ok(build(nitrovm, home, refs["oci"], out, *args, kernel=kernel))
        assert lines(customer(out), "cmd") == argv, args
    out = tmp_path / "env.eif"
    check_ok(build(nitrovm, home, refs["oci"], out, "--env", "GREETING=bye", "--env", "NEW=1", kernel=kernel))
    env = lines(customer(out), "env")
    assert "GREETING=bye" in env and "NEW=1" in env and oci_images.ENV not in env, env


# ---- the rootfs against umoci's ----

def umoci_tree(root):
    """{path: attributes} of an unpacked tree, as the cpio entries are compared."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            out[os.path.relpath(p, root)] = os.lstat(p)
    return out


def attrs_of_stat(st, path):
    a = {"type": stat.S_IFMT(st.st_mode), "perm": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}
    if stat.S_ISREG(st.st_mode):
        a["data"] = open(path, "rb").read()
        a["mtime"] = int(st.st_mtime)
    elif stat.S_ISLNK(st.st_mode):
        a["data"] = os.readlink(path).encode()
        a["mtime"] = int(st.st_mtime)
    return a


def attrs_of_entry(e, data):
    a = {"type": stat.S_IFMT(e["mode"]), "perm": stat.S_IMODE(e["mode"]), "uid": e["uid"], "gid": e["gid"]}
    if stat.S_ISREG(e["mode"]) or stat.S_ISLNK(e["mode"]):
        a["data"] = data
        a["mtime"] = e["mtime"]
    return a


def test_rootfs_is_umocis(nitrovm, home, kernel, refs, work, tmp_path):
    out = tmp_path / "u.eif"
    check_ok(build(nitrovm, home, refs["oci"], out, kernel=kernel))
    entries = customer(out)
    ours = {n[len("rootfs/"):]: e for n, e in entries.items() if n.startswith("rootfs/")}
    unpacked = tmp_path / "umoci"
    oci_images.run(["umoci", "raw", "unpack", "--image", str(work / "exports" / "layout") + ":v1", unpacked])
    theirs = umoci_tree(unpacked)

    # Hard links: the names of one file share an inode number; the contents travel with the last name.
    groups = {}
    for name, e in ours.items():
        if stat.S_ISREG(e["mode"]) and e["nlink"] > 1:
            groups.setdefault(e["ino"], []).append(name)
    for names in groups.values():
        data = [ours[n]["data"] for n in names if ours[n]["data"]]
        for n in names:
            ours[n] = dict(ours[n], data=data[0] if data else b"")
    their_groups = {}
    for name, st in theirs.items():
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
            their_groups.setdefault(st.st_ino, []).append(name)
    assert sorted(map(sorted, groups.values())) == sorted(map(sorted, their_groups.values())) == [["app/hl1", "app/hl2"]]

    # What nitrovm adds (linuxkit's and nitro-cli's), and nothing else; nothing is missing.
    added = {"dev", "dev/pts", "dev/shm", "proc", "sys", "run", "tmp", "var", "etc/hosts", "etc/resolv.conf",
             "etc/mtab"}
    assert set(ours) - set(theirs) == added
    assert set(theirs) - set(ours) == set()
    assert "app/data/secret.txt" not in ours and "opq/old.txt" not in ours and "opq/sub" not in ours
    assert ours["etc/hosts"]["data"].startswith(b"127.0.0.1       localhost\n")
    assert ours["etc/mtab"]["data"] == b"/proc/mounts"
    for name, st in theirs.items():
        want = attrs_of_stat(st, os.path.join(unpacked, name))
        got = attrs_of_entry(ours[name], ours[name]["data"])
        assert got == want, f"{name}: nitrovm {got} != umoci {want}"


def test_signed_image(nitrovm, home, kernel, refs, tmp_path):
    """Signing reads the streamed ramdisk twice (measure, then write): the signed EIF's PCR0 is the unsigned
    one's and its signature checks out."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    oci_images.run(["openssl", "ecparam", "-name", "secp384r1", "-genkey", "-out", key])
    oci_images.run(["openssl", "req", "-new", "-x509", "-key", key, "-out", cert, "-days", "30", "-subj",
                    "/CN=nitrovm image test"])
    plain = json.loads(check_ok(build(nitrovm, home, refs["oci"], tmp_path / "u.eif", kernel=kernel)).stdout)
    signed = json.loads(check_ok(build(nitrovm, home, refs["oci"], tmp_path / "s.eif", "--signing-certificate",
                                       cert, "--private-key", key, kernel=kernel)).stdout)
    assert signed["Measurements"]["PCR0"] == plain["Measurements"]["PCR0"]
    assert "PCR8" in signed["Measurements"]
    d = json.loads(subprocess.run([nitrovm, "describe-eif", "--eif-path", str(tmp_path / "s.eif")],
                                  capture_output=True, text=True, check=True).stdout)
    assert d["IsSigned"] and d["SignatureCheck"] and d["CheckCRC"], d
    assert subprocess.run([nitrovm, "validate-eif", "--eif-path", str(tmp_path / "s.eif")],
                          capture_output=True).returncode == 0


def lib_file(soname):
    """The file the dynamic linker would load for soname (its cache, as dlopen reads it)."""
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.strip().startswith(soname + " ") and "=> " in line:
            return os.path.realpath(line.split("=> ")[1])
    raise AssertionError(f"{soname} is not in the linker's cache")


def test_missing_image_library_is_one_sentence(nitrovm, home, kernel, refs, registry, tmp_path):
    """libarchive and libcurl are loaded when an image is first read, not at every start: hidden from nitrovm
    (in a mount namespace of its own), the build that needs one fails with one sentence naming its package, and
    nitrovm itself still starts."""
    hide = " && ".join(f"mount --bind /dev/null {lib_file(so)}" for so in ("libarchive.so.13", "libcurl.so.4"))

    def hidden(*args):
        return subprocess.run(["unshare", "--mount", "sh", "-c", hide + ' && exec "$@"', "sh"] + list(args),
                              capture_output=True, text=True, env=build_env(home), timeout=120)

    assert hidden(nitrovm, "--version").returncode == 0
    for uri, soname, package in ((refs["oci-archive"], "libarchive.so.13", "libarchive13"),
                                 (registry.host + "/public/app:v1", "libcurl.so.4", "libcurl4")):
        p = hidden(nitrovm, "build-enclave", "--docker-uri", uri, "--output-file", str(tmp_path / "x.eif"),
                   "--kernel", kernel, "--cmdline", "console=ttyS0")
        lines = [line for line in p.stderr.splitlines() if line.startswith("[ E")]
        assert p.returncode != 0 and len(lines) == 1, p.stderr
        assert f"container images need {soname}" in lines[0] and f"install Debian's {package}" in lines[0], lines[0]
        assert not (tmp_path / "x.eif").exists()
