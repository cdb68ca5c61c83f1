# SPDX-License-Identifier: MIT
"""The nitro-cli user's day on a real KVM: run-enclave detached (returns once the heartbeat arrived), then
describe, console and terminate, by nitrovm's commands and by a client written from nitro-cli's source
(tests/lib/nitrocli_proto.py) as a stock nitro-cli would speak to nitrovm's enclave processes.

The probe guest (probe.vsock=1 probe.hold=1) answers the heartbeat, prints its checks and idles until it is
ended; the mini guests (guests.py) hang or exit at once."""
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

import pytest

import nitrocli_proto as ncli
from clicheck import error_line
from conftest import run
from guests import empty_cpio, mini_bzimage, write_eif

RUN_KEYS = ["EnclaveName", "EnclaveID", "ProcessID", "EnclaveCID", "NumberOfCPUs", "CPUIDs", "MemoryMiB"]
DESCRIBE_KEYS = RUN_KEYS + ["State", "Flags", "Measurements"]
LIMIT = 120
# The enclave process's certificate issuer (src/nsm/issuer.h: NSM_ISSUER_PROC_NAME), a nitrovm process too.
ISSUER_NAME = "nitrovm-issuer"
# The keeper of an enclave process started as root (src/enclave/keeper.h: KEEPER_PROC_NAME).
KEEPER_NAME = "nitrovm-keeper"


@pytest.fixture
def dirs(monkeypatch):
    """Sockets and records of this test only, where other users can reach the sockets (pytest's own temporary
    directories are root's alone); every enclave left at the end is ended."""
    base = pathlib.Path(tempfile.mkdtemp(prefix="nitrovm-lifecycle-"))
    base.chmod(0o755)
    socks, recs = base / "sockets", base / "run"
    monkeypatch.setenv("NITRO_CLI_SOCKETS_PATH", str(socks))
    monkeypatch.setenv("NITROVM_RUN_DIR", str(recs))
    monkeypatch.setenv("NITROVM_STATE_DIR", str(base / "state"))
    yield socks, recs
    if socks.is_dir():
        for p in socks.glob("*.sock"):
            try:
                ncli.terminate(p.stem)
            except (OSError, EOFError):
                pass
    for pid in enclave_processes(str(base)):
        os.kill(pid, signal.SIGKILL)
    shutil.rmtree(base, ignore_errors=True)


def readable_copy(eif):
    """A copy of an image that other users may read."""
    d = tempfile.mkdtemp(prefix="nitrovm-eif-")
    os.chmod(d, 0o755)
    dst = os.path.join(d, os.path.basename(eif))
    shutil.copy(eif, dst)
    os.chmod(dst, 0o644)
    return dst


def nitrovm_processes(marker):
    """(pid, parent pid, name) of the nitrovm processes whose environment names this test's directories."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/environ", "rb") as f:
                env = f.read()
            exe = os.readlink(f"/proc/{d}/exe")
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if os.path.basename(exe).startswith("nitrovm") and marker.encode() in env:
            name = stat[stat.index("(") + 1:stat.rindex(")")]
            found.append((int(d), int(stat[stat.rindex(")") + 2:].split()[1]), name))
    return found


def enclave_processes(marker):
    """PIDs of the enclave processes (not their certificate issuers or keepers) whose environment names this
    test's directories."""
    return [pid for pid, _, name in nitrovm_processes(marker) if name not in (ISSUER_NAME, KEEPER_NAME)]


def keeper_parents(marker):
    """The parent PID of every keeper (one per enclave process started as root)."""
    return [ppid for _, ppid, name in nitrovm_processes(marker) if name == KEEPER_NAME]


def issuer_parents(marker):
    """The parent PID of every certificate issuer (one per emulated enclave, forked by its enclave process)."""
    return [ppid for _, ppid, name in nitrovm_processes(marker) if name == ISSUER_NAME]


@pytest.fixture(scope="module")
def hold_eif(probe_eif):
    return probe_eif("hold", "probe.vsock=1 probe.hold=1")


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    d = tmp_path_factory.mktemp("mini")

    def make(action, **kw):
        return write_eif(str(d / f"{action}.eif"), mini_bzimage(action, **kw), ramdisks=[empty_cpio()])
    return make


