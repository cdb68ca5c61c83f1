# SPDX-License-Identifier: MIT
"""nitrovm selftest: boots the probe and says what this host's KVM can do."""
import os

from conftest import run, PROBE


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
    assert "can run enclaves:      no" in r.stdout
