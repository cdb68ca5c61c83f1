# SPDX-License-Identifier: MIT
"""run-enclave on this host's KVM: the probe guest's report, the JSON, exits and teardown."""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import run
from guests import mini_bzimage, write_eif, empty_cpio

RUN_KEYS = ["EnclaveName", "EnclaveID", "ProcessID", "EnclaveCID", "NumberOfCPUs", "CPUIDs", "MemoryMiB"]


def split_json(stdout):
    """run-enclave prints the pretty JSON object first, then the console."""
    end = stdout.index("\n}\n") + 3
    return json.loads(stdout[:end]), stdout[end:]


@pytest.fixture(scope="module")
def probe_eif(nitrovm, probe, tmp_path_factory):
    d = tmp_path_factory.mktemp("probe")
    (d / "rd").mkdir()
    (d / "rd" / "hello").write_text("hello from the initrd\n")
    eif = d / "probe.eif"
    r = run([nitrovm, "build-enclave", "--kernel", probe, "--cmdline",
             "console=ttyS0 probe.virtio=0xd0002000:7", "--ramdisk-dir", str(d / "rd"),
             "--output-file", str(eif)])
    assert r.returncode == 0, r.stderr
    return str(eif)


@pytest.mark.parametrize("cpus", [1, 2])
def test_probe_passes(nitrovm, probe_eif, cpus):
    r = run([nitrovm, "run-enclave", "--foreground", "--eif-path", probe_eif, "--cpu-count", str(cpus), "--memory", "64",
             "--test-rng", "--enclave-cid", "21"])
    info, console = split_json(r.stdout)
    assert r.returncode == 0, r.stdout + r.stderr
    assert list(info) == RUN_KEYS
    assert info["EnclaveName"] == "probe"
    assert info["EnclaveID"].startswith("i-") and "-enc" in info["EnclaveID"]
    assert info["ProcessID"] > 0
    assert info["EnclaveCID"] == 21
    assert info["NumberOfCPUs"] == cpus and info["CPUIDs"] == list(range(cpus))
    assert info["MemoryMiB"] == 64
    assert "probe: result PASS" in console
    assert f"probe: smp: ok {cpus} cpu{'s' if cpus > 1 else ''} online" in console
    assert "probe: virtio-rng: ok" in console
    assert "probe: dsdt: ok" in console and "0xd0002000 irq 7" in console
    assert ": FAIL" not in console
    assert "enclave ran for" in r.stderr
    assert "Started enclave with enclave-cid: 21, memory: 64 MiB" in r.stderr


def test_json_is_pretty_like_serde(nitrovm, probe_eif):
    r = run([nitrovm, "run-enclave", "--foreground", "--eif-path", probe_eif, "--cpu-count", "1", "--memory", "64",
             "--enclave-name", "named", "--test-rng"])
    assert r.returncode == 0, r.stderr
    head = r.stdout.splitlines()
    assert head[0] == "{" and head[1] == '  "EnclaveName": "named",'
    assert '  "CPUIDs": [' in head and "    0" in head


def test_no_acpi_declares_devices_on_cmdline(nitrovm, probe_eif):
    r = run([nitrovm, "run-enclave", "--foreground", "--eif-path", probe_eif, "--cpu-count", "1", "--memory", "64",
             "--test-rng", "--no-acpi"])
    assert r.returncode == 1  # the probe insists on ACPI unless told probe.acpi=0
    assert "virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6 " \
           "virtio_mmio.device=4K@0xd0002000:7" in r.stdout
    assert "probe: virtio-rng: ok" in r.stdout  # found from the command line alone


def mini_eif(tmp_path, action, **kw):
    return write_eif(str(tmp_path / f"{action}.eif"), mini_bzimage(action, **kw), ramdisks=[empty_cpio()])


@pytest.mark.parametrize("code", [0, 7, 42])
def test_debug_exit_code_is_exit_status(nitrovm, tmp_path, code):
    eif = mini_eif(tmp_path, "exit", code=code, message="bye\n")
    r = run([nitrovm, "run-enclave", "--foreground", "--eif-path", eif, "--cpu-count", "1", "--memory", "64"])
    assert r.returncode == code, r.stderr
    assert split_json(r.stdout)[1] == "bye\n"
    assert "enclave ran for" in r.stderr


@pytest.mark.parametrize("action,why", [("reset", "i8042"), ("poweroff", "powered off")])
def test_orderly_ends_exit_zero(nitrovm, tmp_path, action, why):
    eif = mini_eif(tmp_path, action)
    r = run([nitrovm, "run-enclave", "--foreground", "--eif-path", eif, "--cpu-count", "2", "--memory", "64"])
    assert r.returncode == 0, r.stderr
    assert why in r.stderr
    ran = [l for l in r.stderr.splitlines() if l.startswith("enclave ran for ")]
    assert len(ran) == 1 and float(ran[0].split()[3]) < 30


def test_triple_fault_is_an_error_with_registers(nitrovm, tmp_path):
    eif = mini_eif(tmp_path, "triple")
    r = run([nitrovm, "run-enclave", "--foreground", "--eif-path", eif, "--cpu-count", "1", "--memory", "64"])
    assert r.returncode == 36, r.stderr
    assert "triple fault" in r.stderr
    if os.path.exists("/sys/module/kvm_amd"):
        # AMD's KVM INITs the vCPU at the shutdown intercept: the state at the fault is gone, and nitrovm says so
        # instead of printing the reset vector.
        assert "registers: not available: this host's KVM reset the vCPU" in r.stderr, r.stderr
        assert "rip 000000000000fff0" not in r.stderr
    else:
        assert "rip " in r.stderr and "cr3 0000000000009000" in r.stderr, r.stderr
    assert r.stderr.rstrip().splitlines()[-1].startswith("[ E36 ] The enclave stopped abnormally")


def test_console_input_reaches_the_guest(nitrovm, tmp_path):
    eif = mini_eif(tmp_path, "echo", message="ready\n")
    r = run([nitrovm, "run-enclave", "--foreground", "--eif-path", eif, "--cpu-count", "1", "--memory", "64"],
            input="abc q")
    assert r.returncode == 0, r.stderr
    assert split_json(r.stdout)[1] == "ready\nabc q"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_tears_down(nitrovm, tmp_path, sig):
    eif = mini_eif(tmp_path, "hang", message="hanging\n")
    p = subprocess.Popen([nitrovm, "run-enclave", "--foreground", "--eif-path", eif, "--cpu-count", "2", "--memory", "64"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 30
        line = ""
        while "hanging" not in line and time.time() < deadline:
            line = p.stdout.readline()
        assert "hanging" in line
        fds_before = len(os.listdir(f"/proc/{p.pid}/fd"))
        assert fds_before > 3
        p.send_signal(sig)
        out, err = p.communicate(timeout=10)
    finally:
        p.kill()
    assert p.returncode == 0, err
    assert "terminated on" in err
    assert not os.path.exists(f"/proc/{p.pid}")
