# SPDX-License-Identifier: MIT
"""Fixtures of the e2e tier: real Linux (Debian 6.12) booted by nitrovm.

On this project's PVM hosts the scenarios run inside the nested tier (tests/lib/nested.py); where the host's
KVM runs stock kernels they run directly (NITROVM_E2E_MODE=nested|direct forces one). The tier fails loudly
when it cannot run (no QEMU, no kernel, no nitrovm); only NITROVM_SKIP_E2E=1 skips it.
"""
import os
import pathlib
import shutil
import sys
import time

import pytest

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

import images  # noqa: E402
import nested  # noqa: E402
import vsock_scenario  # noqa: E402

NITROVM = os.environ.get("NITROVM", str(REPO / "build" / "nitrovm"))


def pytest_collection_modifyitems(config, items):
    if os.environ.get("NITROVM_SKIP_E2E") == "1":
        skip = pytest.mark.skip(reason="the e2e tier is skipped because NITROVM_SKIP_E2E=1")
        for item in items:
            if pathlib.Path(str(item.fspath)).resolve().parent == HERE:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def mode():
    m = nested.e2e_mode()
    if m == "nested" and not shutil.which(nested.QEMU):
        pytest.fail(f"the e2e tier runs nested here and needs {nested.QEMU} (apt-get install qemu-system-x86); "
                    "set NITROVM_SKIP_E2E=1 to skip it")
    return m


@pytest.fixture(scope="session")
def kernels():
    try:
        return nested.fetch_kernels()
    except nested.NestedError as e:
        pytest.fail(f"the e2e tier needs Debian's 6.12 kernels: {e} (set NITROVM_SKIP_E2E=1 to skip the tier)")


@pytest.fixture(scope="session")
def nitrovm():
    if not os.access(NITROVM, os.X_OK):
        pytest.fail(f"{NITROVM} is not built (ninja -C build), or set NITROVM")
    return NITROVM


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    """A directory the nested guest may write to (it is shared with it at the same path)."""
    return tmp_path_factory.mktemp("e2e")


class Steps(dict):
    """nested.run_steps' results by step name, and the console of the boot that ran them."""

    def __init__(self, results, log):
        super().__init__(results)
        self.log = log

    def step(self, name):
        """The result of step name; a step the guest never got to fails the test."""
        r = self[name]
        if r.status is None:
            pytest.fail(f"step {name} never ran: the guest stopped before it; console in {self.log}")
        return r


# Reboots allowed per module for the platform's own failures: they come in runs (one clean-clone CI run saw the
# outer kernel oops twice in a row in kvm's code under multi-threaded TCG), and each costs only that module's boot.
PLATFORM_RETRIES = 2
# A step whose second-level guest crashed with one of PLATFORM_FLAKE_SIGNS runs again in the same outer boot, at
# most this many times, before the whole module's boot is retried: 30 host-path hello boots in a row in one
# outer guest saw 3 such crashes at random places (0.1, 1.9 and 3.0 s into the kernel's boot), each followed by
# clean boots, and the decompressor path crashed the same way (the platform, not a boot path).
STEP_RETRIES = 2

# What a second-level guest prints when the nested platform's FPU state breaks it (see run_steps).  The last: a
# clean CI run saw the cloud kernel's first CPU take a general protection fault on text_poke_early's iretq with
# EFLAGS c14470b2 (bits no CPU sets) at 3 s into its boot, before any initrd or device: the saved state was
# garbage, as in the others.  A kernel of ours that faults for a reason of its own faults in every retry.
PLATFORM_FLAKE_SIGNS = (
    "triple fault (KVM_EXIT_SHUTDOWN)",
    "] traps: init[1] general protection fault",
    "] traps: init[1] trap invalid opcode",
    "] Oops: general protection fault",
    vsock_scenario.SILENT_SIGN,  # the vsock scenario's enclave silent before it booted: a second-level hang
    nested.SILENT_STEP,  # a boot step's console silent for BOOT_SILENCE: a second-level hang, the same
)


def platform_sign(text):
    """The first of PLATFORM_FLAKE_SIGNS in text (without a leading "] "), or None."""
    return next((s.lstrip("] ") for s in PLATFORM_FLAKE_SIGNS if text and s in text), None)
# Seconds without a line after which a step that boots a guest on its console is a hung guest (run_steps(...,
# silence=BOOT_SILENCE)): a booting kernel here prints every few seconds; seen hung at "x86/mm: Memory block size"
# with both outer vCPUs spinning, and the step then waited out its whole limit and failed the module.
BOOT_SILENCE = int(120 * float(os.environ.get("NITROVM_E2E_TIMEOUT_SCALE", "1")))


