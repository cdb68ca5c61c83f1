"""nitro-cli's enclave-process protocol, both ends, written from nitro-cli's own source (aws-nitro-enclaves-cli
1.5.0: src/common/mod.rs, src/enclave_proc_comm.rs, src/enclave_proc/{mod,connection,connection_listener}.rs,
src/lib.rs) and not from nitrovm's: the tests drive nitrovm's enclave processes with this client, as a stock
nitro-cli would, and serve this fake enclave process to nitrovm's commands, as a stock nitro-cli's would answer.

Wire format (nitro-cli's): every message is a u64 little-endian length and that many bytes of CBOR (ciborium).
A command is the CBOR text of its variant name, written twice (the connection listener reads one copy, the
event loop the other), then optionally its arguments.  Replies are the externally tagged enum
EnclaveProcessReply: {"StdOutMessage": str}, {"StdErrMessage": str} or {"Status": i32}; GetEnclaveCID and
GetEnclaveFlags answer a bare u64; Describe, GetEnclaveName and GetIDbyName first send the u64 0xEEC0.
"""
import json
import os
import select
import socket
import struct
import threading

import cbor2

MSG_ENCLAVE_CONFIRM = 0xEEC0
ENCLAVE_PROC_WAIT_TIMEOUT_MSEC = 3000
NE_ENCLAVE_DEBUG_MODE = 1
EACCES, EEXIST, EINVAL = 13, 17, 22


def sockets_dir():
    return os.environ.get("NITRO_CLI_SOCKETS_PATH", "/run/nitro_enclaves")


def socket_path(enclave_id):
    """get_socket_path: the part after the last "-enc", plus .sock."""
    return os.path.join(sockets_dir(), enclave_id.rsplit("-enc", 1)[-1] + ".sock")


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return buf


def read_u64_le(sock):
    return struct.unpack("<Q", read_exact(sock, 8))[0]


def write_u64_le(sock, v):
    sock.sendall(struct.pack("<Q", v))


def send_single(sock, cmd, args=None):
    """enclave_proc_command_send_single: the command twice, then the arguments when there are any."""
    cmd_bytes = cbor2.dumps(cmd)
    for _ in range(2):
        write_u64_le(sock, len(cmd_bytes))
        sock.sendall(cmd_bytes)
    if args is not None:
        arg_bytes = cbor2.dumps(args)
        write_u64_le(sock, len(arg_bytes))
        sock.sendall(arg_bytes)


def receive_from_stream(sock):
    size = read_u64_le(sock)
    return cbor2.loads(read_exact(sock, size))


def connect_to_all():
    """enclave_proc_connect_to_all: every *.sock that is not a directory; a socket that refuses (anything but
    a permission error) is stale and deleted."""
    conns = []
    d = sockets_dir()
    for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        path = os.path.join(d, name)
        if not name.endswith(".sock") or os.path.isdir(path):
            continue
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            conns.append(s)
        except PermissionError:
            s.close()
        except OSError:
            s.close()
            try:
                os.unlink(path)
            except OSError:
                pass
    return conns


def send_all(cmd, args=None):
    """enclave_proc_command_send_all: send to every process, then take confirmations, waiting at most 3 s for
    each.  Returns (confirmed sockets, number of processes that failed)."""
    conns = connect_to_all()
    ep = select.epoll()
    sent = 0
    by_fd = {}
    for s in conns:
        try:
            send_single(s, cmd, args)
        except OSError:
            s.close()
            continue
        ep.register(s.fileno(), select.EPOLLIN)
        by_fd[s.fileno()] = s
        sent += 1
    replies = []
    expected = sent
    while expected > 0:
        events = ep.poll(ENCLAVE_PROC_WAIT_TIMEOUT_MSEC / 1000, 1)
        expected -= 1
        if not events:
            continue
        fd = events[0][0]
        s = by_fd[fd]
        ep.unregister(fd)
        try:
            if read_u64_le(s) == MSG_ENCLAVE_CONFIRM:
                replies.append(s)
                continue
        except (OSError, EOFError):
            pass
        s.close()
    ep.close()
    return replies, len(conns) - len(replies)


def handle_output(sock):
    """enclave_proc_handle_output: replies until the stream ends; (decoded stdout JSON or None, status or None,
    stderr text)."""
    out, err, status = "", "", None
    while True:
        try:
            reply = receive_from_stream(sock)
        except (OSError, EOFError, ValueError, cbor2.CBORDecodeError):
            break
        if "StdOutMessage" in reply:
            out += reply["StdOutMessage"]
        elif "StdErrMessage" in reply:
            err += reply["StdErrMessage"]
        elif "Status" in reply:
            status = reply["Status"]
    sock.close()
    try:
        obj = json.loads(out)
    except ValueError:
        obj = None
    return obj, status, err


