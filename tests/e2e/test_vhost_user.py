# SPDX-License-Identifier: MIT
"""e2e: vhost-user-vsock, as QEMU's docs/system/i386/nitro-enclave.rst runs it, in one nested boot.

nitrovm's backend (`nitrovm vhost-user-vsock --vm guest-cid=4,...`) with two frontends in turn, booting the same
enclave image (Debian's 6.12 cloud kernel, nitrovm's init, an app around tests/e2e/vsock_echo.c):
  - QEMU 7.2, a real peer: its vhost-user-vsock-device on microvm, guest memory a shared memfd;
  - nitrovm itself, with the page's line: -M nitro-enclave,vsock=c,id=hello-world ... -chardev socket,id=c,...
The backend answers the init's heartbeat; the app echoes the host's connections on its port 5000 and checks its
own echoes through the backend's uds-path (port 5002) and forward-cid=1 (port 5003, AF_VSOCK through the outer
guest's vsock_loopback); the host reaches port 5000 through uds-path's CONNECT and forward-listen.  See
vhost_scenario.py.
"""
import os
import shutil
import subprocess

import pytest

import eiflib
import images

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SCALE = float(os.environ.get("NITROVM_E2E_TIMEOUT_SCALE", "1"))
QEMU = shutil.which("qemu-system-x86_64") or "/usr/bin/qemu-system-x86_64"
CMDLINE = "console=ttyS0 reboot=k panic=30 pci=off random.trust_cpu=on"
APP = """#!/bin/sh
N=$(sed -n 's/.*app\\.serve=\\([0-9]*\\).*/\\1/p' /proc/cmdline)
timeout 180 vsock_echo serve vsock:0:5000 ${N:-4} > /tmp/serve.log 2>&1 &
S=$!
echo APP-SERVING
timeout 150 vsock_echo check vsock:3:5002 4 65536; r1=$?
r2=0
if grep -q app.vsock=1 /proc/cmdline; then timeout 150 vsock_echo check vsock:3:5003 4 65536; r2=$?; fi
wait $S; r3=$?
cat /tmp/serve.log
echo "APP-DONE $r1 $r2 $r3"
exit $((r1 + r2 + r3))
"""
STEP_LIMIT = int((400 + 2 * 180 + 60) * SCALE)


@pytest.fixture(scope="module")
def image(nitrovm, kernels, workdir):
    """The enclave image's kernel, ramdisks (concatenated, as a QEMU -initrd) and command line, and the host's
    vsock_echo."""
    d = workdir / "vhost"
    d.mkdir()
    kernel = kernels["NITROVM_CLOUD_KERNEL"]
    mods = images.kernel_modules(kernel, d / "modules")
    root = images.busybox_rootfs(str(d / "rootfs"), ("sh", "cat", "echo", "timeout", "sed", "grep"))
    images.build_vsock_echo(os.path.join(root, "bin", "vsock_echo"))
    with open(os.path.join(root, "bin", "app.sh"), "w") as f:
        f.write(APP)
    eif = d / "built.eif"
    images.build_enclave(nitrovm, "--kernel", kernel, "--cmdline", CMDLINE, "--rootfs", root, "--cmd",
                         "sh /bin/app.sh", "--kernel-modules", mods, "--output-file", eif)
    secs = [(s.type, s.data) for s in eiflib.read_sections(eif.read_bytes())]
    (d / "vmlinuz").write_bytes(next(data for t, data in secs if t == 1))
    (d / "initrd").write_bytes(b"".join(data + b"\0" * (-len(data) % 4) for t, data in secs if t == 3))
    (d / "cmdline").write_bytes(next(data for t, data in secs if t == 2))
    os.rename(eif, d / "image.eif")
    echo = images.build_vsock_echo(d / "vsock_echo")
    return d, str(echo)


@pytest.fixture(scope="module")
def result(run_steps, nitrovm, image, workdir):
    d, echo = image
    scenario = f"/usr/bin/python3 {HERE}/vhost_scenario.py {nitrovm}"
    return run_steps("vhost", [
        ("qemu-frontend", f"{scenario} qemu={QEMU} {d} {echo} {workdir}/vhost-qemu kvm {SCALE}", STEP_LIMIT),
        ("nitrovm-frontend", f"{scenario} nitrovm {d} {echo} {workdir}/vhost-nitrovm kvm {SCALE}", STEP_LIMIT),
    ])


def tail(text, n=80):
    return "\n".join(text.splitlines()[-n:])


FRONTENDS = ["qemu-frontend", "nitrovm-frontend"]


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_frontend_drives_nitrovms_backend(result, frontend):
    r = result.step(frontend)
    out = r.output
    assert "a frontend connected" in out, tail(out)
    assert "the enclave answered the heartbeat (port 9000)" in out, tail(out)
    assert "nitrovm-init: heartbeat acknowledged by the parent" in out, tail(out)


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_echo_both_ways(result, frontend):
    out = result.step(frontend).output
    assert "CHECK-OK vsock:3:5002: 4 connections" in out, tail(out)  # guest -> uds-path
    assert "CHECK-OK uds:" in out and ":5000: 4 connections" in out, tail(out)  # host CONNECT -> guest
    if "no vsock loopback here" not in out:
        assert "CHECK-OK vsock:3:5003: 4 connections" in out, tail(out)  # guest -> forward-cid=1
        assert "CHECK-OK vsock:1:5000: 4 connections" in out, tail(out)  # forward-listen -> guest
    else:
        pytest.fail("the outer guest has no vsock_loopback: forward-cid and forward-listen went untested\n" + tail(out))


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_ends_cleanly(result, frontend):
    r = result.step(frontend)
    out = r.output
    assert "APP-DONE 0 0 0" in out, tail(out)
    assert "scenario: the frontend exited 0, the backend 0" in out, tail(out)
    assert "scenario: socket left behind: False" in out, tail(out)
    assert r.status == 0, tail(out)


def test_nitrovm_frontend_says_where_the_heartbeat_goes(result):
    out = result.step("nitrovm-frontend").output
    assert "the enclave's vsock is the vhost-user backend's at" in out, tail(out)
    assert "heartbeat (port 9000)" in out, tail(out)
