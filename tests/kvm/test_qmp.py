# SPDX-License-Identifier: MIT
"""QMP on the QEMU front end, with a client that speaks as QEMU's Python library does
(tests/lib/qmpclient.py): the greeting, negotiation, the queries, qom-get of the CID where QEMU's nitro page
puts it, system_powerdown and quit with their events.  The enclave is the probe, held running (probe.hold=1)."""
import json
import os
import socket
import subprocess
import time

import pytest

from guests import write_eif, empty_cpio
from qmpclient import QMPClient, QMPError


@pytest.fixture
def held_eif(probe, tmp_path):
    return write_eif(str(tmp_path / "hold.eif"), open(probe, "rb").read(), cmdline="console=ttyS0 probe.hold=1",
                     ramdisks=[empty_cpio()])


def start(nitrovm, eif, qmp, *extra):
    return subprocess.Popen([nitrovm, "-M", "nitro-enclave,guest-cid=9", "-kernel", eif, "-m", "64M", "-smp",
                             "2,sockets=1,cores=2,threads=1", "-name", "guest=qmp-test", "-nographic",
                             "-qmp", qmp, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_console(p, text, timeout=60):
    """Read the enclave's console until text shows (the probe says it holds)."""
    seen = ""
    deadline = time.monotonic() + timeout
    fd = p.stdout.fileno()
    os.set_blocking(fd, False)
    while text not in seen:
        assert time.monotonic() < deadline, f"no {text!r} on the console: {seen}"
        assert p.poll() is None, f"nitrovm ended ({p.returncode}): {seen}"
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            chunk = b""
        if chunk:
            seen += chunk.decode(errors="replace")
        else:
            time.sleep(0.1)
    return seen


def console_bytes(p):
    """What the console printed so far, without waiting."""
    os.set_blocking(p.stdout.fileno(), False)
    try:
        return os.read(p.stdout.fileno(), 65536)
    except BlockingIOError:
        return b""


def finish(p, timeout=30):
    os.set_blocking(p.stdout.fileno(), True)
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out, err


def test_qmp_unix_queries_and_quit(nitrovm, held_eif, tmp_path):
    path = str(tmp_path / "qmp.sock")
    p = start(nitrovm, held_eif, f"unix:{path},server=on,wait=off")
    try:
        wait_console(p, "probe: holding")
        c = QMPClient()
        c.connect_unix(path)
        g = c.greeting["QMP"]
        assert g["capabilities"] == [] and set(g["version"]["qemu"]) == {"major", "minor", "micro"}
        assert "nitrovm" in g["version"]["package"]
        # Before negotiation, commands are refused as QEMU refuses them.
        with pytest.raises(QMPError) as e:
            c.execute("query-status")
        assert e.value.error_class == "CommandNotFound" and "qmp_capabilities" in e.value.desc
        assert c.negotiate() == {}
        with pytest.raises(QMPError) as e:
            c.negotiate()
        assert e.value.error_class == "CommandNotFound"
        assert c.execute("query-status") == {"status": "running", "singlestep": False, "running": True}
        assert c.execute("query-version") == g["version"]
        assert c.execute("query-name") == {"name": "qmp-test"}
        # The CID is guest-cid's, read where QEMU's nitro documentation reads it.
        assert c.execute("qom-get", {"path": "/machine/peripheral/nitro-vsock", "property": "enclave-cid"}) == 9
        assert c.execute("qom-get", {"path": "nitro-vsock", "property": "enclave-cid"}) == 9
        names = {x["name"] for x in c.execute("query-commands")}
        assert {"qom-get", "quit", "system_powerdown", "query-status"} <= names
        for args, cls in [({"path": "/machine/peripheral/nope", "property": "enclave-cid"}, "DeviceNotFound"),
                          ({"path": "/machine/peripheral/nitro-vsock", "property": "x"}, "GenericError"),
                          ({"path": "/machine/peripheral/nitro-vsock"}, "GenericError"),
                          ({"path": 5, "property": "enclave-cid"}, "GenericError")]:
            with pytest.raises(QMPError) as e:
                c.execute("qom-get", args)
            assert e.value.error_class == cls, (args, e.value.desc)
        with pytest.raises(QMPError) as e:
            c.execute("cont")
        assert e.value.error_class == "CommandNotFound"
        # A second client at the same time: its own session, and both hear the events.
        c2 = QMPClient()
        c2.connect_unix(path)
        c2.negotiate()
        assert c.execute("quit") == {}
        for client in (c, c2):
            ev = client.event("SHUTDOWN")
            assert ev["data"] == {"guest": False, "reason": "host-qmp-quit"}, ev
            assert set(ev["timestamp"]) == {"seconds", "microseconds"}
        rc, out, err = finish(p)
        assert rc == 0, err
        assert not os.path.exists(path), "the QMP socket file outlived nitrovm"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_qmp_tcp_system_powerdown(nitrovm, held_eif):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = start(nitrovm, held_eif, f"tcp:127.0.0.1:{port},server=on,wait=off")
    try:
        wait_console(p, "probe: holding")
        c = QMPClient()
        c.connect_tcp("127.0.0.1", port)
        c.negotiate()
        assert c.execute("query-status")["running"] is True
        assert c.execute("system_powerdown") == {}
        assert "data" not in c.event("POWERDOWN")
        ev = c.event("SHUTDOWN")
        assert ev["data"]["guest"] is False, ev
        rc, out, err = finish(p)
        assert rc == 0, err
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_qmp_stream_framing_and_bad_input(nitrovm, held_eif, tmp_path):
    """Messages split over writes, several in one write, whitespace between them; then what is not JSON gets
    an error and the connection closes, while the enclave runs on and another client is served."""
    path = str(tmp_path / "qmp.sock")
    p = start(nitrovm, held_eif, f"unix:{path},server=on,wait=off")
    try:
        wait_console(p, "probe: holding")
        c = QMPClient()
        c.connect_unix(path)
        msg = b'{"execute": "qmp_capabilities", "id": 1}'
        c.send_raw(msg[:10])
        time.sleep(0.2)
        c.send_raw(msg[10:] + b'\n  {"execute": "query-name", "id": [2]}{"execute": "query-status", "id": {"x": 3}}')
        replies = [c._recv() for _ in range(3)]
        assert replies[0] == {"return": {}, "id": 1}
        assert replies[1] == {"return": {"name": "qmp-test"}, "id": [2]}
        assert replies[2]["id"] == {"x": 3} and replies[2]["return"]["status"] == "running"
        c.send_raw(b'[1, 2]{"execute": 7}{"arguments": {}}{"execute": "quit", "arguments": []}{"x": 1, "execute": "quit"}')
        errors = [c._recv()["error"]["desc"] for _ in range(5)]
        assert errors == ["QMP input must be a JSON object", "QMP input member 'execute' must be a string",
                          "QMP input lacks member 'execute'", "QMP input member 'arguments' must be an object",
                          "QMP input member 'x' is unexpected"], errors
        c.send_raw(b'{"execute": "query-name"} }}} not json')
        assert c._recv()["return"] == {"name": "qmp-test"}
        assert "JSON parse error" in c._recv()["error"]["desc"]
        with pytest.raises(EOFError):
            c._recv()
        # Over the message bound: refused and closed.
        big = QMPClient()
        big.connect_unix(path)
        big.send_raw(b'{"execute": "' + b"a" * (70 * 1024))
        assert "over" in big._recv()["error"]["desc"]
        with pytest.raises((EOFError, ConnectionResetError)):
            big._recv()
        assert p.poll() is None, "a bad QMP client ended the enclave"
        d = QMPClient()
        d.connect_unix(path)
        d.negotiate()
        assert d.execute("qom-get", {"path": "/machine/peripheral/nitro-vsock", "property": "enclave-cid"}) == 9
        d.execute("quit")
        rc, out, err = finish(p)
        assert rc == 0, err
        assert "QMP" in err  # the closed connections were logged, one line each
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_qmp_wait_on_holds_the_start(nitrovm, held_eif, tmp_path):
    """wait=on (QEMU's default for a server): nothing boots until a client connects."""
    path = str(tmp_path / "qmp.sock")
    p = start(nitrovm, held_eif, f"unix:{path},server=on")
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(path):
            assert time.monotonic() < deadline and p.poll() is None
            time.sleep(0.1)
        time.sleep(1)
        assert not console_bytes(p), "the enclave ran before a QMP client connected"
        c = QMPClient()
        c.connect_unix(path)
        c.negotiate()
        wait_console(p, "probe: holding")
        assert c.execute("query-status")["status"] == "running"
        c.execute("quit")
        rc, out, err = finish(p)
        assert rc == 0, err
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_qmp_guest_end_is_reported(nitrovm, tmp_path):
    """The enclave ends by itself: SHUTDOWN says the guest did it."""
    from guests import mini_bzimage
    k = tmp_path / "slow.bzImage"
    k.write_bytes(mini_bzimage("exit", message="bye\n", code=0))
    path = str(tmp_path / "qmp.sock")
    p = subprocess.Popen([nitrovm, "-M", "nitro-enclave", "-kernel", str(k), "-qmp", f"unix:{path},server=on"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        c = QMPClient()
        c.connect_unix(path)
        c.negotiate()
        ev = c.event("SHUTDOWN")
        assert ev["data"] == {"guest": True, "reason": "guest-shutdown"}, ev
        rc, out, err = finish(p)
        assert rc == 0 and out == "bye\n", (rc, out, err)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def alive(pid):
    """Running (an orphan's zombie, which a busybox init may leave unreaped, has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_daemonize_pidfile_and_qmp(nitrovm, held_eif, tmp_path):
    """-daemonize returns once the enclave runs; -pidfile names the daemon, which QMP then ends (quit), and the
    pid file goes with it."""
    path = str(tmp_path / "qmp.sock")
    pidfile = tmp_path / "enclave.pid"
    console = tmp_path / "console.log"
    r = subprocess.run([nitrovm, "-M", "nitro-enclave,guest-cid=11", "-kernel", held_eif, "-m", "64M",
                        "-daemonize", "-pidfile", str(pidfile), "-serial", f"file:{console}", "-display", "none",
                        "-qmp", f"unix:{path},server=on,wait=off"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    pid = int(pidfile.read_text())
    assert alive(pid)  # the daemon runs
    c = QMPClient()
    c.connect_unix(path)
    c.negotiate()
    assert c.execute("qom-get", {"path": "/machine/peripheral/nitro-vsock", "property": "enclave-cid"}) == 11
    deadline = time.monotonic() + 60
    while "probe: holding" not in console.read_text():
        assert time.monotonic() < deadline, console.read_text()
        time.sleep(0.2)
    c.execute("quit")
    assert c.event("SHUTDOWN")["data"]["reason"] == "host-qmp-quit"
    deadline = time.monotonic() + 30
    while pidfile.exists() or alive(pid):
        assert time.monotonic() < deadline, "the daemon did not end, or left its pid file"
        time.sleep(0.2)
