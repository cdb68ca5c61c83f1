#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The host side of the vsock e2e scenario, run inside the nested tier's outer guest (tests/e2e/test_vsock.py).

It starts the host services (a TCP echo, a Unix echo at PATH_5002, an AF_VSOCK echo on the outer guest's local
CID through vsock_loopback), runs nitrovm with every bridge at once, waits for "enclave booted", then drives the
enclave's echo server on port 5000 through each bridge from the host (TCP forward-listen with 100 parallel
connections, Firecracker's CONNECT on --vsock-uds, AF_VSOCK forward-listen), while the enclave's own clients reach
the host services (its app, app.sh in test_vsock.py).  Prints what happened; exits with nitrovm's status, or 1 when
a host-side check failed.

usage: vsock_scenario.py NITROVM EIF VSOCK_ECHO WORKDIR
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
BOOT_LIMIT = 400
RUN_LIMIT = 400


def main():
    nitrovm, eif, echo, work = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    uds = os.path.join(work, "v.sock")
    # The outer guest's initramfs leaves the loopback interface down: TCP to 127.0.0.1 needs it.
    for ip in (["ip"], ["busybox", "ip"]):
        if subprocess.run(ip + ["link", "set", "lo", "up"], capture_output=True).returncode == 0:
            break
    services = [
        subprocess.Popen([echo, "serve", "tcp:127.0.0.1:9101", "0"]),
        subprocess.Popen([echo, "serve", f"unix:{uds}_5002", "0"]),
    ]
    if os.path.exists("/dev/vsock"):
        services.append(subprocess.Popen([echo, "serve", "vsock:1:5003", "0"]))
    else:
        print("scenario: no /dev/vsock in the outer guest: the AF_VSOCK bridge cannot be tested", flush=True)
    time.sleep(0.5)
    cmd = [nitrovm, "run-enclave", "--eif-path", eif, "--cpu-count", "2", "--memory", "512",
           "--forward-connect", "vsock:5001=tcp:127.0.0.1:9101", "--vsock-uds", uds, "--forward-vsock", "5003",
           "--forward-listen", "tcp:127.0.0.1:9100=vsock:5000", "--forward-listen", "vsock:5004=vsock:5000"]
    print("scenario: " + " ".join(cmd), flush=True)
    t0 = time.monotonic()
    nv = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    booted = threading.Event()
    lines = []

    def reader():
        for line in nv.stdout:
            lines.append(line)
            sys.stdout.write("enclave| " + line)
            sys.stdout.flush()
            if "enclave booted in" in line:
                booted.set()
    threading.Thread(target=reader, daemon=True).start()
    failed = 0
    if not booted.wait(BOOT_LIMIT):
        print("scenario: FAIL no \"enclave booted\" line", flush=True)
        failed = 1
    else:
        print(f"scenario: booted after {time.monotonic() - t0:.1f} s", flush=True)
        # Wait until the enclave's server listens (one connection), then the checks, all at once.
        r = subprocess.run([echo, "ping", "tcp:127.0.0.1:9100", "1"], capture_output=True, text=True)
        print("scenario: " + (r.stdout + r.stderr).strip(), flush=True)
        failed |= r.returncode != 0
        checks = [subprocess.Popen([echo, "check", a.format(uds=uds), str(n), str(b)], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True) for a, n, b in HOST_CHECKS]
        for p in checks:
            out, _ = p.communicate(timeout=RUN_LIMIT)
            print("scenario: host " + out.strip(), flush=True)
            failed |= p.returncode != 0
    try:
        status = nv.wait(timeout=RUN_LIMIT)
    except subprocess.TimeoutExpired:
        nv.kill()
        status = nv.wait()
        print("scenario: FAIL nitrovm did not exit", flush=True)
    time.sleep(0.2)
    print(f"scenario: nitrovm exited {status} after {time.monotonic() - t0:.1f} s", flush=True)
    for s in services:
        s.kill()
    print(f"scenario: uds socket left behind: {os.path.exists(uds)}", flush=True)
    return 1 if failed else status


if __name__ == "__main__":
    sys.exit(main())
