#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""nitrovm's vhost-user-vsock backend with a frontend (tests/e2e/test_vhost_user.py), QEMU's nitro-enclave.rst:

  nitrovm vhost-user-vsock --vm guest-cid=4,socket=S,uds-path=U[,forward-cid=1,forward-listen=5000]
  FRONTEND qemu: QEMU 7.2, a real peer nobody here wrote:
      qemu-system-x86_64 -M microvm -accel kvm -m 512M -object memory-backend-memfd,id=mem,size=512M,share=on
          -numa node,memdev=mem -chardev socket,id=c,path=S -device vhost-user-vsock-device,chardev=c
          -kernel/-initrd/-append: the enclave image's kernel, ramdisks and command line
  FRONTEND nitrovm: the page's own line, with nitrovm's name:
      nitrovm -M nitro-enclave,vsock=c,id=hello-world -kernel IMAGE.eif -nographic -m 512M --enable-kvm
          -cpu host -chardev socket,id=c,path=S

The enclave's init sends its heartbeat to CID 3 port 9000, which the backend answers; its app (app.sh in the
test) serves an echo on port 5000 and checks echoes of the host's through the backend: port 5002 goes to the
Unix echo at U_5002 (uds-path), 5003 to an AF_VSOCK echo on this machine's CID 1 (forward-cid=1, with
vsock_loopback).  The host reaches the app's port 5000 through Firecracker's CONNECT on U, and through AF_VSOCK
CID 1 port 5000 (forward-listen).  Prints what happened; exits 0 when everything checked out and the frontend
exited 0.

usage: vhost_scenario.py NITROVM FRONTEND IMAGE_DIR VSOCK_ECHO WORKDIR ACCEL [SCALE]
  FRONTEND qemu=PATH or nitrovm; IMAGE_DIR holds vmlinuz, initrd, cmdline (QEMU's) and image.eif (nitrovm's);
  ACCEL kvm, or tcg for QEMU where there is no KVM (slower, the same protocol)
"""
import os
import subprocess
import sys
import threading
import time

BOOT_LIMIT = 400
APP_LIMIT = 180


def main():
    nitrovm, frontend, image, echo, work, accel = sys.argv[1:7]
    scale = float(sys.argv[7]) if len(sys.argv) > 7 else 1.0
    os.makedirs(work, exist_ok=True)
    sock = os.path.join(work, "vhost4.socket")
    uds = os.path.join(work, "vm4.vsock")
    have_vsock = os.path.exists("/dev/vsock") and subprocess.run(
        ["sh", "-c", "modprobe vsock_loopback 2>/dev/null; grep -q vsock_loopback /proc/modules"]).returncode == 0
    services = [subprocess.Popen([echo, "serve", f"unix:{uds}_5002", "0"])]
    vm = f"guest-cid=4,socket={sock},uds-path={uds}"
    if have_vsock:
        services.append(subprocess.Popen([echo, "serve", "vsock:1:5003", "0"]))
        vm += ",forward-cid=1,forward-listen=5000"
    else:
        print("scenario: no vsock loopback here: forward-cid and forward-listen are not tested", flush=True)
    backend = subprocess.Popen([nitrovm, "vhost-user-vsock", "--vm", vm], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    threading.Thread(target=lambda: [print("backend| " + l, end="", flush=True) for l in backend.stdout],
                     daemon=True).start()
    end = time.monotonic() + 30
    while not os.path.exists(sock):
        if time.monotonic() > end or backend.poll() is not None:
            print("scenario: FAIL the backend did not create its socket", flush=True)
            return 1
        time.sleep(0.1)
    app = f"app.serve={8 if have_vsock else 4}" + (" app.vsock=1" if have_vsock else "")
    if frontend == "nitrovm":
        cmd = [nitrovm, "-M", "nitro-enclave,vsock=c,id=hello-world", "-kernel", os.path.join(image, "image.eif"),
               "-nographic", "-m", "512M", "--enable-kvm", "-cpu", "host", "-chardev", f"socket,id=c,path={sock}",
               "-append", app]
    else:
        qemu = frontend.split("=", 1)[1]
        # reboot=t: the init's reboot becomes a triple fault, which -no-reboot turns into QEMU's exit (microvm
        # has no keyboard controller); app.serve: the host's connections the app's echo server waits for.
        cmdline = open(os.path.join(image, "cmdline")).read().strip("\0\n ") + " reboot=t " + app
        if accel == "tcg":
            khz = next(int(float(l.split(":")[1]) * 1000) for l in open("/proc/cpuinfo") if l.startswith("cpu MHz"))
            cmdline += f" tsc=reliable tsc_early_khz={khz} lpj=5000000 no_timer_check"
        cmd = [qemu, "-M", "microvm", "-accel", accel, "-m", "512M", "-smp", "1", "-nographic", "-nodefaults",
               "-serial", "stdio", "-no-reboot",
               "-object", "memory-backend-memfd,id=mem,size=512M,share=on", "-numa", "node,memdev=mem",
               "-chardev", f"socket,id=c,path={sock}", "-device", "vhost-user-vsock-device,chardev=c",
               "-kernel", os.path.join(image, "vmlinuz"), "-initrd", os.path.join(image, "initrd"),
               "-append", cmdline]
        if accel == "kvm":
            cmd[5:5] = ["-cpu", "host"]
    print("scenario: " + " ".join(cmd), flush=True)
    t0 = time.monotonic()
    q = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    booted = threading.Event()

    def reader():
        for line in q.stdout:
            sys.stdout.write("frontend| " + line)
            sys.stdout.flush()
            if "APP-SERVING" in line:
                booted.set()
    threading.Thread(target=reader, daemon=True).start()
    failed = 0
    try:
        end = time.monotonic() + BOOT_LIMIT * scale
        while not booted.is_set() and q.poll() is None and time.monotonic() < end:
            time.sleep(0.2)
        if not booted.is_set():
            print("scenario: FAIL the app never served", flush=True)
            failed = 1
        else:
            print(f"scenario: the app serves after {time.monotonic() - t0:.1f} s", flush=True)
            checks = [[echo, "check", f"uds:{uds}:5000", "4", "65536"]]
            if have_vsock:
                checks.append([echo, "check", "vsock:1:5000", "4", "65536"])
            for c in checks:
                r = subprocess.run(c, capture_output=True, text=True, timeout=APP_LIMIT * scale)
                print(f"scenario: host {' '.join(c[1:3])}: {r.returncode} {r.stdout.strip()} {r.stderr.strip()}",
                      flush=True)
                failed |= r.returncode != 0
        try:
            q.wait(timeout=APP_LIMIT * scale)
        except subprocess.TimeoutExpired:
            print("scenario: FAIL the frontend did not exit", flush=True)
            failed = 1
    finally:
        if q.poll() is None:
            q.kill()
        status = q.wait()
        backend.terminate()
        try:
            backend.wait(timeout=10)
        except subprocess.TimeoutExpired:
            backend.kill()
            print("scenario: FAIL the backend did not end on SIGTERM", flush=True)
            failed = 1
        for s in services:
            s.kill()
            s.wait()
    print(f"scenario: the frontend exited {status}, the backend {backend.returncode}", flush=True)
    print(f"scenario: socket left behind: {os.path.exists(sock)}", flush=True)
    return 1 if failed or status != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
