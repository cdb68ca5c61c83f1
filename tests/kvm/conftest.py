# SPDX-License-Identifier: MIT
"""Fixtures of the KVM tier: the nitrovm binary, the probe guest, and a check that /dev/kvm is usable.

The tier fails loudly where /dev/kvm is not usable: run it through tests/lib/kvm_tier.py, which runs it inside a
nested outer boot on such a host.
"""
import os
import pathlib
import subprocess

import pytest


def pytest_configure(config):
    """Enclaves this tier starts register in a directory of the session's own, not in the host's
    /run/nitro_enclaves (tests that are about those directories set their own)."""
    import tempfile
    base = tempfile.mkdtemp(prefix="nitrovm-tier-")
    os.environ.setdefault("NITRO_CLI_SOCKETS_PATH", os.path.join(base, "sockets"))
    os.environ.setdefault("NITROVM_RUN_DIR", os.path.join(base, "run"))

from clicheck import error_line

REPO = pathlib.Path(__file__).resolve().parents[2]
NITROVM = os.environ.get("NITROVM", str(REPO / "build" / "nitrovm"))
PROBE = os.environ.get("NITROVM_PROBE", str(REPO / "build" / "guest" / "probe" / "probe.bzImage"))
TIMEOUT = 60


def kvm_usable():
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
    except OSError as e:
        return str(e)
    os.close(fd)
    return None


@pytest.fixture(scope="session", autouse=True)
def kvm_available():
    why = kvm_usable()
    if why:
        pytest.fail(f"the KVM tier needs a usable /dev/kvm ({why}); tests/lib/kvm_tier.py runs it in a nested outer "
                    "boot where there is none")


@pytest.fixture(scope="session")
def nitrovm():
    assert os.access(NITROVM, os.X_OK), f"{NITROVM} is not built (ninja -C build)"
    return NITROVM


@pytest.fixture(scope="session")
def probe():
    assert os.path.exists(PROBE), f"{PROBE} is not built (ninja -C build)"
    return PROBE


@pytest.fixture(scope="module")
def probe_eif(nitrovm, probe, tmp_path_factory):
    """probe_eif(name, cmdline): the probe packed by build-enclave as <name>.eif, with "console=ttyS0 " + cmdline
    and a ramdisk of one small file; returns its path."""
    d = tmp_path_factory.mktemp("probe-eif")
    (d / "rd").mkdir()
    (d / "rd" / "x").write_text("x\n")

    def build(name, cmdline):
        eif = d / f"{name}.eif"
        r = run([nitrovm, "build-enclave", "--kernel", probe, "--cmdline", "console=ttyS0 " + cmdline,
                 "--ramdisk-dir", str(d / "rd"), "--output-file", str(eif)])
        assert r.returncode == 0, r.stderr
        return str(eif)
    return build


def run(args, env=None, input=None, timeout=TIMEOUT):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run(args, capture_output=True, text=True, env=e, input=input, timeout=timeout)


def one_error_line(stderr):
    """The stderr of a refused launch: exactly one `[ Exx ] sentence` line (clicheck.error_line)."""
    return error_line(stderr)
