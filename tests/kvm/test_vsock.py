# SPDX-License-Identifier: MIT
"""vsock services of run-enclave on this host's KVM: the heartbeat's timeout (E36), --no-heartbeat, and the
debug console read through vsock CID 0 port CID + 10000 with --attach-console.

With the probe guest (guest/probe/vsock.c, probe.vsock=1): the heartbeat's happy path and a wrong byte (E36),
and echo round trips in both directions through the host bridges (src/vsock/bridge*.c): the probe connects to a
parent port that --forward-connect joins to a TCP echo server here, and serves an echo port that the host reaches
through --forward-listen and through Firecracker's "CONNECT <port>" on --vsock-uds; the guest resetting the device
under an open host connection."""
import os
import socket
import subprocess
import threading
import time

import pytest

from conftest import run
from net import free_port
from guests import mini_bzimage, write_eif, empty_cpio


def mini_eif(tmp_path, action, **kw):
    return write_eif(str(tmp_path / f"{action}.eif"), mini_bzimage(action, **kw), ramdisks=[empty_cpio()])


def test_missing_heartbeat_is_e36(nitrovm, tmp_path):
    eif = mini_eif(tmp_path, "hang")
    t0 = time.monotonic()
    r = run([nitrovm, "run-enclave", "--foreground", "--eif-path", eif, "--cpu-count", "1", "--memory", "64"],
            env={"NITROVM_HEARTBEAT_TIMEOUT_MS": "300"})
    assert r.returncode == 36, r.stderr
    assert time.monotonic() - t0 < 20
    last = r.stderr.rstrip().splitlines()[-1]
    assert last.startswith("[ E36 ] Waiting on enclave to boot failed with error VsockTimeoutError"), r.stderr
    assert "mini guest up" in r.stdout


def test_no_heartbeat_leaves_the_enclave_alone(nitrovm, tmp_path):
    eif = mini_eif(tmp_path, "exit", code=0, message="bye\n")
    # The guest takes a moment to exit; with --no-heartbeat no timer runs at all, so even 1 ms cannot fire.
    r = run([nitrovm, "run-enclave", "--foreground", "--eif-path", eif, "--cpu-count", "1", "--memory", "64", "--no-heartbeat"],
            env={"NITROVM_HEARTBEAT_TIMEOUT_MS": "1"})
    assert r.returncode == 0, r.stderr
    assert "E36" not in r.stderr


def test_attach_console_reads_the_vsock_console(nitrovm, tmp_path):
    eif = mini_eif(tmp_path, "exit", code=0, message="through the vsock console\n")
    r = run([nitrovm, "run-enclave", "--foreground", "--eif-path", eif, "--cpu-count", "1", "--memory", "64", "--enclave-cid", "42",
             "--attach-console"])
    assert r.returncode == 0, r.stderr
    # Exactly once: the serial console is not also copied straight to stdout.
    assert r.stdout.count("through the vsock console") == 1, r.stdout


# ---- the probe guest through the host bridges ----

def serve_echo(sock, accept_n=None):
    """Echo every connection of a listening socket until its peer half-closes, then half-close back."""
    def one(c):
        with c:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                c.sendall(b)
            c.shutdown(socket.SHUT_WR)
            c.recv(1)  # wait for the peer's close

    def loop():
        n = 0
        while accept_n is None or n < accept_n:
            try:
                c, _ = sock.accept()
            except OSError:
                return
            n += 1
            threading.Thread(target=one, args=(c,), daemon=True).start()

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return t


def payload(n, seed):
    return bytes((i * 31 + seed + (i >> 11)) & 0xff for i in range(n))


def echo_through(connect, data, deadline):
    """Send data on a fresh connection from connect(), half-close, read to EOF.  Retries while the guest does
    not listen yet (the connection is refused: closed before any byte comes back)."""
    while time.monotonic() < deadline:
        s = connect()
        if s is None:
            time.sleep(0.2)
            continue
        got = bytearray()
        with s:
            try:
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
            except OSError:
                # Refused while we were still sending: the bridge closed its end (EPIPE, ECONNRESET, or
                # ENOTCONN at the shutdown).
                time.sleep(0.2)
                continue
            while True:
                try:
                    b = s.recv(65536)
                except ConnectionResetError:
                    break
                if not b:
                    break
                got += b
        if got:
            return bytes(got)
        time.sleep(0.2)
    return None


