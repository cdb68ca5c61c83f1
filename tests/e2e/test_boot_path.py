# SPDX-License-Identifier: MIT
"""e2e: the kernel decompressed on the host against its own decompressor.

One outer boot runs every step: Debian's cloud and generic kernels (the hello EIF) boot both ways and must give
the same result (banner, the init's marker, both vCPUs, the same orderly exit); the host path must keep KASLR
(two boots, two different kernel text addresses from /proc/kallsyms, as root in the init) and honour
`nokaslr` (the link address, 0xffffffff81000000, physical 16 MiB); the first host boot fills the kernel cache and
the later ones use it; no host boot says it fell back; and the initrd stays where the EIF holds it on the host
path (copied where the decompressor or nokaslr needs the memory).  Seven second-level boots: about 2-3 minutes
nested.
"""
import os
import re
import shlex

import pytest

import images
from conftest import BOOT_SILENCE  # noqa: E402

SCALE = float(os.environ.get("NITROVM_E2E_TIMEOUT_SCALE", "1"))
BOOT_LIMIT = int(180 * SCALE)
LINK_TEXT = 0xFFFFFFFF81000000  # __START_KERNEL_map + CONFIG_PHYSICAL_START of Debian's kernels
LINK_PHYS = 0x1000000
FALLBACK = "boots through its own decompressor"
# The cache lives in the outer guest's own memory (tmpfs under the overlay), fresh at every outer boot.
CACHE = "/tmp/nitrovm-e2e-kernel-cache"

# name -> (EIF fixture, --boot-path, vCPUs)
BOOTS = {
    "cloud-host-1": ("hello_eif", "host", 2),
    "cloud-host-2": ("hello_eif", "host", 2),
    "cloud-decompressor": ("hello_eif", "decompressor", 2),
    "cloud-host-nokaslr": ("nokaslr_eif", "host", 1),
    "cloud-decompressor-nokaslr": ("nokaslr_eif", "decompressor", 1),
    "generic-host": ("hello_generic_eif", "host", 2),
    "generic-decompressor": ("hello_generic_eif", "decompressor", 2),
}

# Where each boot's initrd went (nitrovm's trace-boot line, test builds): the host path leaves it where the EIF
# holds it; the decompressor's working range (1 MiB to 16 MiB + init_size) and, with nokaslr, the kernel's only
# place (its link address) need that memory, so there it is copied.
INITRD = {name: "left in place" if path == "host" and "nokaslr" not in name else "copied"
          for name, (_, path, _) in BOOTS.items()}


@pytest.fixture(scope="module")
def nokaslr_eif(nitrovm, kernels, hello_ramdisk, workdir):
    return images.build_eif(nitrovm, kernels["NITROVM_CLOUD_KERNEL"], hello_ramdisk, str(workdir / "nokaslr.eif"),
                            cmdline=images.CMDLINE + " nokaslr", name="hello-nokaslr")


@pytest.fixture(scope="module")
def results(request, run_steps, nitrovm):
    steps = []
    for name, (fixture, path, cpus) in BOOTS.items():
        eif = request.getfixturevalue(fixture)
        cmd = (f"NITROVM_CACHE={CACHE} NITROVM_TRACE_BOOT=1 {nitrovm} run-enclave --foreground --cpu-count {cpus} --memory 256 "
               f"--boot-path {path} --eif-path {shlex.quote(eif)}")
        steps.append((name, cmd, BOOT_LIMIT))
    steps.append(("cache", f"ls -l {CACHE}/vmlinux", 30))
    return run_steps("boot-path", steps, silence=BOOT_SILENCE)


