# SPDX-License-Identifier: MIT
"""vsock services of run-enclave on this host's KVM: the heartbeat's timeout (E36), --no-heartbeat, and the
debug console read through vsock CID 0 port CID + 10000 with --attach-console.

The probe guest does not drive the vsock device yet (guest/probe/vsock.c is still to come), so the heartbeat's
happy path and the echo round trips are covered at the device tier (tests/device/test_virtio_vsock.c)."""
import time

from conftest import run
from guests import mini_bzimage, write_eif, empty_cpio


def mini_eif(tmp_path, action, **kw):
    return write_eif(str(tmp_path / f"{action}.eif"), mini_bzimage(action, **kw), ramdisks=[empty_cpio()])


def test_missing_heartbeat_is_e36(nitrovm, tmp_path):
    eif = mini_eif(tmp_path, "hang")
    t0 = time.monotonic()
    r = run([nitrovm, "run-enclave", "--eif-path", eif, "--cpu-count", "1", "--memory", "64"],
            env={"NITROVM_HEARTBEAT_TIMEOUT_MS": "300"})
    assert r.returncode == 36, r.stderr
    assert time.monotonic() - t0 < 20
    last = r.stderr.rstrip().splitlines()[-1]
    assert last.startswith("[ E36 ] Waiting on enclave to boot failed with error VsockTimeoutError"), r.stderr
    assert "mini guest up" in r.stdout


def test_no_heartbeat_leaves_the_enclave_alone(nitrovm, tmp_path):
    eif = mini_eif(tmp_path, "exit", code=0, message="bye\n")
    # The guest takes a moment to exit; with --no-heartbeat no timer runs at all, so even 1 ms cannot fire.
    r = run([nitrovm, "run-enclave", "--eif-path", eif, "--cpu-count", "1", "--memory", "64", "--no-heartbeat"],
            env={"NITROVM_HEARTBEAT_TIMEOUT_MS": "1"})
    assert r.returncode == 0, r.stderr
    assert "E36" not in r.stderr


def test_attach_console_reads_the_vsock_console(nitrovm, tmp_path):
    eif = mini_eif(tmp_path, "exit", code=0, message="through the vsock console\n")
    r = run([nitrovm, "run-enclave", "--eif-path", eif, "--cpu-count", "1", "--memory", "64", "--enclave-cid", "42",
             "--attach-console"])
    assert r.returncode == 0, r.stderr
    # Exactly once: the serial console is not also copied straight to stdout.
    assert r.stdout.count("through the vsock console") == 1, r.stdout
