#!/usr/bin/python3
"""Run the kvm tier (tests/kvm, the probe guest on a real /dev/kvm) where this machine can run it.

Where it runs is chosen by what is found, never by what a machine looked like last time:

- direct: this host has a /dev/kvm that opens and runs a guest (kvm_check.py proves it: a VM, a vCPU, an I/O
  exit and a HLT exit). PVM and hardware KVM alike.
- nested: it has none (the machines without a KVM device, notes in docs/testing.md). The whole tier then runs as
  one pytest session inside one nested outer boot (nested.py: QEMU TCG with emulated AMD SVM, the host's root
  shared read-only), and its JUnit XML comes back through a shared directory to be counted like any tier's.

NITROVM_KVM_TIER=direct|nested|auto forces a choice (auto by default). If the chosen way cannot run, the tier
fails loudly (exit status 125 and a sentence); it is never skipped here.

The nested platform has its own failures (the outer kernel oopsing in kvm's code under multi-threaded TCG, the
outer guest dying): when the outer boot ends before pytest did, it is booted again, at most PLATFORM_RETRIES
times, each time with a WARNING line. A test that fails is never retried here.

    kvm_tier.py --junitxml FILE [pytest arguments...]
"""
import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time

import nested

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
KVM_CHECK = os.path.join(HERE, "kvm_check.py")
PYTHON = "/usr/bin/python3"
PLATFORM_RETRIES = 2
# The tier takes about a minute nested on a quiet 2-core machine; this bounds a hang, boot included.
NESTED_LIMIT_S = int(900 * float(os.environ.get("NITROVM_E2E_TIMEOUT_SCALE", "1")))
KVM_CHECK_LIMIT_S = 30
OUTER_SMP = int(os.environ.get("NITROVM_KVM_TIER_SMP", "1"))
# Variables of this environment that the tier reads; the nested guest gets them (it inherits nothing else).
PASSED_ON = ("NITROVM", "NITROVM_PROBE", "NITROVM_E2E_TIMEOUT_SCALE")


def direct_kvm_problem():
    """None when this host's /dev/kvm opens and runs a guest, else a sentence saying why not."""
    if not os.path.exists("/dev/kvm"):
        return "this host has no /dev/kvm"
    try:
        r = subprocess.run([PYTHON, KVM_CHECK], capture_output=True, text=True, timeout=KVM_CHECK_LIMIT_S)
    except subprocess.TimeoutExpired:
        return f"/dev/kvm did not run a five-byte guest within {KVM_CHECK_LIMIT_S} s"
    if r.returncode != 0:
        return (r.stdout + r.stderr).strip().splitlines()[-1] if (r.stdout + r.stderr).strip() else \
            f"kvm_check.py exited with status {r.returncode}"
    return None


def choose():
    """(where, why): where is "direct" or "nested"."""
    forced = os.environ.get("NITROVM_KVM_TIER", "auto")
    if forced not in ("auto", "direct", "nested"):
        raise SystemExit(f"kvm tier: NITROVM_KVM_TIER must be direct, nested or auto, not {forced!r}")
    if forced != "auto":
        return forced, "NITROVM_KVM_TIER says so"
    problem = direct_kvm_problem()
    if problem is None:
        return "direct", "this host's /dev/kvm runs a guest"
    return "nested", problem


def pytest_argv(junitxml, extra):
    return [PYTHON, "-m", "pytest", "-v", "-rs", f"--junitxml={junitxml}", "tests/kvm"] + list(extra)


def run_direct(junitxml, extra):
    return subprocess.run(pytest_argv(junitxml, extra), cwd=REPO).returncode


def run_nested(junitxml, extra):
    """One pytest session in one outer boot; the XML is written to a shared directory, then moved to junitxml."""
    share = tempfile.mkdtemp(prefix="nitrovm-kvm-tier-")
    try:
        xml = os.path.join(share, "kvm.xml")
        cmd = "cd " + shlex.quote(REPO) + " && " + shlex.join(pytest_argv(xml, extra))
        env = {k: os.environ[k] for k in PASSED_ON if k in os.environ}
        for attempt in range(PLATFORM_RETRIES + 1):
            try:
                status, _ = nested.run_nested(cmd, NESTED_LIMIT_S, smp=OUTER_SMP, env=env, shares=[share],
                                              stream=sys.stdout)
            except nested.NestedTimeout as e:
                print(f"kvm tier: {e}", flush=True)
                return 124
            except nested.NestedError as e:
                if attempt == PLATFORM_RETRIES or not platform_failure(str(e)):
                    print(f"kvm tier: the nested tier could not run: {e}", flush=True)
                    return 125
                print(f"\nWARNING: kvm tier: the nested platform failed (the outer guest died before pytest "
                      f"ended); booting again, retry {attempt + 1} of {PLATFORM_RETRIES}", flush=True)
                continue
            if os.path.exists(xml):
                os.replace(xml, junitxml)
            return status
        return 125
    finally:
        nested.rmtree(share)


def platform_failure(why):
    """The outer guest stopped under pytest: its kernel oopsed or QEMU died. Not a test's failure."""
    return "stopped before the command finished" in why


def main(argv=None):
    ap = argparse.ArgumentParser(prog="kvm_tier.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--junitxml", required=True)
    a, extra = ap.parse_known_args(argv)
    junitxml = os.path.abspath(a.junitxml)
    where, why = choose()
    print(f"kvm tier: running {where} ({why})", flush=True)
    start = time.monotonic()
    status = run_direct(junitxml, extra) if where == "direct" else run_nested(junitxml, extra)
    print(f"kvm tier: ran {where}, pytest status {status}, {time.monotonic() - start:.0f} s", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