@pytest.fixture(scope="session")
def run_steps(mode, workdir):
    """run_steps(label, [(name, command, limit s)], steps_dir=None, arch="x86_64", memory="2G") runs the steps in
    one boot (nested.run_steps; arch "aarch64": in the arm64 machine, under its busybox;
    an outer boot costs 20-30 s, so a module's steps share one) and returns Steps.  The console goes to
    workdir/<label>-console.log, the steps' files to steps_dir (workdir/<label>-steps by default; the guest may
    write under it).  A boot that cannot run or does not finish fails the test."""
    def boot(label, steps, steps_dir, log, arch, memory, silence):
        # The arm64 machine is always an emulated one here (an x86_64 host).
        how = "nested" if arch == "aarch64" else mode
        with open(log, "w") as stream:
            try:
                res = nested.run_steps(steps, str(steps_dir or workdir / f"{label}-steps"), mode=how,
                                       stream=stream, arch=arch, memory=memory,
                                       retry_signs=PLATFORM_FLAKE_SIGNS if how == "nested" else (),
                                       step_retries=STEP_RETRIES, silence=silence)
            except nested.NestedTimeout as e:
                return None, f"the {mode} run did not finish: {e}; console in {log}"
            except nested.NestedError as e:
                return None, f"the nested tier could not run: {e}; console in {log}"
        for r in res.values():
            for n, out in enumerate(r.retried, 1):
                sign = platform_sign(out) or "?"
                print(f"\nWARNING: e2e {label}: step {r.name} attempt {n} showed the nested platform's sign "
                      f"({sign}); it ran again in the same boot (that output kept as {r.name}.out.attempt{n})")
        return res, None

    def platform_flake(res, why):
        """The nested platform's known failures: the outer guest dying, or a second-level guest crashing on
        the FPU state (TCG's emulated SVM reports inconsistent XSAVE sizes; Debian's kernel warns "XSAVE
        consistency problem" under QEMU's own VMM there too): a triple fault, or a static init killed by a
        general protection fault or an invalid opcode.  Anything else is the test's business, not retried."""
        if why:
            # "did not finish": every step has its own limit inside the outer guest (nested.run_steps), so a
            # boot that outlives their sum has stopped keeping them: the outer guest hung (seen once, its QEMU
            # spinning with a silent console, in the middle of a second-level kernel's boot log).
            return ("died" in why or "stopped before" in why or "could not run" in why or
                    "did not finish" in why)
        return any(platform_sign(r.output) for r in res.values())

    def flake_sign(res):
        """Which step showed which sign, for the warning (the CI log keeps only a part of the output)."""
        for r in (res or {}).values():
            if platform_sign(r.output):
                return f"step {r.name}: {platform_sign(r.output)}"
        return "a second-level guest crashed on its FPU state"

    def run(label, steps, steps_dir=None, arch="x86_64", memory="2G", silence=None):
        log = workdir / f"{label}-console.log"
        start = time.monotonic()
        res, why = boot(label, steps, steps_dir, log, arch, memory, silence)
        for attempt in range(1, PLATFORM_RETRIES + 1):
            if mode != "nested" or not platform_flake(res, why):
                break
            kept = workdir / f"{label}-console.attempt{attempt}.log"
            os.replace(log, kept)
            # The steps' own output says which failure it was; the next boot writes over it.
            outs = pathlib.Path(steps_dir or workdir / f"{label}-steps")
            kept_steps = workdir / f"{label}-steps.attempt{attempt}"
            kept_steps.mkdir(exist_ok=True)
            for f in outs.glob("*.out"):
                shutil.copy(f, kept_steps / f.name)
            what = why or flake_sign(res)
            print(f"\nWARNING: e2e {label}: the nested platform failed ({what}); booting again, retry {attempt} "
                  f"of {PLATFORM_RETRIES} (that console kept in {kept}, its steps' output in {kept_steps})")
            res, why = boot(label, steps, steps_dir, log, arch, memory, silence)
        if why:
            pytest.fail(why)
        width = max((len(name) for name, _, _ in steps), default=0)
        print(f"\ne2e {label} ({mode}): {time.monotonic() - start:.1f} s in all; per step:")
        for r in res.values():
            print(f"  {r.name:{width}} status {r.status}  {r.seconds:6.1f} s")
        return Steps(res, log)
    return run


@pytest.fixture(scope="session")
def hello_ramdisk(workdir):
    return images.build_hello_init(str(workdir / "hello-ramdisk"))


@pytest.fixture(scope="session")
def hello_eif(nitrovm, kernels, hello_ramdisk, workdir):
    """Debian's 6.12 cloud kernel and the hello /init, packed by nitrovm build-enclave."""
    return images.build_eif(nitrovm, kernels["NITROVM_CLOUD_KERNEL"], hello_ramdisk, str(workdir / "hello.eif"))


@pytest.fixture(scope="session")
def hello_generic_eif(nitrovm, kernels, hello_ramdisk, workdir):
    """The same with Debian's generic kernel (it has CONFIG_X86_MPPARSE, the cloud one does not)."""
    return images.build_eif(nitrovm, kernels["NITROVM_GENERIC_KERNEL"], hello_ramdisk,
                            str(workdir / "hello-generic.eif"), name="hello-generic")
