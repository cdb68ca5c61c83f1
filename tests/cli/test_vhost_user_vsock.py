# SPDX-License-Identifier: MIT
"""nitrovm vhost-user-vsock: vhost-device-vsock's command line (the first command of QEMU's nitro-enclave.rst), and the
backend as a socket peer: bad input from a frontend ends that connection, never the backend.  QEMU 7.2 as its
frontend, and nitrovm's own frontend, are in tests/e2e/test_vhost_user.py (they boot a guest)."""
import os
import signal
import socket
import struct
import subprocess
import time

import pytest

from clicheck import error_line
from conftest import nitrovm_path, run


def refused(p, code, fragment):
    line = error_line(p.stderr, code=code, returncode=p.returncode)
    assert fragment in line, line


@pytest.mark.parametrize("args,code,fragment", [
    (["--vm", "guest-cid=3,socket=/tmp/x.sock"], 3, "guest-cid=3"),
    (["--vm", "guest-cid=4"], 1, "needs guest-cid= and socket="),
    (["--vm", "socket=/tmp/x.sock"], 1, "needs guest-cid= and socket="),
    (["--vm", "guest-cid=4,socket=/tmp/x.sock,groups=a+b"], 3, "sibling-VM groups"),
    (["--vm", "guest-cid=4,socket=/tmp/x.sock,colour=red"], 3, "unknown --vm key 'colour'"),
    (["--vm", "guest-cid=4,socket=/tmp/x.sock,forward-listen=9001+x"], 3, "'x' is not a port"),
    (["--vm", "guest-cid=4,socket=/tmp/a.sock", "--vm", "guest-cid=4,socket=/tmp/b.sock"], 3, "two VMs"),
    (["--vm", "guest-cid=4,socket=/tmp/a.sock", "--vm", "guest-cid=5,socket=/tmp/a.sock"], 3, "two VMs"),
    (["--vm", "guest-cid=4,socket=/tmp/a.sock", "--guest-cid", "5"], 2, "not both"),
    (["--config", "vms.yaml"], 3, "not from a YAML file"),
    ([], 1, "no VM to serve"),
    (["--vm"], 3, "needs a value"),
    (["vm"], 3, "is not an option"),
])
def test_bad_command_lines(args, code, fragment):
    refused(run("vhost-user-vsock", *args), code, fragment)


def test_help():
    p = run("vhost-user-vsock", "--help")
    assert p.returncode == 0
    for word in (b"guest-cid=N", b"forward-cid=CID", b"forward-listen=P+P", b"uds-path=PATH", b"heartbeat=on|off"):
        assert word in p.stdout, word


