# SPDX-License-Identifier: MIT
"""The probe guest launched through the native path with the simulated driver (kvm tier):
CPU pool and huge-page checks, NE_* ioctls, the donated huge pages handed to nitrovm's KVM hypervisor, the
heartbeat answered on the parent's vsock, the console read from vsock CID 0 port CID + 10000, and the end seen
as the enclave descriptor hanging up.

Memory: the simulated driver wants huge pages like the real one.  As root, this module reserves 2 MiB pages
for its run and gives them back afterwards; where that is impossible it says so and runs with
NITROVM_SIM_SMALL_PAGES=1 (ordinary pages accepted, every other rule kept).
"""
import json
import os
import signal
import subprocess
import time
import warnings

import pytest

from conftest import run
import fake_sysfs
from guests import mini_bzimage, write_eif

HUGE_2M = "/sys/kernel/mm/hugepages/hugepages-2048kB"
PAGES_WANTED = 320  # 640 MiB: the source document's -m 512M plus room


def read_int(path):
    with open(path) as f:
        return int(f.read())


@pytest.fixture(scope="module")
def huge_pages():
    """(free, nr, small_pages): real 2 MiB pages reserved for the module when possible."""
    old = None
    try:
        old = read_int(f"{HUGE_2M}/nr_hugepages")
        free = read_int(f"{HUGE_2M}/free_hugepages")
        if free < PAGES_WANTED:
            with open(f"{HUGE_2M}/nr_hugepages", "w") as f:
                f.write(str(old + PAGES_WANTED - free))
        free = read_int(f"{HUGE_2M}/free_hugepages")
    except OSError as e:
        free = 0
        why = str(e)
    else:
        why = f"only {free} free after asking for {PAGES_WANTED}"
    small = free < PAGES_WANTED
    if small:
        warnings.warn(f"no 2 MiB huge pages could be reserved ({why}): the simulated driver accepts ordinary "
                      "pages for this run (NITROVM_SIM_SMALL_PAGES=1)")
    yield (max(free, PAGES_WANTED) if small else free, read_int(f"{HUGE_2M}/nr_hugepages") if old is not None
           else 0, small)
    if old is not None:
        try:
            with open(f"{HUGE_2M}/nr_hugepages", "w") as f:
                f.write(str(old))
        except OSError:
            pass


@pytest.fixture
def sim_env(tmp_path, huge_pages):
    free, nr, small = huge_pages
    root = fake_sysfs.make(tmp_path / "sysfs", pool="1-2,5-6", hugepages_2m=(free, nr))
    env = {"NITROVM_SYSFS_ROOT": root, "NITROVM_HYPERVISOR": "nitro-sim"}
    if small:
        env["NITROVM_SIM_SMALL_PAGES"] = "1"
    return env


def split_json(stdout):
    end = stdout.index("\n}\n") + 3
    return json.loads(stdout[:end]), stdout[end:]


def test_probe_through_the_native_path(nitrovm, probe_eif, sim_env):
    eif = probe_eif("hb", "probe.vsock=1")
    r = run([nitrovm, "run-enclave", "--foreground", "--hypervisor", "nitro-sim", "--eif-path", eif, "--cpu-count", "2",
             "--memory", "128", "--attach-console"], env=sim_env)
    assert r.returncode == 0, r.stderr
    info, console = split_json(r.stdout)
    assert info["CPUIDs"] == [1, 5]  # the driver's pick: the lowest core, both threads
    assert info["EnclaveCID"] == 16  # assigned (CID 0 asked)
    assert info["MemoryMiB"] == 128
    # the console came over vsock CID 0, port 16 + 10000, served only because of debug mode
    assert "probe: vsock-heartbeat: ok 0xb7 echoed" in console, console
    assert "probe: smp: ok 2 cpus online" in console, console
    assert "probe: result PASS" in console, console
    assert "enclave booted in" in r.stderr  # the heartbeat, on the parent's listener bound before start
    assert "the enclave stopped (its descriptor hung up)" in r.stderr
    assert "the simulated hypervisor saw: debug exit" in r.stderr


def test_source_document_command_line(nitrovm, probe_eif, sim_env):
    """Source document 000 as written (our binary's name), on the simulated driver."""
    eif = probe_eif("doc", "probe.vsock=1")
    r = run([nitrovm, "-accel", "nitro,debug-mode=on", "-M", "nitro", "-nographic", "-smp", "2", "-m", "512M",
             "-kernel", eif], env=sim_env)
    assert r.returncode == 0, r.stderr
    assert "probe: vsock-heartbeat: ok 0xb7 echoed" in r.stdout, r.stdout
    assert "523903 KiB RAM" in r.stdout, r.stdout  # -m 512M, in huge pages handed over whole
    assert "probe: smp: ok 2 cpus online" in r.stdout, r.stdout
    assert "probe: result PASS" in r.stdout


