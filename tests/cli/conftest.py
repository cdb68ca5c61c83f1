"""Shared fixtures for process-level tests: the nitrovm binary and small inputs."""
import os
import pathlib
import subprocess

import pytest

from fake_kernel import fake_bzimage  # noqa: F401 (tests import it from here)


def pytest_configure(config):
    """Enclaves this tier starts register in a directory of the session's own, not in the host's
    /run/nitro_enclaves (tests that are about those directories set their own)."""
    import tempfile
    base = tempfile.mkdtemp(prefix="nitrovm-tier-")
    os.environ.setdefault("NITRO_CLI_SOCKETS_PATH", os.path.join(base, "sockets"))
    os.environ.setdefault("NITROVM_RUN_DIR", os.path.join(base, "run"))

ROOT = pathlib.Path(__file__).resolve().parents[2]


def nitrovm_path():
    return os.environ.get("NITROVM", str(ROOT / "build" / "nitrovm"))


@pytest.fixture(scope="session")
def nitrovm():
    path = nitrovm_path()
    if not os.access(path, os.X_OK):
        pytest.fail(f"nitrovm binary not found at {path}: build it first (ninja -C build) or set NITROVM")
    return path


def run(*args, env=None, check=False, input=None):
    """Run nitrovm (or any program when args[0] is absolute) and return the CompletedProcess."""
    cmd = [str(a) for a in args]
    if not os.path.isabs(cmd[0]):
        cmd = [nitrovm_path()] + cmd
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    p = subprocess.run(cmd, capture_output=True, env=full_env, input=input, timeout=300)
    if check and p.returncode != 0:
        raise AssertionError(f"{cmd} exited {p.returncode}: {p.stderr.decode(errors='replace')}")
    return p


@pytest.fixture
def inputs(tmp_path):
    """A fake kernel and two ramdisks."""
    k = fake_bzimage(tmp_path / "bzImage")
    r0 = tmp_path / "r0.cpio"
    r0.write_bytes(b"ramdisk zero" * 100)
    r1 = tmp_path / "r1.cpio"
    r1.write_bytes(b"ramdisk one" * 333)
    return {"kernel": k, "r0": r0, "r1": r1, "dir": tmp_path}
