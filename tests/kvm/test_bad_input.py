# SPDX-License-Identifier: MIT
"""Bad input: one clear sentence on stderr, a non-zero exit, and no enclave started."""
import os
import pathlib
import shutil
import tempfile

import pytest

from conftest import run, one_error_line
from guests import mini_bzimage, write_eif, empty_cpio


@pytest.fixture
def mini(tmp_path):
    return write_eif(str(tmp_path / "mini.eif"), mini_bzimage("exit"), ramdisks=[empty_cpio()])


def run_enclave(nitrovm, eif, *extra, env=None, memory="64", cpus="1"):
    return run([nitrovm, "run-enclave", "--eif-path", eif, "--cpu-count", cpus, "--memory", memory, *extra],
               env=env)


def test_no_kvm_device(nitrovm, mini):
    r = run_enclave(nitrovm, mini, env={"NITROVM_KVM_DEVICE": "/nonexistent/kvm"})
    assert r.returncode == 19
    assert "/nonexistent/kvm does not exist" in one_error_line(r.stderr)
    assert r.stdout == ""


def test_kvm_device_not_kvm(nitrovm, mini):
    r = run_enclave(nitrovm, mini, env={"NITROVM_KVM_DEVICE": "/dev/null"})
    assert r.returncode == 19
    assert "is not a KVM device" in one_error_line(r.stderr)


def test_kvm_no_permission(nitrovm):
    """A device node we may not open; as root, drop to nobody (root opens anything)."""
    with tempfile.TemporaryDirectory() as t:  # pytest's tmp dirs are private to root; nobody must reach it
        check_no_permission(nitrovm, pathlib.Path(t))


def check_no_permission(nitrovm, d):
    d.chmod(0o755)
    eif = write_eif(str(d / "mini.eif"), mini_bzimage("exit"), ramdisks=[empty_cpio()])
    os.chmod(eif, 0o644)
    dev = d / "kvm"
    dev.write_text("")
    dev.chmod(0)
    args = [nitrovm, "run-enclave", "--eif-path", eif, "--cpu-count", "1", "--memory", "64"]
    if os.geteuid() == 0:
        assert shutil.which("setpriv"), "setpriv (util-linux) is needed to drop root's privileges"
        args = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"] + args
    # nobody cannot use this session's (root's) sockets directory: let it fall back to its own.
    r = run(args, env={"NITROVM_KVM_DEVICE": str(dev), "NITRO_CLI_SOCKETS_PATH": "", "NITROVM_RUN_DIR": ""})
    assert r.returncode == 19, r.stderr
    assert f"no permission to open {dev}" in one_error_line(r.stderr)


def test_kernel_not_a_bzimage(nitrovm, tmp_path):
    eif = write_eif(str(tmp_path / "elf.eif"), b"\x7fELF" + b"\0" * 4096, ramdisks=[empty_cpio()])
    r = run_enclave(nitrovm, eif)
    assert r.returncode == 35
    assert "not a bzImage" in one_error_line(r.stderr.replace("Start allocating memory...\n", ""))


def test_old_boot_protocol(nitrovm, tmp_path):
    eif = write_eif(str(tmp_path / "old.eif"), mini_bzimage("exit", version=0x020A), ramdisks=[empty_cpio()])
    r = run_enclave(nitrovm, eif)
    assert r.returncode == 35
    line = one_error_line(r.stderr.replace("Start allocating memory...\n", ""))
    assert "boot protocol 2.10" in line and "2.12" in line


def test_memory_below_4x_eif(nitrovm, tmp_path):
    eif = write_eif(str(tmp_path / "big.eif"), mini_bzimage("exit"), ramdisks=[os.urandom(20 << 20)])
    r = run_enclave(nitrovm, eif, memory="64")
    assert r.returncode == 26
    assert one_error_line(r.stderr) == ("[ E26 ] User provided `memory` is 64 MB, but based on the EIF file size, "
                                        "the minimum memory should be 84 MB")


@pytest.mark.parametrize("memory,code,text", [("32", 26, "at least 64"), ("65", 3, "multiple of 2"),
                                               ("0", 26, "minimum memory")])
def test_memory_rules(nitrovm, mini, memory, code, text):
    r = run_enclave(nitrovm, mini, memory=memory)
    assert r.returncode == code
    assert text in one_error_line(r.stderr)


def test_zero_cpus(nitrovm, mini):
    r = run_enclave(nitrovm, mini, cpus="0")
    assert r.returncode == 3
    assert "at least one vCPU" in one_error_line(r.stderr)


@pytest.mark.parametrize("cid", ["1", "3", "4294967295", "99999999999"])
def test_reserved_cid(nitrovm, mini, cid):
    r = run_enclave(nitrovm, mini, "--enclave-cid", cid)
    assert r.returncode == 3
    assert "--enclave-cid" in one_error_line(r.stderr)


def test_missing_eif_file(nitrovm, tmp_path):
    r = run_enclave(nitrovm, str(tmp_path / "nope.eif"))
    assert r.returncode == 19
    assert "nope.eif" in one_error_line(r.stderr)


def test_not_an_eif(nitrovm, tmp_path):
    f = tmp_path / "junk.eif"
    f.write_bytes(b"junk" * 100)
    r = run_enclave(nitrovm, str(f))
    assert r.returncode == 35
    assert "EIF" in one_error_line(r.stderr.replace("Start allocating memory...\n", ""))


def test_unknown_run_enclave_option(nitrovm, mini):
    r = run_enclave(nitrovm, mini, "--frobnicate")
    assert r.returncode == 3
    assert "--frobnicate" in one_error_line(r.stderr)


@pytest.mark.parametrize("args,text", [
    (["-M", "pc"], "unknown machine type 'pc'"),
    (["-M", "nitro-enclave,bogus=1"], "unknown nitro-enclave machine option 'bogus'"),
    (["-M", "nitro-enclave", "-smp", "0"], "-smp cpus=0: CPU topology parameters must be greater than zero"),
    (["-M", "nitro-enclave", "-m", "lots"], "-m 'lots'"),
    (["-M", "nitro-enclave", "-usb"], "-usb: an enclave has no USB"),
    (["-M", "nitro-enclave", "-frobnicate"], "unknown option '-frobnicate'"),
    (["-M", "nitro-enclave"], "-kernel is required"),
])
def test_qemu_front_end_rejects(nitrovm, mini, args, text):
    extra = ["-kernel", mini] if "-kernel" not in text else []
    r = run([nitrovm, *args, *extra])
    assert r.returncode != 0
    assert text in one_error_line(r.stderr)


def test_qemu_smp_zero_with_kernel(nitrovm, mini):
    r = run([nitrovm, "-M", "nitro-enclave", "-kernel", mini, "-smp", "0"])
    assert r.returncode == 3
    assert "must be greater than zero" in one_error_line(r.stderr)
