# SPDX-License-Identifier: MIT
"""nitrovm cache path|prune, and --boot-path's refusals (the host boot path itself is tested in tests/unit
test_kernel and tests/e2e/test_boot_path.py)."""
import os
import time

from conftest import run
from clicheck import error_line


def entry(d, name, size, age):
    path = d / name
    path.write_bytes(b"\0" * size)
    t = time.time() - age
    os.utime(path, (t, t))
    return path


def test_cache_path_follows_nitrovm_cache(tmp_path):
    p = run("cache", "path", env={"NITROVM_CACHE": str(tmp_path)}, check=True)
    assert p.stdout.decode().strip() == str(tmp_path)  # kernels in vmlinux/, image blobs in blobs/


def test_relative_nitrovm_cache_refused(tmp_path):
    # A relative root would name another directory from every working directory; it was once silently ignored.
    for args in (("cache", "path"), ("describe-enclaves",)):
        p = run(*args, env={"NITROVM_CACHE": "relative/cache"})
        line = error_line(p.stderr, code=3, returncode=p.returncode)
        assert "$NITROVM_CACHE=relative/cache is not an absolute path" in line


def test_cache_prune_keeps_the_most_recently_used(tmp_path):
    d = tmp_path / "vmlinux"
    d.mkdir()
    old = entry(d, "a" * 64, 3 << 20, 300)
    new = entry(d, "b" * 64, 3 << 20, 10)
    other = entry(d, "not-a-kernel", 100, 500)
    p = run("cache", "prune", "--keep", "4M", env={"NITROVM_CACHE": str(tmp_path)}, check=True)
    assert "Removed 1 cached kernel (3 MiB)" in p.stdout.decode()
    assert not old.exists() and new.exists() and other.exists()
    p = run("cache", "prune", env={"NITROVM_CACHE": str(tmp_path)}, check=True)
    assert "Removed 1 cached kernel (3 MiB)" in p.stdout.decode()
    assert not new.exists() and other.exists(), "prune removes cached kernels only"


def test_cache_prune_of_no_cache(tmp_path):
    p = run("cache", "prune", env={"NITROVM_CACHE": str(tmp_path / "none")}, check=True)
    assert "Removed 0 cached kernels" in p.stdout.decode()


def test_cache_refusals(tmp_path):
    for args in (("cache",), ("cache", "list"), ("cache", "prune", "--keep", "lots")):
        p = run(*args, env={"NITROVM_CACHE": str(tmp_path)})
        error_line(p.stderr, code=3, returncode=p.returncode)


def test_boot_path_refused(tmp_path):
    p = run("run-enclave", "--boot-path", "guest", "--eif-path", tmp_path / "x.eif", "--cpu-count", "1",
            "--memory", "64")
    assert "expected host" in error_line(p.stderr, code=3, returncode=p.returncode)
    p = run("-M", "nitro-enclave,boot-path=both", "-kernel", tmp_path / "x.eif")
    assert "boot path 'both'" in error_line(p.stderr, code=3, returncode=p.returncode)
