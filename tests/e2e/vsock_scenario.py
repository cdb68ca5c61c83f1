#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The host side of the vsock e2e scenario, run inside the nested tier's outer guest (tests/e2e/test_vsock.py).

It starts the host services (a TCP echo, a Unix echo at PATH_5002, an AF_VSOCK echo on the outer guest's local
CID through vsock_loopback), runs nitrovm with every bridge at once, waits for "enclave booted", then drives the
enclave's echo server on port 5000 through each bridge from the host (TCP forward-listen with 100 parallel
connections, Firecracker's CONNECT on --vsock-uds, AF_VSOCK forward-listen), while the enclave's own clients reach
the host services (its app, app.sh in test_vsock.py).  Prints what happened; exits with nitrovm's status, or 1 when
a host-side check failed.

Every wait is bounded and ends early when nitrovm is gone: a failure shows within seconds of its cause, not at
the step's time limit.  The enclave's app bounds its own waits (APP_LIMIT), so once the enclave booted nitrovm
exits within that, whatever the host side did.

usage: vsock_scenario.py NITROVM EIF VSOCK_ECHO WORKDIR [SCALE]
"""
import os
import subprocess
import sys
import threading
import time

HOST_CHECKS = [
    # (address, connections, bytes each)
    ("tcp:127.0.0.1:9100", 100, 16384),
    ("uds:{uds}:5000", 10, 65536),
    ("vsock:1:5004", 10, 65536),
]
# Seconds, before NITROVM_E2E_TIMEOUT_SCALE: nitrovm's start to "enclave booted" (37-62 s wall here, more on
# a loaded CI host), and the app's start to its end (test_vsock.APP_LIMIT; its waits are bounded by it).
BOOT_LIMIT = 400
APP_LIMIT = 180
# After nitrovm is gone, host checks still running get this long to finish what was in flight.
GRACE = 10
# A booting kernel prints every few seconds even here; a console silent this long before "enclave booted" is the
# nested platform's second-level hang (seen stopped at "x86/mm: Memory block size", both outer vCPUs spinning).
# The words after FAIL are one of e2e's platform signs (tests/e2e/conftest.py), so the step runs again.
SILENT_LIMIT = 120
SILENT_SIGN = "the enclave's console went silent before it booted"


def wait_for(pred, limit, nv):
    """Wait until pred() is true (True), nitrovm exits (False) or limit seconds pass (None)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if pred():
            return True
        if nv.poll() is not None:
            return pred()
        time.sleep(0.2)
    return None


def run_tools(tools, nv, limit):
    """Run vsock_echo commands [(label, args)] at once; each stops at limit, or GRACE seconds after nitrovm
    exited.  Prints their output; 1 if one failed."""
    procs = [(label, subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
             for label, args in tools]
    end = time.monotonic() + limit
    gone = None
    while any(p.poll() is None for _, p in procs) and time.monotonic() < end:
        if gone is None and nv.poll() is not None:
            gone = time.monotonic()
            print(f"scenario: nitrovm exited ({nv.returncode}) while host checks ran", flush=True)
        if gone is not None and time.monotonic() - gone > GRACE:
            break
        time.sleep(0.2)
    failed = 0
    for label, p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
            print(f"scenario: {label}FAIL {p.args[2]}: did not finish", flush=True)
        print(f"scenario: {label}" + p.stdout.read().strip(), flush=True)
        failed |= p.returncode != 0
    return failed


def main():
    nitrovm, eif, echo, work = sys.argv[1:5]
    scale = float(sys.argv[5]) if len(sys.argv) > 5 else 1.0
    os.makedirs(work, exist_ok=True)
    uds = os.path.join(work, "v.sock")
    services = [
        subprocess.Popen([echo, "serve", "tcp:127.0.0.1:9101", "0"]),
        subprocess.Popen([echo, "serve", f"unix:{uds}_5002", "0"]),
    ]
    if os.path.exists("/dev/vsock"):
        services.append(subprocess.Popen([echo, "serve", "vsock:1:5003", "0"]))
    else:
        print("scenario: no /dev/vsock in the outer guest: the AF_VSOCK bridge cannot be tested", flush=True)
    time.sleep(0.5)
    cmd = [nitrovm, "run-enclave", "--foreground", "--eif-path", eif, "--cpu-count", "2", "--memory", "512",
           "--forward-connect", "vsock:5001=tcp:127.0.0.1:9101", "--vsock-uds", uds, "--forward-vsock", "5003",
           "--forward-listen", "tcp:127.0.0.1:9100=vsock:5000", "--forward-listen", "vsock:5004=vsock:5000"]
    print("scenario: " + " ".join(cmd), flush=True)
    t0 = time.monotonic()
    nv = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    booted = threading.Event()
    last_line = [time.monotonic()]

    def reader():
        for line in nv.stdout:
            last_line[0] = time.monotonic()
            sys.stdout.write("enclave| " + line)
            sys.stdout.flush()
            if "enclave booted in" in line:
                booted.set()
    out = threading.Thread(target=reader, daemon=True)
    out.start()
    failed = 0

    def silent():
        return time.monotonic() - last_line[0] > SILENT_LIMIT * scale
    try:
        ok = wait_for(lambda: booted.is_set() or silent(), BOOT_LIMIT * scale, nv)
        if ok and not booted.is_set():
            print(f"scenario: FAIL {SILENT_SIGN} ({SILENT_LIMIT * scale:.0f} s without a line)", flush=True)
            nv.kill()  # a hung guest never ends its app: do not wait for it
            failed = 1
        elif not ok:
            why = f"nitrovm exited {nv.returncode} first" if ok is False else \
                f"not within {BOOT_LIMIT * scale:.0f} s"
            print(f"scenario: FAIL no \"enclave booted\" line: {why}", flush=True)
            failed = 1
        else:
            t_boot = time.monotonic()
            print(f"scenario: booted after {t_boot - t0:.1f} s", flush=True)
            # Wait until the enclave's server listens (one connection), then the checks, all at once.
            limit = APP_LIMIT * scale
            failed = run_tools([("", [echo, "ping", "tcp:127.0.0.1:9100", "1"])], nv, limit)
            if not failed:
                failed = run_tools([("host ", [echo, "check", a.format(uds=uds), str(n), str(b)])
                                    for a, n, b in HOST_CHECKS], nv, limit - (time.monotonic() - t_boot))
        # The app ends by itself within APP_LIMIT of its start (a little after "enclave booted").
        if nv.poll() is None and not wait_for(lambda: nv.poll() is not None, (APP_LIMIT + 30) * scale, nv):
            print("scenario: FAIL nitrovm did not exit", flush=True)
    finally:
        if nv.poll() is None:
            nv.kill()
        status = nv.wait()
        out.join(5)
        for s in services:
            s.kill()
            s.wait()
    print(f"scenario: nitrovm exited {status} after {time.monotonic() - t0:.1f} s", flush=True)
    print(f"scenario: uds socket left behind: {os.path.exists(uds)}", flush=True)
    return 1 if failed else status


if __name__ == "__main__":
    sys.exit(main())
