"""Process-level tests of build-enclave, describe-eif, validate-eif, pcr, --help and --version."""
import hashlib
import json
import os
import pathlib
import shutil
import struct
import subprocess
import tempfile
import zlib

import pytest

from clicheck import error_line
from conftest import nitrovm_path, run

ZERO = bytes(48)


def pcr(content: bytes) -> str:
    return hashlib.sha384(ZERO + hashlib.sha384(content).digest()).hexdigest()


def build(inputs, out, *extra, env=None, cmdline="console=ttyS0 reboot=k"):
    return run("build-enclave", "--kernel", inputs["kernel"], "--cmdline", cmdline,
               "--ramdisk", inputs["r0"], "--ramdisk", inputs["r1"], "--output-file", out, *extra, env=env)


def one_error_line(p, code):
    return error_line(p.stderr, code=code, returncode=p.returncode)


def test_build_prints_measurements_and_matches_independent_pcrs(nitrovm, inputs, tmp_path):
    out = tmp_path / "x.eif"
    p = build(inputs, out)
    assert p.returncode == 0, p.stderr
    assert b"Start building the Enclave Image..." in p.stderr
    assert b"Enclave Image successfully created." in p.stderr
    m = json.loads(p.stdout)["Measurements"]
    assert list(m) == ["HashAlgorithm", "PCR0", "PCR1", "PCR2"]
    assert m["HashAlgorithm"] == "Sha384 { ... }"
    k = inputs["kernel"].read_bytes()
    c = b"console=ttyS0 reboot=k"
    r0, r1 = inputs["r0"].read_bytes(), inputs["r1"].read_bytes()
    assert m["PCR0"] == pcr(k + c + r0 + r1)
    assert m["PCR1"] == pcr(k + c + r0)
    assert m["PCR2"] == pcr(r1)
    # serde_json's pretty layout: two-space indent, "key": value
    assert p.stdout.decode().startswith('{\n  "Measurements": {\n    "HashAlgorithm": "Sha384 { ... }",\n')


def test_file_layout_and_crc(nitrovm, inputs, tmp_path):
    out = tmp_path / "x.eif"
    assert build(inputs, out).returncode == 0
    data = out.read_bytes()
    assert data[:4] == b".eif"
    version, flags, mem, cpus, _, nsec = struct.unpack(">HHQQHH", data[4:0x1c])
    assert (version, flags, mem, cpus, nsec) == (4, 0, 1 << 30, 2, 5)
    types = []
    off = 548
    for i in range(nsec):
        table_off, = struct.unpack(">Q", data[0x1c + 8 * i:0x24 + 8 * i])
        table_size, = struct.unpack(">Q", data[0x11c + 8 * i:0x124 + 8 * i])
        assert table_off == off
        t, f, size = struct.unpack(">HHQ", data[off:off + 12])
        assert f == 0 and size == table_size
        types.append(t)
        off += 12 + size
    assert off == len(data)
    assert types == [1, 2, 5, 3, 3]  # kernel, cmdline, metadata, ramdisks
    crc = zlib.crc32(data[:0x220] + data[0x224:])
    assert struct.unpack(">I", data[0x220:0x224])[0] == crc