def describe(metadata=False):
    """describe-enclaves: [(object, status)] of the processes that answered, and the number that failed."""
    conns, failed = send_all("Describe", {"metadata": metadata})
    results = [handle_output(s) for s in conns]
    return [(o, st) for o, st, _ in results if o is not None and st is not None], failed


def get_names():
    conns, _ = send_all("GetEnclaveName")
    return [o for o, st, _ in (handle_output(s) for s in conns) if o is not None and st is not None]


def get_id_by_name(name):
    conns, _ = send_all("GetIDbyName", name)
    ids = [o for o, st, _ in (handle_output(s) for s in conns) if o is not None and st is not None]
    return ids


def connect_single(enclave_id):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(socket_path(enclave_id))
    return s


def get_u64(enclave_id, cmd):
    """enclave_proc_get_cid / enclave_proc_get_flags."""
    with connect_single(enclave_id) as s:
        send_single(s, cmd)
        return read_u64_le(s)


def terminate(enclave_id):
    """terminate-enclave --enclave-id: (object, status, stderr)."""
    s = connect_single(enclave_id)
    send_single(s, "Terminate")
    return handle_output(s)


def terminate_all():
    """terminate_all_enclaves: Terminate to every socket (stale ones deleted); [(object, status, stderr)]."""
    d = sockets_dir()
    results = []
    for name in sorted(os.listdir(d)):
        path = os.path.join(d, name)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            send_single(s, "Terminate")
        except OSError:
            s.close()
            try:
                os.unlink(path)
            except OSError:
                pass
            continue
        results.append(handle_output(s))
    return results


# ---- a stock nitro-cli enclave process, as far as other processes can see it ----

class FakeEnclaveProcess:
    """Listens on <sockets dir>/<slot>.sock and answers like nitro-cli's enclave process (connection.rs and
    mod.rs's handle_command): the owner (this uid) and root may do anything, others only read; a Terminate
    replies "Successfully terminated enclave ID." and the EnclaveTerminateInfo JSON, then the process is gone
    (the socket removed).  describe_info is the EnclaveDescribeInfo dict it describes itself with."""

    def __init__(self, describe_info, debug=False):
        self.info = describe_info
        self.flags = NE_ENCLAVE_DEBUG_MODE if debug else 0
        self.path = socket_path(describe_info["EnclaveID"])
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        os.chmod(self.path, 0o766)
        self.listener.listen(16)
        self.terminated = threading.Event()
        self.commands = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _reply(self, conn, kind, value):
        data = cbor2.dumps({kind: value})
        write_u64_le(conn, len(data))
        conn.sendall(data)

    def _serve(self):
        while not self.terminated.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                try:
                    self._one(conn)
                except (OSError, EOFError, ValueError):
                    pass

    def _one(self, conn):
        cmd = receive_from_stream(conn)      # the connection listener's copy
        cmd = receive_from_stream(conn)      # the event loop's copy
        self.commands.append(cmd)
        if cmd == "GetEnclaveCID":
            write_u64_le(conn, self.info["EnclaveCID"])
        elif cmd == "GetEnclaveFlags":
            write_u64_le(conn, self.flags)
        elif cmd == "GetEnclaveName":
            write_u64_le(conn, MSG_ENCLAVE_CONFIRM)
            self._reply(conn, "StdOutMessage", json.dumps(self.info["EnclaveName"], indent=2) + "\n")
            self._reply(conn, "Status", 0)
        elif cmd == "GetIDbyName":
            write_u64_le(conn, MSG_ENCLAVE_CONFIRM)
            name = receive_from_stream(conn)
            if name == self.info["EnclaveName"]:
                self._reply(conn, "StdOutMessage", json.dumps(self.info["EnclaveID"], indent=2) + "\n")
            self._reply(conn, "Status", 0)
        elif cmd == "Describe":
            args = receive_from_stream(conn)
            write_u64_le(conn, MSG_ENCLAVE_CONFIRM)
            info = dict(self.info)
            if not args.get("metadata"):
                for k in ("ImageName", "ImageVersion", "Metadata"):
                    info.pop(k, None)
            self._reply(conn, "StdOutMessage", json.dumps(info, indent=2) + "\n")
            self._reply(conn, "Status", 0)
        elif cmd == "Terminate":
            self._reply(conn, "StdErrMessage", f"Successfully terminated enclave {self.info['EnclaveID']}.\n")
            self._reply(conn, "StdOutMessage", json.dumps({"EnclaveName": self.info["EnclaveName"],
                                                            "EnclaveID": self.info["EnclaveID"],
                                                            "Terminated": True}, indent=2) + "\n")
            self._reply(conn, "Status", 0)
            self.stop()

    def stop(self):
        self.terminated.set()
        try:
            os.unlink(self.path)
        except OSError:
            pass
        self.listener.close()