def uds_connect(path, port):
    def connect():
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(30)
        try:
            s.connect(path)
            s.sendall(f"CONNECT {port}\n".encode())
            line = b""
            while not line.endswith(b"\n"):
                b = s.recv(1)  # one byte at a time: what follows the line is the stream
                if not b:
                    s.close()
                    return None
                line += b
        except OSError:
            s.close()
            return None
        assert line.startswith(b"OK ") and int(line[3:]) >= 1 << 30, line
        return s
    return connect


def tcp_connect(port):
    def connect():
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=30)
        except OSError:
            return None
    return connect


@pytest.fixture(scope="module")
def probe_eif(nitrovm, probe, tmp_path_factory):
    d = tmp_path_factory.mktemp("vsock-eif")

    def build(name, cmdline):
        (d / "rd").mkdir(exist_ok=True)
        (d / "rd" / "x").write_text("x\n")
        eif = d / f"{name}.eif"
        r = run([nitrovm, "build-enclave", "--kernel", probe, "--cmdline", "console=ttyS0 " + cmdline,
                 "--ramdisk-dir", str(d / "rd"), "--output-file", str(eif)])
        assert r.returncode == 0, r.stderr
        return str(eif)
    return build


def test_probe_heartbeat_and_echo_both_ways(nitrovm, probe_eif, tmp_path):
    echo = socket.create_server(("127.0.0.1", 0))
    serve_echo(echo)
    fwd = free_port()
    uds = str(tmp_path / "v.sock")
    eif = probe_eif("echo", "probe.vsock=1 probe.vsock.echo=5001:300000 probe.vsock.serve=5002:2")
    proc = subprocess.Popen([nitrovm, "run-enclave", "--foreground", "--eif-path", eif, "--cpu-count", "1", "--memory", "64",
                             "--forward-connect", f"vsock:5001=tcp:127.0.0.1:{echo.getsockname()[1]}",
                             "--forward-listen", f"tcp:127.0.0.1:{fwd}=vsock:5002", "--vsock-uds", uds],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        a, b = payload(200000, 1), payload(150001, 2)
        echoed = [echo_through(tcp_connect(fwd), a, deadline) == a]
        echoed.append(echoed[0] and echo_through(uds_connect(uds, 5002), b, deadline) == b)
        if not all(echoed):
            proc.terminate()
        out, err = proc.communicate(timeout=60)
        # What nitrovm and the probe said is the evidence when an echo did not come back.
        assert all(echoed), f"echoes through tcp, uds: {echoed}\n{err}{out[-4000:]}"
    finally:
        proc.kill()
        echo.close()
    # The probe's own lines say which of its checks failed, when one did.
    assert proc.returncode == 0, err + out[-4000:]
    assert "enclave booted in" in err, err
    assert "probe: vsock-heartbeat: ok 0xb7 echoed" in out, out
    assert "probe: vsock-echo: ok port 5001: 300000 bytes there and back" in out, out
    assert "probe: vsock-serve: ok port 5002: 2 connections, 350001 bytes echoed" in out, out
    assert "probe: result PASS" in out, out
    assert not os.path.exists(uds), "the --vsock-uds socket is removed at exit"


def test_probe_device_reset_with_a_host_connection_open(nitrovm, probe_eif):
    """The guest's driver resets the vsock device while a host client is connected through a bridge (Linux's
    driver resets it at probe, and a client may connect as soon as the listener exists): that connection is
    reset, the enclave lives on and the device serves again.  This once ended the enclave with status 159: the
    vCPU thread that wrote the reset closed the host socket itself, with calls outside its allow-list."""
    fwd_reset, fwd = free_port(), free_port()
    eif = probe_eif("reset", "probe.vsock=1 probe.vsock.reset=5003 probe.vsock.serve=5002:1")
    proc = subprocess.Popen([nitrovm, "run-enclave", "--foreground", "--eif-path", eif, "--cpu-count", "1", "--memory", "64",
                             "--forward-listen", f"tcp:127.0.0.1:{fwd_reset}=vsock:5003",
                             "--forward-listen", f"tcp:127.0.0.1:{fwd}=vsock:5002"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []

    def read_console():
        for line in proc.stdout:
            lines.append(line)
    reader = threading.Thread(target=read_console, daemon=True)
    reader.start()
    echoed = False
    try:
        deadline = time.monotonic() + 60
        # Connect and send until the probe took a connection and reset the device under it (before it
        # listens, a connection is refused: closed with nothing back).
        while time.monotonic() < deadline and not any("probe: vsock-reset:" in l for l in lines):
            s = tcp_connect(fwd_reset)()
            if s is None:
                time.sleep(0.2)
                continue
            with s:
                try:
                    s.sendall(b"r" * 1000)
                    while s.recv(4096):
                        pass
                except OSError:
                    pass
            time.sleep(0.2)
        data = payload(100000, 3)
        echoed = echo_through(tcp_connect(fwd), data, deadline) == data
        if not echoed:
            proc.terminate()
        proc.wait(timeout=60)
        reader.join(timeout=10)
        err = proc.stderr.read()
    finally:
        proc.kill()
    out = "".join(lines)
    assert echoed and proc.returncode == 0, err + out[-4000:]
    assert "probe: vsock-reset: ok port 5003: device reset with a connection open" in out, out
    assert "probe: vsock-serve: ok port 5002: 1 connections, 100000 bytes echoed" in out, out
    assert "probe: result PASS" in out, out


def test_probe_wrong_heartbeat_byte_is_e36(nitrovm, probe_eif):
    eif = probe_eif("badhb", "probe.vsock=1 probe.vsock.hb=0x42 probe.hold=1")
    r = run([nitrovm, "run-enclave", "--foreground", "--eif-path", eif, "--cpu-count", "1", "--memory", "64"])
    assert r.returncode == 36, r.stderr
    last = r.stderr.rstrip().splitlines()[-1]
    assert last.startswith("[ E36 ] Waiting on enclave to boot failed with error VsockReceivingError"), r.stderr
    assert "0x42" in last, last


def test_probe_missing_heartbeat_is_e36(nitrovm, probe_eif):
    eif = probe_eif("nohb", "probe.vsock=1 probe.vsock.nohb=1 probe.hold=1")
    r = run([nitrovm, "run-enclave", "--foreground", "--eif-path", eif, "--cpu-count", "1", "--memory", "64"],
            env={"NITROVM_HEARTBEAT_TIMEOUT_MS": "2000"})
    assert r.returncode == 36, r.stderr
    assert "VsockTimeoutError" in r.stderr.rstrip().splitlines()[-1], r.stderr
    assert "probe: vsock: ok device ready" in r.stdout, r.stdout


def test_qemu_front_end_uds_guest_to_host(nitrovm, probe, tmp_path):
    """Enclave -> host through PATH_<port> (Firecracker's guest-initiated direction), on the QEMU front end."""
    uds = str(tmp_path / "v.sock")
    echo = socket.socket(socket.AF_UNIX)
    echo.bind(uds + "_6001")
    echo.listen(8)
    serve_echo(echo)
    r = run([nitrovm, "-M", "nitro-enclave", "-kernel", probe, "-m", "64M", "-nographic", "--vsock-uds", uds,
             "-append", "probe.vsock=1 probe.vsock.echo=6001:70000 probe.vsock.echo=6001:70000"])
    echo.close()
    assert r.returncode == 0, r.stderr
    assert "probe: vsock-echo: ok port 6001: 70000 bytes" in r.stdout, r.stdout


def test_bridge_options_are_checked(nitrovm, probe):
    r = run([nitrovm, "run-enclave", "--foreground", "--eif-path", probe, "--cpu-count", "1", "--memory", "64",
             "--forward-listen", "tcp:10.1.2.3:8000=vsock:8000"])
    assert r.returncode == 3, r.stderr
    assert "not a loopback address" in r.stderr and "--forward-remote" in r.stderr, r.stderr
    r = run([nitrovm, "run-enclave", "--foreground", "--eif-path", probe, "--cpu-count", "1", "--memory", "64",
             "--forward-connect", "vsock:x=tcp:127.0.0.1:1"])
    assert r.returncode == 3, r.stderr
    assert "not a port number" in r.stderr, r.stderr
    r = run([nitrovm, "run-enclave", "--help"])
    assert "--forward-listen" in r.stdout and "--vsock-uds" in r.stdout