def test_describe_eif(nitrovm, inputs, tmp_path):
    out = tmp_path / "hello.eif"
    meta = tmp_path / "meta.json"
    meta.write_text('{"team": "enclaves", "build": 7}')
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    p = build(inputs, out, "--name", "hello-img", "--version", "2.1", "--metadata", meta, env=env)
    assert p.returncode == 0, p.stderr
    built = json.loads(p.stdout)["Measurements"]
    d = run("describe-eif", "--eif-path", out)
    assert d.returncode == 0, d.stderr
    j = json.loads(d.stdout)
    assert list(j) == ["EifVersion", "Measurements", "IsSigned", "CheckCRC", "ImageName", "ImageVersion",
                       "Metadata"]
    assert j["EifVersion"] == 4
    assert j["Measurements"] == built
    assert j["IsSigned"] is False and j["CheckCRC"] is True
    assert j["ImageName"] == "hello-img" and j["ImageVersion"] == "2.1"
    md = j["Metadata"]
    # The custom keys follow, sorted, as nitro-cli's serde_json::Value holds them (test_custom_metadata.py).
    assert list(md) == ["BuildTime", "BuildTool", "BuildToolVersion", "OperatingSystem", "KernelVersion",
                        "DockerInfo", "build", "team"]
    assert md["BuildTime"] == "2023-11-14T22:13:20+00:00"
    assert md["BuildTool"] == "nitrovm"
    assert md["OperatingSystem"] == "Linux" and md["KernelVersion"] == "6.12.0"
    assert md["DockerInfo"] is None
    assert md["team"] == "enclaves" and md["build"] == 7


def test_reproducible_with_source_date_epoch(nitrovm, inputs, tmp_path):
    env = {"SOURCE_DATE_EPOCH": "1234567890"}
    a, b = tmp_path / "a.eif", tmp_path / "b.eif"
    assert build(inputs, a, "--name", "same", env=env).returncode == 0
    assert build(inputs, b, "--name", "same", env=env).returncode == 0
    assert a.read_bytes() == b.read_bytes()


def test_cmdline_is_trimmed_and_file_form_agrees(nitrovm, inputs, tmp_path):
    f = tmp_path / "cmdline"
    f.write_text("console=ttyS0 reboot=k\n")
    a, b = tmp_path / "a.eif", tmp_path / "b.eif"
    env = {"SOURCE_DATE_EPOCH": "0"}
    pa = build(inputs, a, "--name", "n", env=env, cmdline="  console=ttyS0 reboot=k\n")
    pb = run("build-enclave", "--kernel", inputs["kernel"], "--cmdline-file", f, "--ramdisk", inputs["r0"],
             "--ramdisk", inputs["r1"], "--output-file", b, "--name", "n", env=env)
    assert pa.returncode == 0 and pb.returncode == 0
    assert a.read_bytes() == b.read_bytes()
    # stored without a NUL: the cmdline section (index 1) is exactly the trimmed text
    data = a.read_bytes()
    assert struct.unpack(">Q", data[0x124:0x12c])[0] == len(b"console=ttyS0 reboot=k")


def test_arm64_flag(nitrovm, inputs, tmp_path):
    img = bytearray(4096)
    img[0x38:0x3c] = b"ARM\x64"
    k = tmp_path / "Image"
    k.write_bytes(bytes(img))
    out = tmp_path / "arm.eif"
    p = run("build-enclave", "--kernel", k, "--cmdline", "console=ttyS0", "--ramdisk", inputs["r0"],
            "--output-file", out)
    assert p.returncode == 0, p.stderr
    assert struct.unpack(">H", out.read_bytes()[6:8])[0] == 1
    # --arch overrides detection
    out2 = tmp_path / "x86.eif"
    p = run("build-enclave", "--kernel", k, "--cmdline", "console=ttyS0", "--ramdisk", inputs["r0"],
            "--output-file", out2, "--arch", "x86_64")
    assert p.returncode == 0
    assert struct.unpack(">H", out2.read_bytes()[6:8])[0] == 0


def test_unknown_kernel_needs_arch(nitrovm, inputs, tmp_path):
    k = tmp_path / "notakernel"
    k.write_bytes(b"hello" * 100)
    out = tmp_path / "x.eif"
    p = run("build-enclave", "--kernel", k, "--cmdline", "x", "--ramdisk", inputs["r0"], "--output-file", out)
    line = one_error_line(p, 48)
    assert "neither an x86_64 bzImage nor an arm64 Image" in line
    assert not out.exists()


