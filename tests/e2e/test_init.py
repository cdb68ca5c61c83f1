# SPDX-License-Identifier: MIT
"""e2e: nitrovm's enclave init (guest/init) in a `build-enclave --rootfs` image on Debian's 6.12 cloud kernel.

The image is what a user builds: the cloud kernel, the modules scripts/kernel-modules gathers from its package
(virtio_mmio, vsock, vmw_vsock_virtio_transport_common, vmw_vsock_virtio_transport, nsm; .ko.xz, loaded through
the kernel's own decompressor), and a root filesystem holding only the static busybox, whose app is
`sh -c "echo APP-OK; ls /; exit 3"`. All steps share one nested boot (tests/lib/nested.py).

  init-app       nitrovm.heartbeat=0 on the command line: modules load, the heartbeat is skipped, the app runs
                 in the new root with the default PATH and /env's variables, its status is reported, the
                 enclave resets itself and nitrovm exits with the app's status (3).
  init-no-cmd    AWS's bootstrap layout (/nsm.ko, loaded first) and a customer ramdisk without /cmd: the init
                 says so and ends the enclave (AWS's init segfaults).
  init-heartbeat the same image with the heartbeat on: nitrovm answers it and the app runs.
  hb-wrong-byte  the init skips its heartbeat and the app sends the parent 0x42 on port 9000 instead: nitrovm
                 ends the enclave with E36 naming the byte.
  hb-missing     the init skips its heartbeat and the app sleeps: nitrovm gives up after the heartbeat timeout
                 (shortened with NITROVM_HEARTBEAT_TIMEOUT_MS) and ends the enclave with E36.
"""
import os
import shutil

import pytest

import images
from clicheck import error_lines
from conftest import BOOT_SILENCE  # noqa: E402

SCALE = float(os.environ.get("NITROVM_E2E_TIMEOUT_SCALE", "1"))
BOOT_LIMIT = int(300 * SCALE)
CMDLINE = images.CMDLINE
APP = "sh -c 'echo APP-OK; echo GREETING=$GREETING PATH=$PATH; ls /; exit 3'"
RUN = "run-enclave --foreground --cpu-count 1 --memory 256 --eif-path {eif}"
# Past the kernel boot and the app start here (20-40 s nested), far below nitro-cli's 180 s; E36 either way.
MISSING_HEARTBEAT_MS = int(60000 * SCALE)
MODULES = ["virtio_mmio", "vsock", "vmw_vsock_virtio_transport_common", "vmw_vsock_virtio_transport", "nsm"]


def make_rootfs(root):
    return images.busybox_rootfs(root, ("sh", "ls", "echo"))


@pytest.fixture(scope="module")
def eifs(nitrovm, kernels, workdir):
    if not os.access(images.BUSYBOX, os.X_OK):
        pytest.fail(f"{images.BUSYBOX} is needed as the app (install busybox-static)")
    d = workdir / "init"
    d.mkdir()
    kernel = kernels["NITROVM_CLOUD_KERNEL"]
    mods = images.kernel_modules(kernel, d / "modules")
    rootfs = make_rootfs(str(d / "rootfs"))
    common = ["--kernel", kernel, "--rootfs", rootfs, "--cmd", APP, "--env", "GREETING=hello enclave",
              "--kernel-modules", mods]
    out = {"app": d / "app.eif", "heartbeat": d / "heartbeat.eif", "no-cmd": d / "no-cmd.eif",
           "wrong-byte": d / "wrong-byte.eif", "missing": d / "missing.eif"}
    images.build_enclave(nitrovm, *common, "--cmdline", CMDLINE + " nitrovm.heartbeat=0", "--output-file",
                         out["app"])
    images.build_enclave(nitrovm, *common, "--cmdline", CMDLINE, "--output-file", out["heartbeat"])

    # Heartbeats that go wrong: the init skips its own, and the app misbehaves in its place.
    hb_root = make_rootfs(str(d / "hb-rootfs"))
    images.build_vsock_echo(os.path.join(hb_root, "bin", "vsock_echo"))
    os.symlink("busybox", os.path.join(hb_root, "bin", "sleep"))
    hb = ["--kernel", kernel, "--rootfs", hb_root, "--kernel-modules", mods,
          "--cmdline", CMDLINE + " nitrovm.heartbeat=0"]
    images.build_enclave(nitrovm, *hb, "--cmd", "sh -c 'vsock_echo poke vsock:3:9000 42; sleep 600'",
                         "--output-file", out["wrong-byte"])
    images.build_enclave(nitrovm, *hb, "--cmd", "sleep 600", "--output-file", out["missing"])

    # Without /cmd: a bootstrap ramdisk in AWS's layout (init, and the NSM driver as /nsm.ko: here Debian's
    # xz-compressed one under that name, which the init must recognise by its bytes), and a customer ramdisk
    # with env but no cmd.
    boot = d / "no-cmd-boot"
    os.makedirs(boot / "dev")
    shutil.copy(os.path.join(os.path.dirname(os.path.realpath(nitrovm)), "guest", "init", "init"), boot / "init")
    shutil.copy(mods / "nsm.ko.xz", boot / "nsm.ko")
    cust = d / "no-cmd-customer"
    make_rootfs(str(cust / "rootfs"))
    (cust / "env").write_text("A=1\n")
    images.build_enclave(nitrovm, "--kernel", kernel, "--cmdline", CMDLINE + " nitrovm.heartbeat=0",
                         "--ramdisk-dir", boot, "--ramdisk-dir", cust, "--output-file", out["no-cmd"])
    return out


