# SPDX-License-Identifier: MIT
"""A QMP client that speaks as QEMU's Python library (qemu.qmp, python/qemu/qmp in QEMU's tree) does:

- it reads the greeting first and negotiates with qmp_capabilities, asking for "oob" only when the greeting
  offers it;
- every command carries an "id" of the library's form ("__qmp#00001"), and the reply is the message with that
  id; messages with "event" in between are queued as events;
- each message is sent as json.dumps(...) without a line end (the library's Message.__bytes__), and the server's
  messages are read a line at a time.

It is written here, not installed: the library is not packaged in Debian bookworm."""
import json
import socket
import time


class QMPError(Exception):
    def __init__(self, error):
        super().__init__(f"{error.get('class')}: {error.get('desc')}")
        self.error_class = error.get("class")
        self.desc = error.get("desc")


class QMPClient:
    def __init__(self, timeout=30):
        self.timeout = timeout
        self.sock = None
        self.file = None
        self.greeting = None
        self.events = []
        self._id = 0

    def connect_unix(self, path, wait=30):
        deadline = time.monotonic() + wait
        while True:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                s.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self._attach(s)

    def connect_tcp(self, host, port, wait=30):
        deadline = time.monotonic() + wait
        while True:
            try:
                s = socket.create_connection((host, port), timeout=self.timeout)
                break
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self._attach(s)

    def _attach(self, s):
        s.settimeout(self.timeout)
        self.sock = s
        self.file = s.makefile("rb")
        self.greeting = self._recv()
        assert "QMP" in self.greeting, self.greeting

    def _recv(self):
        line = self.file.readline()
        if not line:
            raise EOFError("the QMP server closed the connection")
        assert line.endswith(b"\r\n"), line
        return json.loads(line)

    def send_raw(self, data: bytes):
        self.sock.sendall(data)

    def negotiate(self):
        caps = self.greeting["QMP"].get("capabilities", [])
        args = {"enable": ["oob"]} if "oob" in caps else None
        return self.execute("qmp_capabilities", args)

    def execute(self, cmd, arguments=None):
        self._id += 1
        msg_id = f"__qmp#{self._id:05d}"
        msg = {"execute": cmd, "id": msg_id}
        if arguments is not None:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode())
        while True:
            reply = self._recv()
            if "event" in reply:
                self.events.append(reply)
                continue
            assert reply.get("id") == msg_id, f"reply {reply} for {msg_id}"
            if "error" in reply:
                raise QMPError(reply["error"])
            return reply["return"]

    def event(self, name):
        """The next event called name (queued, or read now)."""
        while True:
            for i, e in enumerate(self.events):
                if e["event"] == name:
                    return self.events.pop(i)
            self.events.append(self._recv())

    def close(self):
        if self.sock:
            self.file.close()
            self.sock.close()
            self.sock = None
