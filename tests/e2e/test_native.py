# SPDX-License-Identifier: MIT
"""e2e: a Debian-kernel enclave launched through the native path (nested tier).

The image is what a user builds with `build-enclave --rootfs` (Debian's 6.12 cloud kernel, its vsock and NSM
modules, nitrovm's init, a busybox app) with the heartbeat on.  It runs on the simulated Nitro Enclaves driver:
the CPU pool and huge pages are checked against a fake sysfs (NITROVM_SYSFS_ROOT), real 2 MiB huge pages are
reserved in the guest for the run (and the old count put back), the NE_* ioctls donate them, the simulated
hypervisor boots the image from them, the init's heartbeat reaches the parent's listener, the console comes over
vsock CID 0 port CID + 10000, and the end is the enclave descriptor hanging up.

  native-run   run-enclave --hypervisor nitro-sim --cpu-count 2 --memory 256 --attach-console
  native-qemu  source document 000's command line as written: -accel nitro,debug-mode=on -M nitro -nographic
               -smp 2 -m 512M -kernel enclave.eif (NITROVM_HYPERVISOR=nitro-sim)
"""
import os

import pytest

import fake_sysfs
import images

SCALE = float(os.environ.get("NITROVM_E2E_TIMEOUT_SCALE", "1"))
BOOT_LIMIT = int(300 * SCALE)
APP = "sh -c 'echo APP-OK; exit 0'"
HUGE = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
PAGES = 300  # 600 MiB: -m 512M and room


def with_huge_pages(cmd):
    """Reserve PAGES more 2 MiB pages for cmd, then put the old count back (direct mode runs on the host)."""
    return (f"old=$(cat {HUGE}); echo $((old + {PAGES})) > {HUGE}; {cmd}; rc=$?; echo $old > {HUGE}; "
            f"exit $rc")


@pytest.fixture(scope="module")
def image(nitrovm, kernels, workdir):
    if not os.access(images.BUSYBOX, os.X_OK):
        pytest.fail(f"{images.BUSYBOX} is needed as the app (install busybox-static)")
    d = workdir / "native"
    d.mkdir()
    kernel = kernels["NITROVM_CLOUD_KERNEL"]
    mods = images.kernel_modules(kernel, d / "modules")
    rootfs = images.busybox_rootfs(d / "rootfs", ("sh", "echo"))
    eif = d / "enclave.eif"
    images.build_enclave(nitrovm, "--kernel", kernel, "--rootfs", rootfs, "--cmd", APP, "--kernel-modules", mods,
                         "--cmdline", images.CMDLINE, "--output-file", eif)
    sysfs = fake_sysfs.make(d / "sysfs", pool="1-2,5-6", hugepages_2m=(PAGES, PAGES))
    return {"eif": str(eif), "env": f"NITROVM_SYSFS_ROOT={sysfs} NITROVM_HYPERVISOR=nitro-sim"}


@pytest.fixture(scope="module")
def results(run_steps, nitrovm, image):
    env, eif = image["env"], image["eif"]
    steps = [
        ("native-run", with_huge_pages(f"env {env} {nitrovm} run-enclave --foreground --hypervisor nitro-sim --cpu-count 2 "
                                       f"--memory 256 --eif-path {eif} --attach-console"), BOOT_LIMIT),
        ("native-qemu", with_huge_pages(f"env {env} {nitrovm} -accel nitro,debug-mode=on -M nitro -nographic "
                                        f"-smp 2 -m 512M -kernel {eif}"), BOOT_LIMIT),
    ]
    return run_steps("native", steps)


def tail(text, n=40):
    return "\n".join(text.splitlines()[-n:])


def check(results, name):
    r = results.step(name)
    out = r.output
    assert r.status == 0, f"{name}: nitrovm exited {r.status} (124: killed after {BOOT_LIMIT} s):\n{tail(out)}"
    for want in ("Linux version 6.12", "nitrovm-init: heartbeat acknowledged by the parent", "APP-OK"):
        assert want in out, f"{name}: '{want}' missing:\n{tail(out)}"
    return out


def test_run_enclave_on_the_simulated_driver(results):
    out = check(results, "native-run")
    assert '"CPUIDs": [\n    1,\n    5\n  ]' in out, tail(out)
    assert "Started enclave with enclave-cid: 16, memory: 256 MiB, cpu-ids: [1, 5]" in out
    assert "enclave booted in" in out  # the parent's heartbeat listener, bound before NE_START_ENCLAVE
    assert "its descriptor hung up" in out


def test_source_document_command_line(results):
    out = check(results, "native-qemu")
    assert "its descriptor hung up" in out
