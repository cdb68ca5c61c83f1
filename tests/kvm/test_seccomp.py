# SPDX-License-Identifier: MIT
"""The system-call allow-lists on a real enclave: the enclave process and each vCPU thread carry their filters
(the kernel's /proc view), the guest's memory is left out of core dumps, the enclave's whole day (describe, console, terminate) works under them, --no-seccomp
and -sandbox off leave them off, and a call outside a list ends the enclave with its line and status 159.

tests/unit/test_seccomp.c proves what each list allows and denies; this proves the wiring.  The out-of-list
calls are made on purpose by the test build's hook (NITROVM_TEST_SECCOMP_TRIGGER, compiled in with
-Dtest_hooks=true, the default)."""
import json
import os
import re
import subprocess
import time

import pytest

from conftest import run
from test_lifecycle import LIMIT, dirs, hold_eif, nv, start, wait_gone  # noqa: F401 (fixtures)

TRAP = re.compile(r"^nitrovm: thread (\S+) made system call \d+ \(first argument 0x[0-9a-f]+\), outside the (vCPU|enclave process) allow-list "
                  r"\(seccomp\); ending the enclave$", re.M)


def status_field(path, field):
    with open(path) as f:
        for line in f:
            if line.startswith(field + ":"):
                return line.split(":", 1)[1].strip()
    raise AssertionError(f"{field} not in {path}")


def threads(pid):
    """{thread name: [its /proc/<pid>/task/<tid> directories]}."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        d = f"/proc/{pid}/task/{tid}"
        try:
            with open(f"{d}/comm") as f:
                out.setdefault(f.read().strip(), []).append(d)
        except OSError:
            pass
    return out


def test_enclave_process_and_vcpus_are_filtered(nitrovm, hold_eif, dirs):
    info, _ = start(nitrovm, hold_eif, "--debug-mode")
    pid = info["ProcessID"]
    # Mode 2 is "filter"; every thread has the process's list, the vCPU threads one more of their own.
    assert status_field(f"/proc/{pid}/status", "Seccomp") == "2"
    assert status_field(f"/proc/{pid}/status", "NoNewPrivs") == "1"
    names = threads(pid)
    assert "vcpu0" in names, names
    for name, dirs_ in names.items():
        for d in dirs_:
            n = status_field(f"{d}/status", "Seccomp_filters")
            if name.startswith("kvm-"):
                # KVM's own workers in the process (kvm-nx-lpage-recovery): the kernel starts them from the
                # vCPU thread's first KVM_RUN, so they carry whatever that thread had.
                assert n in ("1", "2"), (name, d, n)
            else:
                assert n == ("2" if name.startswith("vcpu") else "1"), (name, d, n)

    # The enclave's memory is left out of a core dump of nitrovm ("dd" in the mapping's VmFlags).
    with open(f"/proc/{pid}/smaps") as f:
        maps = f.read().split("\n")
    heads = [i for i, l in enumerate(maps) if "/memfd:nitrovm-enclave" in l]
    assert heads, "no guest-memory mapping in smaps"
    flags = next(l for l in maps[heads[0]:] if l.startswith("VmFlags:")).split()[1:]
    assert "dd" in flags, flags

    # The day goes on under the lists: describe (the control socket), the console's history, terminate.
    r = nv(nitrovm, "describe-enclaves")
    assert r.returncode == 0 and json.loads(r.stdout)[0]["State"] == "RUNNING", r.stderr
    r = nv(nitrovm, "console", "--enclave-name", "hold", "--disconnect-timeout", "1")
    assert "probe: result PASS" in r.stdout, r.stdout + r.stderr
    # (the log goes with the enclave's other records at terminate: read it while it is there)
    log = open(os.path.join(os.environ["NITROVM_RUN_DIR"], f"{info['EnclaveID'].split('-enc')[1]}.log")).read()
    assert not TRAP.search(log), log
    r = nv(nitrovm, "terminate-enclave", "--enclave-name", "hold")
    assert r.returncode == 0, r.stderr
    assert wait_gone(pid)


def test_no_seccomp_leaves_the_lists_off(nitrovm, hold_eif, dirs):
    info, _ = start(nitrovm, hold_eif, "--debug-mode", "--no-seccomp")
    pid = info["ProcessID"]
    assert status_field(f"/proc/{pid}/status", "Seccomp") == "0"
    assert nv(nitrovm, "terminate-enclave", "--enclave-name", "hold").returncode == 0
    assert wait_gone(pid)


@pytest.mark.parametrize("sandbox,mode", [("on", "2"), ("off", "0")])
def test_qemu_front_end_sandbox(nitrovm, hold_eif, sandbox, mode):
    p = subprocess.Popen([nitrovm, "-M", "nitro-enclave", "-kernel", hold_eif, "-m", "64M", "-sandbox", sandbox],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, deadline = "", time.monotonic() + LIMIT
        while "probe: result" not in out and time.monotonic() < deadline:
            line = p.stdout.readline()
            if not line:
                break
            out += line
        assert "probe: result PASS" in out, out
        assert status_field(f"/proc/{p.pid}/status", "Seccomp") == mode
    finally:
        p.kill()
        p.wait()


@pytest.mark.parametrize("where,thread,lst", [("vcpu", "vcpu0", "vCPU"), ("loop", "nitrovm", "enclave process")])
def test_a_call_outside_the_list_ends_the_enclave(nitrovm, hold_eif, dirs, where, thread, lst):
    r = run([nitrovm, "run-enclave", "--foreground", "--eif-path", hold_eif, "--cpu-count", "1", "--memory", "64"],
            env={"NITROVM_TEST_SECCOMP_TRIGGER": where}, timeout=LIMIT)
    assert r.returncode == 128 + 31, r.stdout + r.stderr  # SIGSYS
    m = TRAP.search(r.stderr)
    assert m and m.group(1) == thread and m.group(2) == lst, r.stderr
    # Nothing outlives it: no enclave is listed, and its socket went with the record marking it ended.
    r = nv(nitrovm, "describe-enclaves")
    assert r.returncode == 0 and json.loads(r.stdout) == [], r.stdout + r.stderr
