# SPDX-License-Identifier: MIT
"""The CA key never lives in the process that touches guest memory.

nitrovm's enclave process runs the vCPUs and the device event loop that parses the guest's CBOR; the local CA's
keys belong to the issuer, a process it forks before any guest memory exists (src/nsm/issuer.h). Two proofs, each
on the probe guest asking for an attestation document:

  - strace -f on the whole launch, the chain created on first use and opened again on a second launch: every
    openat, successful or not, of a file under <state dir>/ca whose name holds ".key" (root.key,
    intermediate.key and the temporary files they are written through) comes from the issuer, never from the
    process that opened /dev/kvm or any of its threads;
  - with the enclave held running after its attestation: the private scalars of root.key and intermediate.key,
    big- and little-endian, are nowhere in the enclave process's memory (/proc/PID/mem, every readable mapping,
    guest memory included), while the intermediate's is in the issuer's (the scan's positive control; as root,
    or else the issuer's memory cannot even be read, it being undumpable);
  - started as root with -runas (src/enclave/privdrop.h), the held enclave process cannot even open the key
    files: a process with exactly its uid, gid and (no) groups, in its mount namespace and root, gets ENOENT for
    their paths, and EACCES outside that namespace, where root (the control) opens them.
"""
import contextlib
import ctypes
import os
import re
import signal
import subprocess
import time

from cryptography.hazmat.primitives.serialization import load_pem_private_key

from conftest import run

STRACE = "/usr/bin/strace"
BOOT_LIMIT = 120
ATTESTED = "probe: nsm: ok Attestation"
KEY_NAMES = ("root.key", "intermediate.key")


CLONE_NEWNS = 0x00020000
ENOENT, EACCES = 2, 13


def launch_argv(nitrovm, probe, hold=False, runas=None):
    return [nitrovm, "-M", "nitro-enclave", "-kernel", probe, "-m", "128M", "-nographic",
            *(["-runas", runas] if runas else []), "-append", "probe.nsm=1" + (" probe.hold=1" if hold else "")]


def open_as(pid, uid, gid, path, in_its_namespace):
    """errno of open(path) in a child with uid, gid and no groups, and (in_its_namespace) the mount namespace
    and root of process pid; 0 when it opened."""
    libc = ctypes.CDLL(None, use_errno=True)
    child = os.fork()
    if child == 0:
        code = 100
        try:
            if in_its_namespace:
                ns = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY)
                root = os.open(f"/proc/{pid}/root", os.O_RDONLY | os.O_DIRECTORY)
                if libc.setns(ns, CLONE_NEWNS) != 0:
                    os._exit(101)
                os.fchdir(root)
                os.chroot(".")
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            try:
                os.close(os.open(path, os.O_RDONLY))
                code = 0
            except OSError as e:
                code = e.errno
        finally:
            os._exit(code)
    _, st = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(st)


def ids(pid):
    """(uid, gid) of a process, each the same in all four of its fields, or an AssertionError."""
    got = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, v = line.split(":", 1)
            if k in ("Uid", "Gid"):
                assert len(set(v.split())) == 1, line
                got[k] = int(v.split()[0])
    return got["Uid"], got["Gid"]


def assert_keys_out_of_reach(pid, ca_dir):
    uid, gid = ids(pid)
    assert uid != 0 and gid != 0, (uid, gid)
    for name in KEY_NAMES:
        key = os.path.join(ca_dir, name)
        assert os.path.isfile(key), key
        assert open_as(pid, 0, 0, key, False) == 0, "the control: root, outside its namespace, opens it"
        assert open_as(pid, uid, gid, key, True) == ENOENT, f"{key}: not ENOENT in its namespace and root"
        assert open_as(pid, uid, gid, key, False) == EACCES, f"{key}: not EACCES for its uid and gid"


class Trace:
    """strace -f output (openat, clone, clone3): processes, their threads, and what each opened."""

    LINE = re.compile(r"^(\d+)\s+(.*)$")
    CALL = re.compile(r"^(\w+)\((.*)\) += (-?\d+)")

    def __init__(self, text):
        self.root = None
        self.tgid = {}      # tid -> the process (thread group) it belongs to
        self.opens = []     # (tid, path)
        partial = {}
        for line in text.splitlines():
            m = self.LINE.match(line)
            if not m:
                continue
            tid, rest = int(m.group(1)), m.group(2)
            if self.root is None:
                self.root = tid
                self.tgid[tid] = tid
            if rest.endswith("<unfinished ...>"):
                partial[tid] = rest[:-len("<unfinished ...>")]
                continue
            resumed = re.match(r"^<\.\.\. \w+ resumed>(.*)$", rest)
            if resumed:
                rest = partial.pop(tid, "") + resumed.group(1)
            self.record(tid, rest)

    def record(self, tid, rest):
        call = self.CALL.match(rest)
        if not call:
            return
        name, args, ret = call.group(1), call.group(2), int(call.group(3))
        self.tgid.setdefault(tid, tid)
        if name in ("clone", "clone3") and ret > 0:
            # A thread joins its creator's process; anything else is a process of its own.
            self.tgid[ret] = self.tgid[tid] if "CLONE_THREAD" in args else ret
        elif name == "openat":  # an attempt counts too, the file there or not
            path = re.search(r'"([^"]*)"', args)
            if path:
                self.opens.append((tid, path.group(1)))

    def process_of(self, tid):
        return self.tgid.get(tid, tid)

    def openers(self, predicate):
        return {self.process_of(tid) for tid, path in self.opens if predicate(path)}