@pytest.fixture(scope="module")
def results(run_steps, nitrovm, eifs):
    steps = [
        ("init-app", f"{nitrovm} " + RUN.format(eif=eifs["app"]), BOOT_LIMIT),
        ("init-no-cmd", f"{nitrovm} " + RUN.format(eif=eifs["no-cmd"]), BOOT_LIMIT),
        ("init-heartbeat", f"{nitrovm} " + RUN.format(eif=eifs["heartbeat"]), BOOT_LIMIT),
        ("hb-wrong-byte", f"{nitrovm} " + RUN.format(eif=eifs["wrong-byte"]), BOOT_LIMIT),
        ("hb-missing", f"NITROVM_HEARTBEAT_TIMEOUT_MS={MISSING_HEARTBEAT_MS} {nitrovm} "
         + RUN.format(eif=eifs["missing"]), BOOT_LIMIT),
    ]
    return run_steps("init", steps, silence=BOOT_SILENCE)


def tail(text, n=40):
    return "\n".join(text.splitlines()[-n:])


def check_app_ran(r, heartbeat):
    out = r.output
    # The init sends the app's status to the parent (the app channel, vsock 9001), heartbeat or not, and
    # run-enclave --foreground ends with it.
    assert r.status == 3, f"nitrovm exited {r.status}, not the app's 3 (124: killed after {BOOT_LIMIT} s):\n{tail(out)}"
    assert "; the app exited with status 3)" in out, tail(out)
    expected = [
        f"nitrovm-init: loaded {len(MODULES)} kernel modules",
        "nitrovm-init: heartbeat acknowledged by the parent" if heartbeat else
        "nitrovm-init: heartbeat skipped (nitrovm.heartbeat=0 on the kernel command line)",
        "nitrovm-init: starting sh",
        "APP-OK",
        "GREETING=hello enclave PATH=/sbin:/usr/sbin:/bin:/usr/bin",
        "nitrovm-init: app exited with status 3",
    ]
    pos = 0
    for line in expected:
        i = out.find(line, pos)
        assert i >= 0, f"missing (in this order) {line!r}:\n{tail(out)}"
        pos = i + len(line)
    # `ls /` in the new root: the rootfs with the directories build-enclave adds; /cmd and /env are gone.
    listing = out[out.index("APP-OK"):out.index("nitrovm-init: app exited")].split()
    for d in ("bin", "dev", "proc", "run", "sys", "tmp", "var"):
        assert d in listing, f"/{d} missing from the app's root:\n{tail(out)}"
    assert "cmd" not in listing and "env" not in listing and "rootfs" not in listing, listing
    assert "Kernel panic" not in out, tail(out)


def test_init_runs_app(results):
    check_app_ran(results.step("init-app"), heartbeat=False)


def test_init_missing_cmd_is_a_clear_message(results):
    r = results.step("init-no-cmd")
    out = r.output
    assert "cannot load module" not in out, tail(out)
    assert "nitrovm-init: /cmd is missing from the image" in out, tail(out)
    assert "ending the enclave" in out, tail(out)
    assert "Kernel panic" not in out and "segfault" not in out, tail(out)
    assert r.status == 0, f"nitrovm exited {r.status}:\n{tail(out)}"


def test_init_heartbeat(results):
    check_app_ran(results.step("init-heartbeat"), heartbeat=True)


def e36_line(r):
    lines = error_lines(r.output, 36)
    assert r.status == 36, f"nitrovm exited {r.status}, not 36:\n{tail(r.output)}"
    assert len(lines) == 1, tail(r.output)
    return lines[0]


def test_wrong_heartbeat_byte_ends_the_enclave(results):
    line = e36_line(results.step("hb-wrong-byte"))
    assert "the heartbeat byte was 0x42, not 0xb7" in line, line


def test_missing_heartbeat_ends_the_enclave(results):
    line = e36_line(results.step("hb-missing"))
    assert "VsockTimeoutError: no heartbeat on vsock port 9000" in line, line