def test_kernel_initrd_append_form(nitrovm, probe, sim_env, tmp_path):
    rd = tmp_path / "rd.cpio"
    rd.write_bytes(b"07070100000000" + b"0" * 100)
    r = run([nitrovm, "-accel", "nitro,debug-mode=on,enclave-cid=42", "-M", "nitro", "-nographic", "-smp", "2",
             "-m", "128M", "-kernel", probe, "-initrd", str(rd), "-append", "console=ttyS0 probe.vsock=1"],
            env=sim_env)
    assert r.returncode == 0, r.stderr
    assert "probe: result PASS" in r.stdout, r.stdout


def test_enclave_cid_and_cpu_ids(nitrovm, probe_eif, sim_env):
    eif = probe_eif("cid", "probe.vsock=1")
    r = run([nitrovm, "run-enclave", "--foreground", "--hypervisor", "nitro-sim", "--eif-path", eif, "--cpu-ids", "2", "6",
             "--memory", "64", "--enclave-cid", "77", "--attach-console"], env=sim_env)
    assert r.returncode == 0, r.stderr
    info, console = split_json(r.stdout)
    assert info["CPUIDs"] == [2, 6]
    assert info["EnclaveCID"] == 77
    assert "probe: result PASS" in console


def test_production_mode_has_no_console(nitrovm, probe_eif, sim_env):
    """Without debug mode the Nitro hypervisor serves no console: nothing after the JSON."""
    eif = probe_eif("prod", "probe.vsock=1")
    r = run([nitrovm, "run-enclave", "--foreground", "--hypervisor", "nitro-sim", "--eif-path", eif, "--cpu-count", "2",
             "--memory", "64"], env=sim_env)
    assert r.returncode == 0, r.stderr
    _, console = split_json(r.stdout)
    assert console == ""
    assert "its descriptor hung up" in r.stderr


def test_missing_heartbeat_terminates(nitrovm, probe_eif, sim_env):
    eif = probe_eif("nohb", "probe.vsock=1 probe.vsock.nohb=1 probe.hold=1")
    r = run([nitrovm, "run-enclave", "--foreground", "--hypervisor", "nitro-sim", "--eif-path", eif, "--cpu-count", "2",
             "--memory", "64"], env=dict(sim_env, NITROVM_HEARTBEAT_TIMEOUT_MS="2000"))
    assert r.returncode == 36, r.stderr
    assert "VsockTimeoutError" in r.stderr.rstrip().splitlines()[-1], r.stderr


def test_signal_closes_the_enclave(nitrovm, tmp_path, sim_env):
    eif = tmp_path / "hang.eif"
    write_eif(str(eif), mini_bzimage("hang"))
    env = dict(os.environ, **sim_env)
    p = subprocess.Popen([nitrovm, "run-enclave", "--foreground", "--hypervisor", "nitro-sim", "--eif-path", str(eif),
                          "--cpu-count", "2", "--memory", "64", "--no-heartbeat"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 30
        line = p.stdout.readline()
        while line and line.strip() != "}" and time.monotonic() < deadline:
            line = p.stdout.readline()
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
    finally:
        p.kill()
    assert p.returncode == 0, err
    assert "terminated on" in err, err


def test_detached_on_the_simulated_driver(nitrovm, probe_eif, sim_env, tmp_path):
    """The native path detached, as on EC2: run-enclave returns after the heartbeat, the enclave process (which
    holds the driver's enclave descriptor) answers describe, serves the vsock console's history, and ends the
    enclave on terminate."""
    eif = probe_eif("held", "probe.vsock=1 probe.hold=1")
    env = dict(sim_env, NITRO_CLI_SOCKETS_PATH=str(tmp_path / "s"), NITROVM_RUN_DIR=str(tmp_path / "r"))
    r = run([nitrovm, "run-enclave", "--hypervisor", "nitro-sim", "--eif-path", eif, "--cpu-count", "2",
             "--memory", "128", "--debug-mode"], env=env)
    assert r.returncode == 0, r.stderr
    info, rest = split_json(r.stdout)
    assert rest == "" and info["CPUIDs"] == [1, 5] and info["EnclaveCID"] == 16
    assert "enclave booted in" in r.stderr
    r = run([nitrovm, "describe-enclaves"], env=env)
    described = json.loads(r.stdout)
    assert [d["EnclaveID"] for d in described] == [info["EnclaveID"]] and described[0]["State"] == "RUNNING"
    r = run([nitrovm, "console", "--enclave-id", info["EnclaveID"], "--disconnect-timeout", "3"], env=env,
            timeout=60)
    assert r.returncode == 0 and "probe: vsock-heartbeat: ok" in r.stdout, r.stdout + r.stderr
    r = run([nitrovm, "terminate-enclave", "--all"], env=env)
    assert r.returncode == 0 and json.loads(r.stdout)[0]["Terminated"] is True, r.stderr
    assert run([nitrovm, "describe-enclaves"], env=env).stdout == "[]\n"