@pytest.fixture
def backend(tmp_path):
    """The page's first command, with uds-path for this host (no vsock loopback needed); yields the socket."""
    sock = str(tmp_path / "vhost4.socket")
    p = subprocess.Popen([nitrovm_path(), "vhost-user-vsock", "--vm",
                          f"guest-cid=4,uds-path={tmp_path}/vm4.vsock,socket={sock}"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    end = time.monotonic() + 20
    while not os.path.exists(sock):
        assert p.poll() is None, p.stderr.read()
        assert time.monotonic() < end, "the backend did not create its socket"
        time.sleep(0.05)
    yield p, sock
    if p.poll() is None:
        p.kill()
    p.wait()


def frontend(sock):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    s.settimeout(10)
    return s


def message(req, payload=b"", flags=1):
    return struct.pack("<III", req, flags, len(payload)) + payload


def reply(s):
    hdr = s.recv(12, socket.MSG_WAITALL)
    req, flags, size = struct.unpack("<III", hdr)
    return req, flags, s.recv(size, socket.MSG_WAITALL) if size else b""


def test_handshake_answers_and_cid_in_config(backend):
    p, sock = backend
    s = frontend(sock)
    s.sendall(message(1))  # GET_FEATURES
    req, flags, payload = reply(s)
    features = struct.unpack("<Q", payload)[0]
    assert req == 1 and flags & 4
    assert features & (1 << 30) and features & (1 << 32), hex(features)  # PROTOCOL_FEATURES, VERSION_1
    s.sendall(message(15))  # GET_PROTOCOL_FEATURES
    proto = struct.unpack("<Q", reply(s)[2])[0]
    assert proto & (1 << 9) and proto & (1 << 3), hex(proto)  # CONFIG, REPLY_ACK
    s.sendall(message(16, struct.pack("<Q", (1 << 9) | (1 << 3))))
    s.sendall(message(3, flags=1 | 8))  # SET_OWNER, need reply
    assert struct.unpack("<Q", reply(s)[2])[0] == 0
    s.sendall(message(24, struct.pack("<III", 0, 8, 0) + bytes(8)))  # GET_CONFIG of guest_cid
    req, flags, payload = reply(s)
    assert req == 24 and struct.unpack("<IIIQ", payload) == (0, 8, 0, 4)
    s.close()
    assert p.poll() is None


@pytest.mark.parametrize("bad", [
    b"\x00" * 5,                                             # a short header, then the connection closes
    message(1, flags=2),                                     # protocol version 2
    message(2, b"\x01"),                                     # SET_FEATURES with 1 byte
    struct.pack("<III", 5, 1, 0xFFFFFFF0),                  # a payload size far out of bounds
    message(5, struct.pack("<II", 9, 0) + bytes(9 * 32)),    # 9 memory regions, and no descriptor
    message(8, struct.pack("<II", 7, 256)),                  # SET_VRING_NUM of queue 7
    message(8, struct.pack("<II", 0, 1000)),                 # a ring of 1000 entries
    message(12, struct.pack("<Q", 0)),                       # SET_VRING_KICK without its descriptor
    message(12, struct.pack("<Q", 1 << 40)),                 # unknown bits in the queue word
    message(24, struct.pack("<III", 250, 8, 0) + bytes(8)),  # config range past 256 bytes
    message(99),                                             # a request nobody defined
    message(6, struct.pack("<Q", 0)),                        # SET_LOG_BASE: never offered
], ids=["short-header", "version-2", "features-1-byte", "huge-size", "9-regions", "queue-7", "ring-1000",
        "kick-without-fd", "kick-bits", "config-past-256", "request-99", "log-base"])
def test_bad_frontend_is_disconnected_and_the_next_served(backend, bad):
    p, sock = backend
    s = frontend(sock)
    s.sendall(bad)
    s.shutdown(socket.SHUT_WR)
    try:
        assert s.recv(64) == b""  # the backend closed it...
    except ConnectionResetError:
        pass  # ...with bytes of ours unread
    s.close()
    # The backend still serves: the next frontend gets its features.
    end = time.monotonic() + 10
    while True:
        try:
            s = frontend(sock)
            s.sendall(message(1))
            assert reply(s)[0] == 1
            break
        except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError, struct.error):
            assert time.monotonic() < end, "the backend stopped serving"
            time.sleep(0.1)
    s.close()
    assert p.poll() is None


def test_sigterm_ends_the_backend_and_removes_its_socket(backend):
    p, sock = backend
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) == 0
    assert not os.path.exists(sock)


def test_a_stalling_frontend_costs_seconds_not_the_backend(tmp_path):
    """A frontend that stops in the middle of a message is dropped after VHOST_USER_MSG_TIMEOUT_MS (5 s); the
    backend's other VM is served meanwhile or right after, never blocked for good."""
    a, b = str(tmp_path / "a.sock"), str(tmp_path / "b.sock")
    p = subprocess.Popen([nitrovm_path(), "vhost-user-vsock", "--vm", f"guest-cid=4,socket={a}", "--vm",
                          f"guest-cid=5,socket={b}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        end = time.monotonic() + 20
        while not (os.path.exists(a) and os.path.exists(b)):
            assert p.poll() is None and time.monotonic() < end
            time.sleep(0.05)
        stall = frontend(a)
        stall.sendall(message(1)[:5])
        time.sleep(0.5)
        t0 = time.monotonic()
        s = frontend(b)
        s.sendall(message(24, struct.pack("<III", 0, 8, 0) + bytes(8)))
        assert struct.unpack("<IIIQ", reply(s)[2])[3] == 5
        assert time.monotonic() - t0 < 8
        stall.settimeout(15)
        try:
            assert stall.recv(64) == b""
        except ConnectionResetError:
            pass
        assert p.poll() is None
    finally:
        p.kill()
        p.wait()
    assert b"stopped in the middle of a message" in p.stderr.read()