def key_file(ca_dir):
    return lambda path: path.startswith(ca_dir + "/") and ".key" in os.path.basename(path)


def traced_launch(nitrovm, probe, state, out):
    r = run([STRACE, "-f", "-qq", "--seccomp-bpf", "-e", "trace=openat,clone,clone3", "-o", str(out),
             *launch_argv(nitrovm, probe)], env={"NITROVM_STATE_DIR": state}, timeout=BOOT_LIMIT)
    assert r.returncode == 0 and ATTESTED in r.stdout, r.stdout[-3000:] + r.stderr[-3000:]
    return Trace(out.read_text())


def test_guest_facing_process_never_opens_a_ca_key(nitrovm, probe, tmp_path):
    state = str(tmp_path / "state")
    ca_dir = os.path.join(state, "ca")
    assert os.access(STRACE, os.X_OK), "strace is needed for this proof (scripts/setup installs it)"
    # First launch: the chain is created; second: it is opened as it is.
    for n in (1, 2):
        t = traced_launch(nitrovm, probe, state, tmp_path / f"trace{n}.txt")
        vmm = t.openers(lambda p: p == "/dev/kvm")
        text = (tmp_path / f"trace{n}.txt").read_text()
        assert vmm == {t.root}, (f"launch {n}: /dev/kvm opened by {vmm}, not by the enclave process {t.root}:\n" +
                                 "\n".join(text.splitlines()[:5] + [x for x in text.splitlines() if "kvm" in x][:10]))
        keys = t.openers(key_file(ca_dir))
        opened = {os.path.basename(p) for _, p in t.opens if key_file(ca_dir)(p)}
        assert {"root.key", "intermediate.key"} <= opened, f"launch {n}: no CA key was opened at all: {opened}"
        mine = {os.path.basename(p) for tid, p in t.opens if key_file(ca_dir)(p) and t.process_of(tid) == t.root}
        assert t.root not in keys, f"launch {n}: the enclave process {t.root} opened {mine}"
        # One other process opened them: the issuer, a child of the enclave process.
        assert len(keys) == 1, f"launch {n}: keys opened by {keys}"
        (issuer,) = keys
        assert t.process_of(issuer) == issuer != t.root


def private_scalar(path):
    key = load_pem_private_key(open(path, "rb").read(), password=None)
    return key.private_numbers().private_value.to_bytes(48, "big")


def memory_holds(pid, needles):
    """Which needles occur in the readable mappings of pid (None when its memory cannot be read at all)."""
    found = set()
    try:
        mem = open(f"/proc/{pid}/mem", "rb", buffering=0)
        maps = open(f"/proc/{pid}/maps").read().splitlines()
    except PermissionError:
        return None
    with mem:
        for line in maps:
            addr, perms = line.split()[:2]
            if perms[0] != "r":
                continue
            start, end = (int(x, 16) for x in addr.split("-"))
            try:
                mem.seek(start)
                data = mem.read(end - start)
            except (OSError, ValueError, OverflowError):
                continue  # [vvar] and the like
            found.update(n for n in needles if n in data)
    return found


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = open(f"/proc/{d}/stat").read()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                out.append((int(d), stat[stat.index("(") + 1:stat.rindex(")")]))
    return out


@contextlib.contextmanager
def held(argv, state):
    """The probe launched by argv, held running after it attested; SIGTERM at the end."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, NITROVM_STATE_DIR=state))
    try:
        seen = ""
        deadline = time.monotonic() + BOOT_LIMIT
        while "probe: holding" not in seen and time.monotonic() < deadline:
            line = p.stdout.readline()
            if not line:
                break
            seen += line
        assert ATTESTED in seen and "probe: holding" in seen, seen[-3000:]
        yield p
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()


def test_ca_key_not_in_enclave_process_memory(nitrovm, probe, tmp_path):
    state = str(tmp_path / "state")
    with held(launch_argv(nitrovm, probe, hold=True), state) as p:
        keys = {name: private_scalar(os.path.join(state, "ca", name)) for name in KEY_NAMES}
        needles = {v for k in keys.values() for v in (k, k[::-1])}
        issuers = [pid for pid, comm in children(p.pid) if comm == "nitrovm-issuer"]
        assert len(issuers) == 1, children(p.pid)

        in_vmm = memory_holds(p.pid, needles)
        assert in_vmm is not None, "the enclave process's memory could not be read"
        assert not in_vmm, "a CA private key is in the enclave process's memory"
        in_issuer = memory_holds(issuers[0], needles)
        if os.geteuid() == 0:
            inter = keys["intermediate.key"]
            assert in_issuer and {inter, inter[::-1]} & in_issuer, \
                "the scan did not find the intermediate key even in the issuer: the scan proves nothing"
        else:
            assert in_issuer is None, "the issuer's memory was readable by its owner: it should be undumpable"


def test_dropped_enclave_process_cannot_open_ca_keys(nitrovm, probe, tmp_path):
    assert os.geteuid() == 0, "this tier runs as root: the drop needs it"
    state = str(tmp_path / "state")
    with held(launch_argv(nitrovm, probe, hold=True, runas="nobody"), state) as p:
        assert_keys_out_of_reach(p.pid, os.path.join(state, "ca"))
