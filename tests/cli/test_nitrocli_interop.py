# SPDX-License-Identifier: MIT
"""nitrovm's describe-enclaves, terminate-enclave and console against enclave processes that speak nitro-cli's
protocol as a stock nitro-cli's do (tests/lib/nitrocli_proto.FakeEnclaveProcess, written from nitro-cli's
source): what nitrovm's commands do to enclaves that nitro-cli started on EC2.  No KVM needed."""
import json
import socket
import subprocess
import time

import pytest

from clicheck import error_line
from nitrocli_proto import FakeEnclaveProcess


def info(slot, name, cid, debug=False):
    return {
        "EnclaveName": name,
        "EnclaveID": f"i-0abc1234def567890-enc{slot}",
        "ProcessID": 4242,
        "EnclaveCID": cid,
        "NumberOfCPUs": 2,
        "CPUIDs": [1, 3],
        "MemoryMiB": 512,
        "State": "RUNNING",
        "Flags": "DEBUG_MODE" if debug else "NONE",
        "Measurements": {"HashAlgorithm": "Sha384 { ... }", "PCR0": "00" * 48, "PCR1": "11" * 48,
                         "PCR2": "22" * 48},
        "ImageName": name,
        "ImageVersion": "1.0",
        "Metadata": {"BuildTime": "2024-01-01T00:00:00+00:00", "BuildTool": "nitro-cli",
                     "BuildToolVersion": "1.5.0", "OperatingSystem": "Linux", "KernelVersion": "6.1",
                     "DockerInfo": None},
    }


@pytest.fixture
def sockdir(tmp_path, monkeypatch):
    d = tmp_path / "sockets"
    d.mkdir()
    monkeypatch.setenv("NITRO_CLI_SOCKETS_PATH", str(d))
    monkeypatch.setenv("NITROVM_RUN_DIR", str(tmp_path / "run"))
    return d


def nv(nitrovm, *args, timeout=60):
    return subprocess.run([nitrovm, *args], capture_output=True, text=True, timeout=timeout)


def test_describe_lists_nitro_cli_enclaves(nitrovm, sockdir):
    a = FakeEnclaveProcess(info("1f0a", "app", 16))
    b = FakeEnclaveProcess(info("2b", "db", 17))
    try:
        r = nv(nitrovm, "describe-enclaves")
        assert r.returncode == 0, r.stderr
        got = json.loads(r.stdout)
        assert sorted(e["EnclaveName"] for e in got) == ["app", "db"]
        app = next(e for e in got if e["EnclaveName"] == "app")
        expected = {k: v for k, v in a.info.items() if k not in ("ImageName", "ImageVersion", "Metadata")}
        assert app == expected
        # serde's pretty layout, keys in nitro-cli's order
        assert list(app) == list(expected)
        assert r.stdout.startswith("[\n  {\n    \"EnclaveName\": ")
        r = nv(nitrovm, "describe-enclaves", "--metadata")
        got = json.loads(r.stdout)
        assert all(e["Metadata"]["BuildTool"] == "nitro-cli" for e in got)
    finally:
        a.stop()
        b.stop()


def test_describe_with_none_is_an_empty_array(nitrovm, sockdir):
    r = nv(nitrovm, "describe-enclaves")
    assert r.returncode == 0 and r.stdout == "[]\n", r


def test_stale_sockets_are_removed_on_discovery(nitrovm, sockdir):
    stale = sockdir / "dead.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(stale))
    s.close()  # bound, never listened: connect() is refused, as for a process that died
    other = sockdir / "notes.txt"
    other.write_text("not a socket of anyone's")
    r = nv(nitrovm, "describe-enclaves")
    assert r.returncode == 0 and r.stdout == "[]\n", r
    assert not stale.exists()
    assert other.exists()


def test_silent_process_costs_three_seconds_not_forever(nitrovm, sockdir):
    """A process that accepts and never answers: nitro-cli waits 3 s for its confirmation, then counts it
    failed (E39).  The others are still listed."""
    good = FakeEnclaveProcess(info("aa", "good", 20))
    mute = socket.socket(socket.AF_UNIX)
    mute.bind(str(sockdir / "bb.sock"))
    mute.listen(1)
    try:
        t0 = time.monotonic()
        r = nv(nitrovm, "describe-enclaves")
        took = time.monotonic() - t0
        assert [e["EnclaveName"] for e in json.loads(r.stdout)] == ["good"]
        assert r.returncode == 39, r.stderr
        assert "Failed connections: 1" in r.stderr
        assert 2.5 < took < 15, took
    finally:
        good.stop()
        mute.close()