@pytest.mark.parametrize("args,code,fragment", [
    (["--cmdline", "x", "--ramdisk", "R0", "--output-file", "OUT"], 1, "needs --kernel"),
    (["--kernel", "K", "--ramdisk", "R0", "--output-file", "OUT"], 1, "--cmdline"),
    (["--kernel", "K", "--cmdline", "x", "--output-file", "OUT"], 1, "at least one --ramdisk"),
    (["--kernel", "K", "--cmdline", "x", "--cmdline-file", "K", "--ramdisk", "R0", "--output-file", "OUT"], 2,
     "not both"),
    (["--kernel", "K", "--cmdline", "x", "--ramdisk", "R0", "--output-file", "OUT", "--private-key", "K"], 1,
     "both --signing-certificate and --private-key"),
    (["--kernel", "K", "--cmdline", "x", "--ramdisk", "R0", "--output-file", "OUT", "--bogus"], 3,
     "unknown option '--bogus'"),
    (["--kernel", "K", "--cmdline", "x", "--ramdisk", "/nonexistent/r", "--output-file", "OUT"], 19,
     "/nonexistent/r"),
    (["--kernel", "/nonexistent/k", "--cmdline", "x", "--ramdisk", "R0", "--output-file", "OUT"], 19,
     "/nonexistent/k"),
    (["--kernel", "K", "--cmdline", "x", "--ramdisk", "R0", "--output-file", "/nonexistent-dir/x.eif"], 19,
     "/nonexistent-dir/x.eif"),
    (["--docker-uri", "hello:latest", "--ramdisk", "R0", "--output-file", "OUT"], 2,
     "builds both ramdisks from the image"),
])
def test_build_bad_input(nitrovm, inputs, tmp_path, args, code, fragment):
    out = tmp_path / "out.eif"
    subst = {"K": str(inputs["kernel"]), "R0": str(inputs["r0"]), "OUT": str(out)}
    p = run("build-enclave", *[subst.get(a, a) for a in args])
    line = one_error_line(p, code)
    assert fragment in line, line
    assert not out.exists()
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".out.eif")], "temporary file left behind"


def test_pcr_input(nitrovm, tmp_path):
    f = tmp_path / "cmdline"
    f.write_bytes(b"reboot=k panic=30 pci=off nomodules console=ttyS0 i8042.noaux i8042.nomux i8042.nopnp "
                  b"i8042.dumbkbd random.trust_cpu=on\n")
    p = run("pcr", "--input", f)
    assert p.returncode == 0
    # Reference B.3: nitro-cli pcr --input blobs/x86_64/cmdline
    assert json.loads(p.stdout) == {"PCR": "2bea5fbfc02135930f51627fef53ee51e428f9dcd8b1f9e9485d44261f39b944"
                                           "dc1956164bb87adf1a84558ec657c437"}
    e = tmp_path / "empty"
    e.write_bytes(b"")
    p = run("pcr", "--input", e)
    assert json.loads(p.stdout)["PCR"] == ("21b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c"
                                           "10edb30948c90ba67310f7b964fc500a")


def test_pcr_bad_input(nitrovm, tmp_path):
    assert "exactly one" in one_error_line(run("pcr"), 1)
    assert "/nonexistent" in one_error_line(run("pcr", "--input", "/nonexistent"), 19)
    assert "exactly one" in one_error_line(run("pcr", "--input", "a", "--signing-certificate", "b"), 2)


def test_validate_eif_accepts_good_image(nitrovm, inputs, tmp_path):
    out = tmp_path / "x.eif"
    assert build(inputs, out).returncode == 0
    p = run("validate-eif", "--eif-path", out)
    assert p.returncode == 0, p.stderr
    j = json.loads(p.stdout)
    assert j["Valid"] is True and j["CheckCRC"] is True and j["Sections"] == 5


