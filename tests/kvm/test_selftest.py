# SPDX-License-Identifier: MIT
"""nitrovm selftest: boots the probe and says what this host's KVM can do."""
import os
import subprocess

from conftest import run, PROBE, TIMEOUT


def test_selftest_reports(nitrovm, probe):
    r = run([nitrovm, "selftest"], env={"NITROVM_PROBE": PROBE})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "probe guest:           PASS" in r.stdout
    assert "can run enclaves:      yes" in r.stdout
    if os.path.exists("/sys/module/kvm_pvm"):
        assert "PVM" in r.stdout and "can run stock kernels: no" in r.stdout
    else:
        assert "can run stock kernels: yes" in r.stdout


def test_selftest_without_kvm(nitrovm, probe):
    r = run([nitrovm, "selftest"], env={"NITROVM_PROBE": PROBE, "NITROVM_KVM_DEVICE": "/nonexistent"})
    assert r.returncode == 1
    assert "can run enclaves:      no (no usable KVM device)" in r.stdout
    # No device is not PVM, whatever modules are loaded; and the line says where to go instead.
    assert "KVM flavour:           none" in r.stdout and "PVM" not in r.stdout, r.stdout
    assert "scripts/nested -- build/nitrovm selftest" in r.stdout


def test_selftest_uses_the_built_in_probe(nitrovm, tmp_path):
    """The probe is part of the binary: a copy of nitrovm anywhere, without $NITROVM_PROBE, still boots it."""
    copy = tmp_path / "nitrovm"
    copy.write_bytes(open(nitrovm, "rb").read())
    copy.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "NITROVM_PROBE"}
    r = subprocess.run([str(copy), "selftest"], capture_output=True, text=True, env=env, timeout=TIMEOUT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "probe guest:           PASS" in r.stdout