def test_terminate_by_id_name_and_all(nitrovm, sockdir):
    a = FakeEnclaveProcess(info("a1", "one", 21))
    b = FakeEnclaveProcess(info("b2", "two", 22))
    c = FakeEnclaveProcess(info("c3", "three", 23))
    try:
        r = nv(nitrovm, "terminate-enclave", "--enclave-id", a.info["EnclaveID"])
        assert r.returncode == 0, r.stderr
        assert r.stderr == f"Successfully terminated enclave {a.info['EnclaveID']}.\n"
        assert json.loads(r.stdout) == {"EnclaveName": "one", "EnclaveID": a.info["EnclaveID"], "Terminated": True}
        assert a.terminated.is_set() and a.commands == ["Terminate"]
        r = nv(nitrovm, "terminate-enclave", "--enclave-name", "two")
        assert r.returncode == 0, r.stderr
        assert b.terminated.is_set()
        assert "GetIDbyName" in c.commands  # the name was looked up by broadcast, as nitro-cli does
        r = nv(nitrovm, "terminate-enclave", "--all")
        assert r.returncode == 0, r.stderr
        assert [e["EnclaveName"] for e in json.loads(r.stdout)] == ["three"]
        assert c.terminated.is_set()
    finally:
        for p in (a, b, c):
            p.stop()


def test_unknown_id_and_name(nitrovm, sockdir):
    r = nv(nitrovm, "terminate-enclave", "--enclave-id", "i-0-enc99")
    assert "no running enclave has the id i-0-enc99" in error_line(r.stderr, code=11, returncode=r.returncode)
    r = nv(nitrovm, "console", "--enclave-name", "nobody")
    assert "No enclave matched the given name 'nobody'." in error_line(r.stderr, code=58, returncode=r.returncode)


def test_duplicate_names_are_a_naming_error(nitrovm, sockdir):
    a = FakeEnclaveProcess(info("d1", "same", 24))
    b = FakeEnclaveProcess(info("d2", "same", 25))
    try:
        r = nv(nitrovm, "terminate-enclave", "--enclave-name", "same")
        assert "2 enclaves are called 'same'" in error_line(r.stderr, code=58, returncode=r.returncode)
        assert not a.terminated.is_set() and not b.terminated.is_set()
    finally:
        a.stop()
        b.stop()


def test_console_refuses_a_production_enclave(nitrovm, sockdir):
    """nitro-cli's rule and sentence: the console needs debug mode."""
    a = FakeEnclaveProcess(info("e1", "prod", 26))
    try:
        r = nv(nitrovm, "console", "--enclave-id", a.info["EnclaveID"])
        line = error_line(r.stderr, code=44, returncode=r.returncode)
        assert "include '--debug-mode' in the run-enclave command" in line
        # nitro-cli's console asks GetEnclaveCID and GetEnclaveFlags, nothing it would not understand
        assert set(a.commands) <= {"GetEnclaveCID", "GetEnclaveFlags", "GetIDbyName"}
    finally:
        a.stop()


def test_console_of_a_nitro_cli_enclave_goes_to_vsock(nitrovm, sockdir):
    """A stock enclave process does not know nitrovm's ConnectConsole (its event loop would end on it): the
    console is read from vsock CID 0, port CID + 10000, as nitro-cli does.  Here nothing listens there."""
    a = FakeEnclaveProcess(info("f1", "dbg", 27), debug=True)
    try:
        r = nv(nitrovm, "console", "--enclave-id", a.info["EnclaveID"], timeout=60)
        assert "Connecting to the console for enclave 27..." in r.stdout
        line = error_line(r.stderr, code=44, returncode=r.returncode)
        assert "vsock CID 0, port 10027" in line
        assert "ConnectConsole" not in a.commands and not a.terminated.is_set()
    finally:
        a.stop()


def test_option_rules(nitrovm, sockdir):
    r = nv(nitrovm, "terminate-enclave")
    error_line(r.stderr, code=1, returncode=r.returncode)
    r = nv(nitrovm, "terminate-enclave", "--all", "--enclave-name", "x")
    error_line(r.stderr, code=2, returncode=r.returncode)
    r = nv(nitrovm, "console", "--enclave-id", "a", "--disconnect-timeout", "soon")
    error_line(r.stderr, code=3, returncode=r.returncode)
    for cmd in ("describe-enclaves", "terminate-enclave", "console"):
        r = nv(nitrovm, cmd, "--help")
        assert r.returncode == 0 and r.stdout.startswith(f"Usage: nitrovm {cmd}"), r
