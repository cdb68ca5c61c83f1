# SPDX-License-Identifier: MIT
"""Started as root, the enclave process gives up root before the guest runs (src/enclave/privdrop.h) and still
does its whole day.

run-enclave detached, as root (this tier runs as root), the probe guest asking the NSM for an attestation,
echoing through --vsock-uds in both directions (host-initiated "CONNECT <port>", and guest-initiated to
PATH_<port>, which the enclave process can no longer reach itself: its keeper connects for it) and held running.
Then, from /proc: not root (real, effective, saved and file-system ids), no supplementary groups, no capability
in any set, no_new_privs, a mount namespace of its own whose root is empty; and a process with exactly its
credentials, in its namespace and root, cannot open the CA's key files by their path (nor, outside that
namespace, by permission).  describe-enclaves, console and terminate work, and terminate leaves no socket,
record or process behind.
"""
import json
import os
import socket
import time

from test_lifecycle import dirs, enclave_processes, nv, wait_gone  # noqa: F401 (fixtures)
from test_nsm_containment import assert_keys_out_of_reach
from test_vsock import serve_echo, uds_connect, echo_through, payload

LIMIT = 120


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, v = line.split(":", 1)
            out[k] = v.strip()
    return out


def test_root_start_drops_privileges_and_does_its_day(nitrovm, probe_eif, dirs, tmp_path):  # noqa: F811
    socks, recs = dirs
    state = os.environ["NITROVM_STATE_DIR"]
    uds = str(tmp_path / "v.sock")
    echo = socket.socket(socket.AF_UNIX)
    echo.bind(uds + "_6001")
    echo.listen(8)
    serve_echo(echo)
    eif = probe_eif("privdrop", "probe.vsock=1 probe.nsm=1 probe.vsock.echo=6001:70000 "
                                "probe.vsock.serve=5002:1 probe.hold=1")
    assert os.geteuid() == 0, "this tier runs as root"
    r = nv(nitrovm, "run-enclave", "--eif-path", eif, "--cpu-count", "1", "--memory", "64", "--debug-mode",
           "--vsock-uds", uds)
    assert r.returncode == 0, r.stdout + r.stderr
    info = json.loads(r.stdout[:r.stdout.index("\n}\n") + 3])
    pid, eid = info["ProcessID"], info["EnclaveID"]
    try:
        # Host -> enclave through "CONNECT 5002" on PATH.
        b = payload(50001, 3)
        assert echo_through(uds_connect(uds, 5002), b, time.monotonic() + 60) == b

        # The guest's own checks: the echo to PATH_6001 (guest-initiated), attestation, then it holds.
        deadline, out = time.monotonic() + LIMIT, ""
        while "probe: holding" not in out and time.monotonic() < deadline:
            out = nv(nitrovm, "console", "--enclave-id", eid, "--disconnect-timeout", "1").stdout
        assert "probe: vsock-heartbeat: ok" in out, out
        assert "probe: vsock-echo: ok port 6001: 70000 bytes" in out, out
        assert "probe: vsock-serve: ok port 5002: 1 connections" in out, out
        assert "probe: nsm: ok Attestation" in out, out
        assert "probe: result PASS" in out, out

        s = status(pid)
        uids, gids = s["Uid"].split(), s["Gid"].split()
        assert len(set(uids)) == 1 and uids[0] != "0", s["Uid"]
        assert len(set(gids)) == 1 and gids[0] != "0", s["Gid"]
        assert s["Groups"] == "", s["Groups"]
        for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            assert int(s[cap], 16) == 0, (cap, s[cap])
        assert s["NoNewPrivs"] == "1"
        assert s["Seccomp"] == "2"
        assert os.readlink(f"/proc/{pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
        assert os.listdir(f"/proc/{pid}/root/") == []
        # Every thread switched, not only the one that dropped.
        for tid in os.listdir(f"/proc/{pid}/task"):
            t = status(f"{pid}/task/{tid}")
            assert t["Uid"].split()[0] == uids[0] and int(t["CapEff"], 16) == 0, (tid, t["Uid"], t["CapEff"])

        # The CA's keys exist (the attestation made them) and are out of its reach, by path and by permission.
        assert_keys_out_of_reach(pid, os.path.join(state, "ca"))

        # describe (the control socket), then terminate by nitrovm; nothing is left.
        r = nv(nitrovm, "describe-enclaves")
        assert r.returncode == 0 and json.loads(r.stdout)[0]["State"] == "RUNNING", r.stdout + r.stderr
        r = nv(nitrovm, "terminate-enclave", "--enclave-id", eid)
        assert r.returncode == 0, r.stderr
        assert wait_gone(pid)
    finally:
        echo.close()
    deadline = time.monotonic() + 10
    while enclave_processes(str(socks.parent)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not enclave_processes(str(socks.parent)), "the enclave process or its keeper outlived it"
    assert not list(socks.glob("*.sock")), list(socks.iterdir())
    assert not os.path.exists(uds), "the --vsock-uds socket is removed at the end"
    assert sorted(p.name for p in recs.iterdir()) == [], list(recs.iterdir())