def nv(nitrovm, *args, env=None, timeout=LIMIT):
    return run([nitrovm, *args], env=env, timeout=timeout)


def start(nitrovm, eif, *extra, env=None):
    r = nv(nitrovm, "run-enclave", "--eif-path", eif, "--cpu-count", "1", "--memory", "64", *extra, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout[:r.stdout.index("\n}\n") + 3]), r


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes (its parent is init, which reaps it soon).
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:  # gone between the two looks (ENOENT at open, ESRCH at read)
        return False


def wait_gone(pid, secs=30):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_detached_run_describe_terminate(nitrovm, hold_eif, dirs):
    socks, _ = dirs
    info, r = start(nitrovm, hold_eif, "--debug-mode")
    # nitro-cli's lines, then the JSON once the heartbeat arrived; the command has returned.
    assert list(info) == RUN_KEYS
    assert "Start allocating memory..." in r.stderr and "Started enclave with enclave-cid:" in r.stderr
    assert re.search(r"enclave booted in [0-9.]+ s", r.stderr), r.stderr
    pid, eid = info["ProcessID"], info["EnclaveID"]
    assert alive(pid), "the enclave process must outlive the command"
    # nitro-cli's id: <parent>-enc<slot in lowercase hex, no padding>; its socket is named by the slot.
    m = re.fullmatch(r"i-0000000000000000-enc([0-9a-f]+)", eid)
    assert m and not m.group(1).startswith("0"), eid
    assert (socks / f"{m.group(1)}.sock").exists()
    assert info["EnclaveName"] == "hold" and info["EnclaveCID"] >= 16

    # A stock nitro-cli's view, through its own protocol.
    described, failed = ncli.describe()
    assert failed == 0 and len(described) == 1
    obj, status = described[0]
    assert status == 0 and list(obj) == DESCRIBE_KEYS
    assert obj["State"] == "RUNNING" and obj["Flags"] == "DEBUG_MODE" and obj["ProcessID"] == pid
    eif_pcrs = json.loads(nv(nitrovm, "describe-eif", "--eif-path", hold_eif).stdout)["Measurements"]
    assert obj["Measurements"] == eif_pcrs
    assert ncli.get_u64(eid, "GetEnclaveCID") == info["EnclaveCID"]
    assert ncli.get_u64(eid, "GetEnclaveFlags") == ncli.NE_ENCLAVE_DEBUG_MODE
    assert ncli.get_names() == ["hold"]
    assert ncli.get_id_by_name("hold") == [eid] and ncli.get_id_by_name("other") == []
    described, _ = ncli.describe(metadata=True)
    assert described[0][0]["ImageName"] == "hold" and "BuildTime" in described[0][0]["Metadata"]

    # nitrovm's own describe prints the same object.
    r = nv(nitrovm, "describe-enclaves")
    assert r.returncode == 0 and json.loads(r.stdout) == [obj], r.stderr

    # Terminated by the stock client: nitro-cli's reply, and the process and its socket are gone.
    obj, status, err = ncli.terminate(eid)
    assert status == 0 and err == f"Successfully terminated enclave {eid}.\n"
    assert obj == {"EnclaveName": "hold", "EnclaveID": eid, "Terminated": True}
    assert wait_gone(pid)
    assert not list(socks.glob("*.sock"))
    assert nv(nitrovm, "describe-enclaves").stdout == "[]\n"


