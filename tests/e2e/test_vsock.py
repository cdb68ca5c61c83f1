# SPDX-License-Identifier: MIT
"""e2e: the enclave's vsock through every host bridge, with a real Linux enclave (Debian's 6.12 cloud kernel,
nitrovm's init, the virtio vsock modules), in one nested boot.

The image is a `build-enclave --rootfs` image whose app (APP below) runs the static tests/e2e/vsock_echo.c:
an AF_VSOCK echo server on enclave port 5000 for the host's connections, and three clients to the parent (CID 3):
port 5001 (--forward-connect to a TCP echo on the outer guest), 5002 (--vsock-uds: the Unix echo at PATH_5002)
and 5003 (--forward-vsock: an AF_VSOCK echo on the outer guest's CID 1, through vsock_loopback).  The host side
(vsock_scenario.py) waits for "enclave booted" from the heartbeat, then reaches port 5000 through
--forward-listen TCP (100 connections at once), Firecracker's CONNECT on --vsock-uds, and --forward-listen on
AF_VSOCK.  Every connection carries its own pseudo-random stream both ways, compared byte for byte, and
half-closes in each direction.  Then the app exits 0, the init reboots and nitrovm exits 0.  Both sides bound
every wait (APP_LIMIT, vsock_scenario.py), so a failure ends the run soon after it, with both sides' view.

A wrong or missing heartbeat (E36) is covered on the KVM tier with the probe guest (tests/kvm/test_vsock.py).
"""
import os
import shutil
import subprocess

import pytest

import images

import vsock_scenario

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SCALE = float(os.environ.get("NITROVM_E2E_TIMEOUT_SCALE", "1"))
BUSYBOX = os.environ.get("NITROVM_BUSYBOX", "/bin/busybox")
CMDLINE = "console=ttyS0 reboot=k panic=30 pci=off random.trust_cpu=on"
# 1 readiness ping + the host's checks in vsock_scenario.HOST_CHECKS
SERVED = 1 + 100 + 10 + 10
# The app's waits are bounded, so a failure on either side ends the enclave (and nitrovm) soon after it, with
# what each side saw on the console, rather than at the step's limit.  Its clients retry connecting for 60 s and
# give up on a connection that moves nothing for 120 s (vsock_echo.c); CLIENT_LIMIT caps each client as a whole.
# The server waits for the host's connections for at most APP_LIMIT (vsock_scenario.APP_LIMIT; the host starts
# them as soon as the heartbeat is reported, just before the app starts).
APP_LIMIT = int(vsock_scenario.APP_LIMIT * SCALE)
CLIENT_LIMIT = int(150 * SCALE)
APP = f"""#!/bin/sh
timeout {APP_LIMIT} vsock_echo serve vsock:0:5000 {SERVED} > /tmp/serve.log 2>&1 &
S=$!
timeout {CLIENT_LIMIT} vsock_echo check vsock:3:5001 100 16384; r1=$?
timeout {CLIENT_LIMIT} vsock_echo check vsock:3:5002 10 65536; r2=$?
timeout {CLIENT_LIMIT} vsock_echo check vsock:3:5003 10 65536; r3=$?
wait $S; r4=$?
cat /tmp/serve.log
[ $r4 = 0 ] || echo "APP: the echo server on port 5000 ended with status $r4 (143: still waiting after {APP_LIMIT} s)"
echo "APP-DONE $r1 $r2 $r3 $r4"
exit $((r1 + r2 + r3 + r4))
"""
# The scenario's own limits (boot, then the app), and a margin to report: the step's limit is never what ends it.
STEP_LIMIT = int((vsock_scenario.BOOT_LIMIT + vsock_scenario.APP_LIMIT + 30 + 60) * SCALE)


@pytest.fixture(scope="module")
def image(nitrovm, kernels, workdir):
    if not os.access(BUSYBOX, os.X_OK):
        pytest.fail(f"{BUSYBOX} is needed in the enclave (install busybox-static)")
    d = workdir / "vsock"
    d.mkdir()
    kernel = kernels["NITROVM_CLOUD_KERNEL"]
    mods = d / "modules"
    p = subprocess.run([os.path.join(REPO, "scripts", "kernel-modules"), os.path.dirname(os.path.dirname(kernel)),
                        str(mods)], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.fail(f"scripts/kernel-modules failed:\n{p.stderr}")
    root = d / "rootfs"
    (root / "bin").mkdir(parents=True)
    shutil.copy(BUSYBOX, root / "bin" / "busybox")
    for tool in ("sh", "cat", "echo", "timeout"):
        os.symlink("busybox", root / "bin" / tool)
    echo = images.build_vsock_echo(str(root / "bin" / "vsock_echo"))
    (root / "bin" / "app.sh").write_text(APP)
    eif = d / "vsock.eif"
    env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000")
    p = subprocess.run([nitrovm, "build-enclave", "--kernel", kernel, "--cmdline", CMDLINE, "--rootfs", str(root),
                        "--cmd", "sh /bin/app.sh", "--kernel-modules", str(mods), "--output-file", str(eif)],
                       capture_output=True, text=True, env=env)
    if p.returncode != 0:
        pytest.fail(f"build-enclave failed:\n{p.stderr}")
    return str(eif), echo


@pytest.fixture(scope="module")
def result(run_steps, nitrovm, image, workdir):
    """The scenario in one boot, through conftest's run_steps (one reboot for the nested platform's own
    failures, said loudly)."""
    eif, echo = image
    cmd = f"/usr/bin/python3 {HERE}/vsock_scenario.py {nitrovm} {eif} {echo} {workdir}/vsock-run {SCALE}"
    return run_steps("vsock", [("vsock", cmd, STEP_LIMIT)]).step("vsock")


def tail(text, n=60):
    return "\n".join(text.splitlines()[-n:])


def test_enclave_boots_and_heartbeat_is_reported(result):
    assert "nitrovm-init: heartbeat acknowledged by the parent" in result.output, tail(result.output)
    assert "enclave booted in" in result.output, tail(result.output)


@pytest.mark.parametrize("addr,conns", [("tcp:127.0.0.1:9100", 100), ("uds:", 10), ("vsock:1:5004", 10)])
def test_host_reaches_the_enclave_through_each_bridge(result, addr, conns):
    lines = [l for l in result.output.splitlines() if "CHECK-OK" in l and addr in l and "scenario: host" in l]
    assert lines and f"{conns} connections" in lines[0], tail(result.output)


@pytest.mark.parametrize("port,conns", [(5001, 100), (5002, 10), (5003, 10)])
def test_enclave_reaches_host_services(result, port, conns):
    want = f"CHECK-OK vsock:3:{port}: {conns} connections"
    assert want in result.output, tail(result.output)


def test_enclave_served_every_host_connection(result):
    assert f"served {SERVED} connections, 0 failed" in result.output, tail(result.output)


def test_app_exits_and_nitrovm_exits_zero(result):
    out = result.output
    assert "APP-DONE 0 0 0 0" in out, tail(out)
    assert "nitrovm-init: app exited with status 0" in out, tail(out)
    assert "scenario: nitrovm exited 0" in out, tail(out)
    assert "scenario: uds socket left behind: False" in out, tail(out)
    assert result.status == 0, tail(out)