def test_describe_reports_bad_crc_but_validate_fails(nitrovm, inputs, tmp_path):
    out = tmp_path / "x.eif"
    assert build(inputs, out).returncode == 0
    data = bytearray(out.read_bytes())
    data[-1] ^= 0xFF
    out.write_bytes(bytes(data))
    d = run("describe-eif", "--eif-path", out)
    assert d.returncode == 0
    assert json.loads(d.stdout)["CheckCRC"] is False
    assert b"does not match" in d.stderr
    line = one_error_line(run("validate-eif", "--eif-path", out), 35)
    assert "CRC" in line


def test_help_and_version(nitrovm):
    p = run("--version")
    assert p.returncode == 0 and p.stdout.decode().startswith("nitrovm ")
    p = run("--help")
    assert p.returncode == 0
    for cmd in ("build-enclave", "describe-eif", "validate-eif", "pcr", "sign-eif"):
        assert cmd.encode() in p.stdout
        h = run(cmd, "--help")
        assert h.returncode == 0, cmd
        assert h.stdout.startswith(b"Usage: nitrovm " + cmd.encode()), cmd
    assert "unknown command 'frobnicate'" in one_error_line(run("frobnicate"), 14)
    assert b"QEMU-style front end" in p.stdout
    q = run("-M", "nitro-enclave", "-help")
    assert q.returncode == 0 and q.stdout.startswith(b"Usage: nitrovm -M nitro-enclave"), q.stderr
    for opt in (b"acpi=on|off", b"parent-id=", b"-accel nitro", b"--forward-listen"):
        assert opt in q.stdout


def run_as_nobody(*args):
    """Run nitrovm as uid/gid 65534 when we are root, for whom no mode bit makes a file unreadable."""
    if os.geteuid() != 0:
        return run(*args)
    def drop():
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
    cmd = [nitrovm_path()] + [str(a) for a in args]
    return subprocess.run(cmd, capture_output=True, preexec_fn=drop, timeout=60)


@pytest.fixture
def unopenable():
    """A missing file, a directory and a file its reader may not read, in a directory anyone may enter."""
    base = pathlib.Path(tempfile.mkdtemp(prefix="nitrovm-unopenable-"))
    base.chmod(0o755)
    (base / "dir.eif").mkdir()
    unreadable = base / "unreadable.eif"
    unreadable.write_bytes(b"EIF" * 100)
    unreadable.chmod(0)
    yield {"missing": base / "missing.eif", "directory": base / "dir.eif", "unreadable": unreadable}
    shutil.rmtree(base)


UNOPENABLE_WHY = {"missing": "No such file or directory", "directory": "is a directory",
                  "unreadable": "Permission denied"}


@pytest.mark.parametrize("kind", list(UNOPENABLE_WHY))
def test_describe_eif_on_an_unopenable_file_is_nitro_clis_e35(nitrovm, unopenable, kind):
    """nitro-cli's describe-eif fails inside its EIF reader, whose every failure it reports as E35
    (EifParsingError), opening the file included; the sentence still says what is wrong with the file."""
    path = unopenable[kind]
    line = one_error_line(run_as_nobody("describe-eif", "--eif-path", path), 35)
    assert UNOPENABLE_WHY[kind] in line and str(path) in line, line


@pytest.mark.parametrize("kind", list(UNOPENABLE_WHY))
def test_validate_eif_on_an_unopenable_file_is_a_file_error(nitrovm, unopenable, kind):
    """validate-eif checks what a launch checks, and nitro-cli's run-enclave opens the image itself: E19."""
    path = unopenable[kind]
    line = one_error_line(run_as_nobody("validate-eif", "--eif-path", path), 19)
    assert UNOPENABLE_WHY[kind] in line and str(path) in line, line


def test_source_date_epoch_must_be_a_number(nitrovm, inputs, tmp_path):
    out = tmp_path / "x.eif"
    for bad in ("+5", " 5", "4294967296", "soon"):
        p = build(inputs, out, env={"SOURCE_DATE_EPOCH": bad})
        assert "SOURCE_DATE_EPOCH" in one_error_line(p, 48)
        assert not out.exists()