def test_attach_console_replays_what_came_before(nitrovm, hold_eif, dirs):
    p = subprocess.Popen([nitrovm, "run-enclave", "--eif-path", hold_eif, "--cpu-count", "1", "--memory", "64",
                          "--attach-console"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = ""
    try:
        deadline = time.monotonic() + LIMIT
        while "probe: result" not in out and time.monotonic() < deadline:
            line = p.stdout.readline()
            if not line:
                break
            out += line
        assert "probe: result PASS" in out, out + p.stderr.read()
        cid = json.loads(out[:out.index("\n}\n") + 3])["EnclaveCID"]
        lines = out[out.index("\n}\n") + 3:].splitlines()
        assert lines[0] == f"Connecting to the console for enclave {cid}..."
        assert lines[1] == "Successfully connected to the console."
        # The history: the probe's first line was printed long before the heartbeat, so before we attached.
        assert lines[2].startswith("probe: nitrovm probe guest"), lines[:4]
        r = nv(nitrovm, "terminate-enclave", "--enclave-name", "hold")
        assert r.returncode == 0, r.stderr
        p.wait(timeout=30)
        assert p.returncode == 0
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()


def test_console_command_and_an_ended_enclave(nitrovm, mini, dirs):
    eif = mini("exit", code=3, message="last words\n")
    info, _ = start(nitrovm, eif, "--debug-mode", "--no-heartbeat", "--enclave-name", "short")
    assert wait_gone(info["ProcessID"])
    r = nv(nitrovm, "console", "--enclave-name", "short")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "last words\n"
    assert "has ended (debug exit: the guest wrote 3 to the debug exit port)" in r.stderr
    # terminate-enclave cleans it up; afterwards nothing is left of it.
    r = nv(nitrovm, "terminate-enclave", "--enclave-id", info["EnclaveID"])
    assert r.returncode == 0 and json.loads(r.stdout)["Terminated"] is True, r.stderr
    assert "had already ended" in r.stderr
    r = nv(nitrovm, "console", "--enclave-id", info["EnclaveID"])
    assert "no running or ended enclave" in error_line(r.stderr, code=11, returncode=r.returncode)


def test_production_enclave_has_no_console(nitrovm, mini, dirs):
    info, _ = start(nitrovm, mini("hang"), "--no-heartbeat")
    r = nv(nitrovm, "console", "--enclave-id", info["EnclaveID"])
    assert "include '--debug-mode'" in error_line(r.stderr, code=44, returncode=r.returncode)


def test_names_and_cids_of_simultaneous_launches(nitrovm, hold_eif, dirs):
    """Ten run-enclaves at the same moment all succeed with distinct CIDs and names (nitro-cli's #516)."""
    procs = [subprocess.Popen([nitrovm, "run-enclave", "--eif-path", hold_eif, "--cpu-count", "1", "--memory",
                               "64"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(10)]
    infos = []
    for p in procs:
        out, err = p.communicate(timeout=LIMIT * 2)
        assert p.returncode == 0, err
        infos.append(json.loads(out[:out.index("\n}\n") + 3]))
    names = sorted(i["EnclaveName"] for i in infos)
    assert names == sorted(["hold"] + [f"hold_{k}" for k in range(1, 10)]), names
    assert len({i["EnclaveCID"] for i in infos}) == 10
    assert len({i["EnclaveID"] for i in infos}) == 10
    r = nv(nitrovm, "terminate-enclave", "--all")
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)) == 10
    assert all(wait_gone(i["ProcessID"]) for i in infos)


def wait_console(nitrovm, enclave_id, text, secs=LIMIT):
    """Until the enclave has printed text (so its history holds it before we end the enclave)."""
    end = time.monotonic() + secs
    while time.monotonic() < end:
        r = nv(nitrovm, "console", "--enclave-id", enclave_id, "--disconnect-timeout", "1")
        if text in r.stdout:
            return
        time.sleep(0.2)
    pytest.fail(f"the enclave never printed {text!r}")


def test_sigterm_ends_the_enclave_in_order(nitrovm, mini, dirs):
    socks, recs = dirs
    info, _ = start(nitrovm, mini("hang", message="up\n"), "--no-heartbeat", "--debug-mode")
    wait_console(nitrovm, info["EnclaveID"], "up\n")
    os.kill(info["ProcessID"], signal.SIGTERM)
    assert wait_gone(info["ProcessID"])
    assert not list(socks.glob("*.sock"))
    r = nv(nitrovm, "console", "--enclave-id", info["EnclaveID"])
    assert r.stdout == "up\n" and "has ended (terminated" in r.stderr, r


def test_sigkill_leaves_nothing(nitrovm, mini, dirs):
    """Started as root, the enclave process's keeper (src/enclave/keeper.h) outlives a SIGKILL: it removes the
    socket and writes the record that says the enclave was killed."""
    socks, _ = dirs
    info, _ = start(nitrovm, mini("hang", message="up\n"), "--no-heartbeat", "--debug-mode")
    wait_console(nitrovm, info["EnclaveID"], "up\n")
    os.kill(info["ProcessID"], signal.SIGKILL)
    assert wait_gone(info["ProcessID"])
    deadline = time.monotonic() + 10
    while list(socks.glob("*.sock")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not list(socks.glob("*.sock"))
    r = nv(nitrovm, "describe-enclaves")
    assert r.returncode == 0 and r.stdout == "[]\n", r
    r = nv(nitrovm, "console", "--enclave-id", info["EnclaveID"])
    assert r.stdout == "up\n" and "has ended (killed" in r.stderr, r


def count_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_run_terminate_cycles_leak_nothing(nitrovm, mini, dirs):
    """100 run/terminate cycles: no socket file, record, process or huge page left, and a long-lived
    enclave process beside them, answering the others' name and CID questions, keeps its descriptor count."""
    socks, recs = dirs
    eif = mini("hang")
    keeper, _ = start(nitrovm, eif, "--no-heartbeat", "--enclave-name", "keeper")
    huge = open("/proc/meminfo").read().split("HugePages_Free:")[1].split()[0]
    for i in range(100):
        if i == 10:
            # The keeper's own start-up is over by now (its NSM signer works in the background for a while).
            fds = count_fds(keeper["ProcessID"])
        info, _ = start(nitrovm, eif, "--no-heartbeat", "--enclave-name", "cycle")
        r = nv(nitrovm, "terminate-enclave", "--enclave-id", info["EnclaveID"])
        assert r.returncode == 0, f"cycle {i}: {r.stderr}"
        assert wait_gone(info["ProcessID"]), f"cycle {i}: the enclave process is still there"
    assert sorted(p.name for p in socks.iterdir()) == [".nitrovm.lock", keeper["EnclaveID"].split("-enc")[1] + ".sock"]
    slot = keeper["EnclaveID"].split("-enc")[1]
    assert sorted(p.name for p in recs.iterdir()) == sorted(f"{slot}{s}" for s in (".json", ".log"))
    assert count_fds(keeper["ProcessID"]) == fds
    assert open("/proc/meminfo").read().split("HugePages_Free:")[1].split()[0] == huge
    assert enclave_processes(str(socks.parent)) == [keeper["ProcessID"]]
    # Each cycle's issuer and keeper went with its enclave process (the keeper just after it); the long-lived
    # enclave's are still there.
    assert issuer_parents(str(socks.parent)) == [keeper["ProcessID"]]
    deadline = time.monotonic() + 10
    while keeper_parents(str(socks.parent)) != [keeper["ProcessID"]] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert keeper_parents(str(socks.parent)) == [keeper["ProcessID"]]


def nobody(args, env=None):
    e = dict(os.environ, **(env or {}))
    return subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", *args],
                          capture_output=True, text=True, env=e, timeout=LIMIT)


def test_other_users_may_look_but_not_touch(nitrovm, mini, dirs):
    if os.geteuid() != 0:
        pytest.fail("this test drops to nobody and needs root")
    info, _ = start(nitrovm, mini("hang"), "--no-heartbeat", "--enclave-name", "owned")
    client = readable_copy(ncli.__file__)
    script = ("import sys, json; sys.path.insert(0, %r); import nitrocli_proto as n; "
              "d, f = n.describe(); o, st, err = n.terminate(%r); "
              "print(json.dumps({'described': [x[0]['EnclaveName'] for x in d], 'status': st, 'err': err}))"
              % (os.path.dirname(client), info["EnclaveID"]))
    r = nobody(["/usr/bin/python3", "-c", script])
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["described"] == ["owned"]           # read-only commands are open to everyone
    assert res["status"] == ncli.EACCES             # Terminate is the owner's and root's only
    assert "Only the enclave's owner" in res["err"]
    assert alive(info["ProcessID"])
    r = nobody([nitrovm, "terminate-enclave", "--enclave-id", info["EnclaveID"]])
    error_line(r.stderr, code=38, returncode=r.returncode)
    assert alive(info["ProcessID"])


def test_protocol_abuse_does_not_hurt(nitrovm, mini, dirs):
    info, _ = start(nitrovm, mini("hang"), "--no-heartbeat")
    path = ncli.socket_path(info["EnclaveID"])

    def conn():
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        return s
    # Garbage, an absurd length, a half message, a command it does not know, a peer that never speaks.
    for payload in (b"\xff" * 64, struct.pack("<Q", 1 << 62), struct.pack("<Q", 100) + b"ab",
                    struct.pack("<Q", 9) + b"\x68Explode!" + struct.pack("<Q", 9) + b"\x68Explode!"):
        with conn() as s:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            s.settimeout(10)
            assert s.recv(100) == b""  # closed on us, nothing answered
    stall = [conn() for _ in range(5)]
    t0 = time.monotonic()
    described, failed = ncli.describe()
    assert failed == 0 and described[0][0]["EnclaveID"] == info["EnclaveID"]
    assert time.monotonic() - t0 < 2, "stalled peers must not hold up others"
    for s in stall:
        s.close()
    assert alive(info["ProcessID"])


def test_command_gone_before_boot_ends_the_enclave(nitrovm, mini, dirs):
    """Interrupted before the heartbeat (Ctrl-C): nobody will use that enclave, so it is ended."""
    socks, _ = dirs
    p = subprocess.Popen([nitrovm, "run-enclave", "--eif-path", mini("hang"), "--cpu-count", "1", "--memory",
                          "64"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err = ""
    while "Started enclave" not in err:
        line = p.stderr.readline()
        assert line, "run-enclave ended before the enclave started"
        err += line
    described, _ = ncli.describe()
    assert len(described) == 1 and described[0][0]["State"] == "BOOTING"
    pid = described[0][0]["ProcessID"]
    p.send_signal(signal.SIGINT)
    p.wait(timeout=30)
    assert wait_gone(pid), "the enclave process kept an enclave nobody asked for"
    assert not list(socks.glob("*.sock"))


def test_heartbeat_failure_shows_the_console_tail(nitrovm, mini, dirs):
    eif = mini("hang", message="kernel said something\nand then hung\n")
    r = nv(nitrovm, "run-enclave", "--eif-path", eif, "--cpu-count", "1", "--memory", "64", "--debug-mode",
           env={"NITROVM_HEARTBEAT_TIMEOUT_MS": "500"})
    assert r.returncode == 36, r.stderr
    assert "The enclave's console ended with:\nkernel said something\nand then hung\n" in r.stderr
    assert error_line([l for l in r.stderr.splitlines() if l.startswith("[ E")][0], code=36)
    r = nv(nitrovm, "run-enclave", "--eif-path", eif, "--cpu-count", "1", "--memory", "64",
           env={"NITROVM_HEARTBEAT_TIMEOUT_MS": "500"})
    assert r.returncode == 36 and "run it with --debug-mode to see its console here" in r.stderr


def test_fallback_directory_is_said_once(nitrovm, mini):
    """A user who cannot write /run/nitro_enclaves gets a directory of their own, said once."""
    if os.geteuid() != 0:
        pytest.fail("this test drops to nobody and needs root")
    eif = readable_copy(mini("hang"))
    env = {"NITRO_CLI_SOCKETS_PATH": "", "NITROVM_RUN_DIR": "", "XDG_RUNTIME_DIR": "", "HOME": "/",
           "NITROVM_KVM_DEVICE": "/nonexistent/kvm"}
    shutil.rmtree("/tmp/nitro_enclaves-65534", ignore_errors=True)
    first = nobody([nitrovm, "run-enclave", "--eif-path", eif, "--cpu-count", "1", "--memory", "64"], env)
    second = nobody([nitrovm, "run-enclave", "--eif-path", eif, "--cpu-count", "1", "--memory", "64"], env)
    note = "enclave sockets go to /tmp/nitro_enclaves-65534"
    assert note in first.stderr and note not in second.stderr, (first.stderr, second.stderr)
    for r in (first, second):
        assert "/nonexistent/kvm" in error_line(r.stderr, code=19, returncode=r.returncode)
    assert os.stat("/tmp/nitro_enclaves-65534").st_uid == 65534