def facts(r, name):
    """What a boot showed: its marker, kernel, CPUs, exit and where the kernel ran; fails on a bad boot."""
    out = r.output.replace("\r\n", "\n")
    tail = "\n".join(out.splitlines()[-30:])
    if r.status != 0:
        pytest.fail(f"{name}: nitrovm exited {r.status}:\n{tail}")
    got = {}
    for key in ("MARKER", "KERNEL", "CPUS", "EXIT", "TEXT", "CODE"):
        m = re.search(rf"NITROVM-HELLO-{key}(?: (.*))?$", out, re.M)
        if not m:
            pytest.fail(f"{name}: the hello /init did not print NITROVM-HELLO-{key}:\n{tail}")
        got[key] = (m.group(1) or "").strip()
    if "Linux version 6.12" not in out:
        pytest.fail(f"{name}: no kernel banner on the console:\n{tail}")
    got["fallback"] = FALLBACK in out
    got["text"] = int(got["TEXT"], 16)
    got["code"] = int(got["CODE"], 16)
    return got


def test_both_paths_same_result(results):
    """Cloud and generic kernels: the host path and the decompressor give the same boot."""
    for kernel in ("cloud", "generic"):
        host = facts(results.step(f"{kernel}-host" + ("-1" if kernel == "cloud" else "")), f"{kernel} host")
        guest = facts(results.step(f"{kernel}-decompressor"), f"{kernel} decompressor")
        for key in ("KERNEL", "CPUS", "EXIT"):
            assert host[key] == guest[key], f"{kernel}: {key} differs: host {host[key]!r}, decompressor {guest[key]!r}"
        assert host["CPUS"].startswith("2 "), f"{kernel}: the host path brought up {host['CPUS']} CPUs, not 2"


def test_host_path_never_falls_back(results):
    for name, (_, path, _) in BOOTS.items():
        if path == "host":
            assert not facts(results.step(name), name)["fallback"], \
                f"{name}: the host path fell back to the kernel's decompressor:\n{results.step(name).output[-2000:]}"


def test_kaslr_kept(results):
    """Two host boots put the kernel text at two different places.  Virtual: 477 slots of 2 MiB in the 1 GiB
    mapping; physical: ~90 in 256 MiB; two boots agree on both once in ~40000, so this does not flake."""
    a, b = facts(results.step("cloud-host-1"), "host 1"), facts(results.step("cloud-host-2"), "host 2")
    for f in (a, b):
        assert f["text"] % 0x200000 == 0 and LINK_TEXT <= f["text"] < LINK_TEXT + (1 << 30) - 0x1000000, \
            f"_text at {f['text']:#x}: not a 2 MiB step inside the kernel's 1 GiB mapping"
        assert f["code"] % 0x200000 == 0 and f["code"] >= LINK_PHYS, f"kernel code at {f['code']:#x}"
    print(f"\nhost boot 1: _text {a['text']:#x} at {a['code']:#x}; host boot 2: _text {b['text']:#x} at "
          f"{b['code']:#x}")
    assert (a["text"], a["code"]) != (b["text"], b["code"]), \
        f"two host boots placed the kernel identically: _text {a['text']:#x} at {a['code']:#x}"


def test_nokaslr_gives_link_address(results):
    for name in ("cloud-host-nokaslr", "cloud-decompressor-nokaslr"):
        f = facts(results.step(name), name)
        assert f["text"] == LINK_TEXT, f"{name}: _text at {f['text']:#x}, not the link address {LINK_TEXT:#x}"
        assert f["code"] == LINK_PHYS, f"{name}: kernel code at {f['code']:#x}, not {LINK_PHYS:#x}"


def test_cache_filled_once(results):
    r = results.step("cache")
    entries = [l for l in r.output.splitlines() if re.search(r" [0-9a-f]{64}$", l)]
    # Two kernels (cloud, generic): one decompressed file each, whatever the number of boots.
    assert r.status == 0 and len(entries) == 2, f"the kernel cache should hold 2 kernels:\n{r.output}"


def test_initrd_left_in_place_on_the_host_path(results):
    for name, where in INITRD.items():
        out = results.step(name).output
        m = re.search(r"trace-boot: initrd (left in place|copied) at (0x[0-9a-f]+), (\d+) bytes", out)
        assert m, f"{name}: no trace-boot line for the initrd:\n{out[-2000:]}"
        assert m.group(1) == where, f"{name}: initrd {m.group(1)} at {m.group(2)}, expected {where}"
