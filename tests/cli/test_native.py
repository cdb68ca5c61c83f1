# SPDX-License-Identifier: MIT
"""Native mode at the process level: the checks before any ioctl, the simulated driver's rules, and a
sentence with nitro-cli's error number for every driver error, through `run-enclave --hypervisor nitro-sim`
and the QEMU form `-accel nitro`.  Every launch here fails before the enclave boots, so no /dev/kvm is needed
(the kvm tier, tests/kvm/test_native_sim.py, boots through the same path)."""
import os
import re

import pytest

from conftest import run, fake_bzimage
import clicheck
import fake_sysfs

SIM = {"NITROVM_HYPERVISOR": "nitro-sim"}


@pytest.fixture
def eif(nitrovm, tmp_path):
    k = fake_bzimage(tmp_path / "bzImage")
    rd = tmp_path / "rd.cpio"
    rd.write_bytes(b"070707" * 10)
    out = tmp_path / "enclave.eif"
    p = run("build-enclave", "--kernel", k, "--ramdisk", rd, "--output-file", out, "--cmdline", "console=ttyS0")
    assert p.returncode == 0, p.stderr
    return str(out)


@pytest.fixture
def tree(tmp_path):
    """A sysfs with a pool of two full cores (1,5 and 2,6) and 1 GiB of 2 MiB pages free, and the simulated
    driver mapping ordinary pages (the kvm tier maps real huge pages)."""
    root = fake_sysfs.make(tmp_path / "sysfs")
    return {"NITROVM_SYSFS_ROOT": root, "NITROVM_SIM_SMALL_PAGES": "1"}


def launch(eif, *extra, env=None, memory="128", cpus=("--cpu-count", "2")):
    args = ["run-enclave", "--eif-path", eif, "--memory", memory, "--no-heartbeat", *cpus, *extra]
    return run(*args, env=env)


def error_line(p):
    """The one `[ Exx ] sentence` line of a refused launch (progress lines aside), its number the exit status."""
    return clicheck.error_line(p.stderr, returncode=p.returncode)


# ---- choosing the hypervisor ----

def test_nitro_without_the_driver_is_e19(nitrovm, eif):
    p = launch(eif, "--hypervisor", "nitro", env={"NITROVM_NE_DEVICE": "/nonexistent/nitro_enclaves"})
    assert p.returncode == 19
    line = error_line(p)
    assert "File: '/nonexistent/nitro_enclaves', failing operation: 'Open'" in line
    assert "Nitro Enclaves driver" in line and "--enclave-options 'Enabled=true'" in line
    assert "modprobe nitro_enclaves" in line and "--hypervisor kvm" in line


@pytest.mark.skipif(os.path.exists("/dev/nitro_enclaves"), reason="this host has the driver")
def test_default_is_kvm_and_says_so(nitrovm, eif):
    env = {"NITROVM_HYPERVISOR": ""}
    p = launch(eif, memory="1", env=env)
    assert p.returncode == 26  # refused by the size check, after the choice was announced
    assert "Using the kvm hypervisor (/dev/nitro_enclaves does not exist; --hypervisor nitro|kvm|nitro-sim " \
           "chooses)" in p.stderr.decode()


def test_named_hypervisor_is_not_announced(nitrovm, eif, tree):
    p = launch(eif, "--hypervisor", "nitro-sim", memory="1", env=tree)
    assert p.returncode == 26
    assert "Using the" not in p.stderr.decode()


def test_unknown_hypervisor(nitrovm, eif):
    p = launch(eif, "--hypervisor", "xen")
    assert p.returncode == 3
    assert "unknown hypervisor 'xen'" in error_line(p)


def test_sim_is_never_a_fallback(nitrovm, eif, tree):
    """No driver: nitro fails, it does not quietly run on the simulator."""
    env = dict(tree, NITROVM_NE_DEVICE="/nonexistent/nitro_enclaves")
    p = launch(eif, "--hypervisor", "nitro", env=env)
    assert p.returncode == 19


@pytest.mark.parametrize("extra,named", [
    (("--test-rng",), "--test-rng"), (("--no-acpi",), "--no-acpi"), (("--boot-path", "host"), "--boot-path"),
    (("--parent-role", "arn:aws:iam::1:role/r"), "--parent-role"), (("--parent-id", "i-0123"), "--parent-id"),
])
def test_emulation_options_are_refused_on_nitro(nitrovm, eif, extra, named):
    """An option that shapes the emulated machine is refused on the Nitro hypervisor, before the driver is
    opened, not dropped without a word; nitro-sim (the driver in front of nitrovm's machine) takes them."""
    p = launch(eif, "--hypervisor", "nitro", *extra, env={"NITROVM_NE_DEVICE": "/nonexistent/nitro_enclaves"})
    assert p.returncode == 3, p.stderr
    line = error_line(p)
    assert line.startswith(f"[ E03 ] {named}") and "--hypervisor kvm" in line, line


# ---- checks before any ioctl ----

def test_short_huge_pages_e27_with_the_command(nitrovm, eif, tmp_path):
    root = fake_sysfs.make(tmp_path / "sysfs", hugepages_2m=(10, 12))
    p = launch(eif, "--hypervisor", "nitro-sim", env={"NITROVM_SYSFS_ROOT": root})
    assert p.returncode == 27
    line = error_line(p)
    # 128 MiB asked, 20 MiB free: 54 pages more on top of the 12 reserved
    assert "the enclave needs 128 MiB but NUMA node 0 has 20 MiB free" in line
    assert "`echo 66 > /sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages`" in line
    assert "nitro-enclaves-allocator" in line


@pytest.mark.parametrize("count,why", [
    ("3", "enclaves take whole cores, 2 threads each on this instance (pool 1-2,5-6): ask for 2 or 4"),
    ("6", "Asked for 6 vCPUs but the Nitro Enclaves CPU pool has 4 CPUs (1-2,5-6): ask for 2 or 4"),
])
def test_wrong_cpu_count_e22_with_counts_that_work(nitrovm, eif, tree, count, why):
    p = launch(eif, "--hypervisor", "nitro-sim", env=tree, cpus=("--cpu-count", count))
    assert p.returncode == 22
    assert why in error_line(p)


@pytest.mark.parametrize("ids,code,why", [
    (["1"], 20, "CPU 1 is given without its sibling CPU 5"),
    (["1", "1"], 20, "CPU id 1 is given twice"),
    (["3", "7"], 21, "CPU 3 is not in the Nitro Enclaves CPU pool (1-2,5-6)"),
    (["x"], 23, "--cpu-ids 'x' is not a CPU id"),
])
def test_cpu_ids_rules(nitrovm, eif, tree, ids, code, why):
    p = launch(eif, "--hypervisor", "nitro-sim", env=tree, cpus=("--cpu-ids", *ids))
    assert p.returncode == code
    assert why in error_line(p)


def test_cpu_ids_conflicts_and_kvm(nitrovm, eif, tree):
    p = launch(eif, "--hypervisor", "nitro-sim", env=tree, cpus=("--cpu-count", "2", "--cpu-ids", "1", "5"))
    assert p.returncode == 2
    p = launch(eif, "--hypervisor", "kvm", cpus=("--cpu-ids", "1", "5"))
    assert p.returncode == 3
    assert "--cpu-ids picks CPUs of the Nitro Enclaves pool" in error_line(p)


def test_empty_pool(nitrovm, eif, tmp_path):
    root = fake_sysfs.make(tmp_path / "sysfs", pool="")
    p = launch(eif, "--hypervisor", "nitro-sim", env={"NITROVM_SYSFS_ROOT": root})
    assert p.returncode == 22
    assert "CPU pool is empty" in error_line(p)


def test_pool_with_cpu0_breaks_the_rules(nitrovm, eif, tmp_path):
    root = fake_sysfs.make(tmp_path / "sysfs", pool="0,4")
    p = launch(eif, "--hypervisor", "nitro-sim", env={"NITROVM_SYSFS_ROOT": root})
    assert p.returncode == 22
    assert "CPU 0 must stay with the parent instance" in error_line(p)


def test_sim_without_a_pool_says_how_to_give_one(nitrovm, eif, tmp_path):
    root = fake_sysfs.make(tmp_path / "sysfs", pool=None)
    p = launch(eif, "--hypervisor", "nitro-sim", env={"NITROVM_SYSFS_ROOT": root})
    assert p.returncode == 19
    assert "NITROVM_SIM_CPU_POOL" in error_line(p)


def test_sim_pool_from_the_environment(nitrovm, eif, tree):
    env = dict(tree, NITROVM_SIM_CPU_POOL="1-3,5-7")
    p = launch(eif, "--hypervisor", "nitro-sim", env=env, cpus=("--cpu-count", "8"))
    assert p.returncode == 22
    assert "has 6 CPUs (1-3,5-7): ask for 2, 4 or 6" in error_line(p)


# ---- the driver's own rules, with our checks out of the way ----

@pytest.mark.parametrize("cpus,code,name", [
    (("--cpu-count", "1"), 33, "NE_ERR_FULL_CORES_NOT_USED"),
    (("--cpu-ids", "3"), 32, "NE_ERR_VCPU_NOT_IN_CPU_POOL"),
    (("--cpu-ids", "1", "1"), 32, "NE_ERR_VCPU_ALREADY_USED"),
    (("--cpu-ids", "900"), 32, "NE_ERR_INVALID_VCPU"),
])
def test_driver_cpu_rules(nitrovm, eif, tree, cpus, code, name):
    env = dict(tree, NITROVM_SKIP_CPU_CHECKS="1")
    p = launch(eif, "--hypervisor", "nitro-sim", env=env, cpus=cpus)
    assert p.returncode == code, p.stderr.decode()
    assert name in error_line(p)


def test_driver_empty_pool_refuses_the_slot(nitrovm, eif, tmp_path):
    root = fake_sysfs.make(tmp_path / "sysfs", pool="")
    env = {"NITROVM_SYSFS_ROOT": root, "NITROVM_SKIP_CPU_CHECKS": "1", "NITROVM_SIM_SMALL_PAGES": "1"}
    p = launch(eif, "--hypervisor", "nitro-sim", env=env)
    assert p.returncode == 29
    line = error_line(p)
    assert "NE_CREATE_VM failed: no CPUs are left in the Nitro Enclaves CPU pool" in line
    assert "(NE_ERR_NO_CPUS_AVAIL_IN_POOL, 272)" in line


def test_ordinary_pages_are_refused(nitrovm, eif, tree):
    env = dict(tree, NITROVM_SIM_SMALL_PAGES="strict")
    p = launch(eif, "--hypervisor", "nitro-sim", env=env)
    assert p.returncode == 31
    line = error_line(p)
    assert "NE_SET_USER_MEMORY_REGION failed: enclave memory is not backed by huge pages" in line
    assert "(NE_ERR_MEM_NOT_HUGE_PAGE, 263)" in line


ERRORS = {
    256: "give each CPU id once", 257: "use CPUs of the pool", 258: "use another CPU of the pool",
    259: "multiples of 2 MiB", 260: "mapped by the process", 261: "huge pages, which are aligned",
    262: "give each range of memory once", 263: "nr_hugepages", 264: "reserve them on that node",
    265: "1 GiB huge pages", 266: "give it memory", 267: "give it CPUs", 268: "at least 64 MiB",
    269: "multiple of the threads per core", 270: "start a new enclave", 271: "use CPU ids from the pool",
    272: "grow the pool", 273: "2 MiB or 1 GiB huge pages", 274: "update the kernel",
    275: "from 4 to 4294967294",
}
IOCTLS = {"NE_CREATE_VM": 29, "NE_GET_IMAGE_LOAD_INFO": 30, "NE_SET_USER_MEMORY_REGION": 31,
          "NE_ADD_VCPU": 32, "NE_START_ENCLAVE": 33}


@pytest.mark.parametrize("code", sorted(ERRORS))
def test_every_driver_error_reads_as_a_sentence(nitrovm, eif, tree, code):
    """Each NE_ERR_* from the ioctl that can return it (injected), with nitro-cli's number for that ioctl."""
    request = ("NE_START_ENCLAVE" if code in (266, 267, 268, 269, 275) else
               "NE_ADD_VCPU" if code in (256, 257, 258, 271) else
               "NE_CREATE_VM" if code == 272 else
               "NE_GET_IMAGE_LOAD_INFO" if code in (270, 274) else "NE_SET_USER_MEMORY_REGION")
    env = dict(tree, NITROVM_SIM_FAIL=f"{request}:{code}")
    p = launch(eif, "--hypervisor", "nitro-sim", env=env)
    assert p.returncode == IOCTLS[request]
    line = error_line(p)
    assert line.startswith(f"[ E{IOCTLS[request]} ] {request} failed: "), line
    assert ERRORS[code] in line
    assert re.search(rf"\(NE_ERR_[A-Z_]+, {code}\)$", line), line
    assert "Unknown error" not in line


def test_errno_from_an_ioctl(nitrovm, eif, tree):
    env = dict(tree, NITROVM_SIM_FAIL="NE_ADD_VCPU:5")
    p = launch(eif, "--hypervisor", "nitro-sim", env=env)
    assert p.returncode == 32
    assert "NE_ADD_VCPU failed: the enclave belongs to another process" in error_line(p)


# ---- the QEMU form of source document 000 ----

QEMU_DOC = ["-accel", "nitro,debug-mode=on", "-M", "nitro", "-nographic", "-smp", "2", "-m", "512M", "-kernel"]


def test_qemu_form_as_written_reaches_the_driver(nitrovm, eif):
    p = run(*QEMU_DOC, eif, env={"NITROVM_NE_DEVICE": "/nonexistent/nitro_enclaves", "NITROVM_HYPERVISOR": ""})
    assert p.returncode == 19, p.stderr.decode()
    assert "Nitro Enclaves driver" in error_line(p)


def test_qemu_form_on_the_sim_checks_memory(nitrovm, eif, tmp_path):
    root = fake_sysfs.make(tmp_path / "sysfs", hugepages_2m=(100, 100))
    p = run(*QEMU_DOC, eif, env=dict(SIM, NITROVM_SYSFS_ROOT=root))
    assert p.returncode == 27
    assert "`echo 256 > /sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages`" in error_line(p)


def test_qemu_smp_1_on_two_thread_cores(nitrovm, eif, tree):
    p = run("-accel", "nitro", "-M", "nitro", "-m", "128M", "-kernel", eif, env=dict(SIM, **tree))
    assert p.returncode == 22
    assert "ask for 2 or 4" in error_line(p)


@pytest.mark.parametrize("cid", ["1", "2", "3", "4294967295"])
def test_qemu_reserved_cid_reaches_the_driver(nitrovm, eif, tree, cid):
    p = run("-accel", f"nitro,enclave-cid={cid}", "-M", "nitro", "-smp", "2", "-m", "128M", "-kernel", eif,
            "--no-heartbeat", env=dict(SIM, **tree))
    assert p.returncode == 33
    line = error_line(p)
    assert "NE_START_ENCLAVE failed: that enclave CID is reserved" in line
    assert "(NE_ERR_INVALID_ENCLAVE_CID, 275)" in line


@pytest.mark.parametrize("args,why", [
    (["-M", "nitro"], "The 'nitro' machine requires -accel nitro"),
    (["-accel", "nitro", "-M", "nitro-enclave"], "use -M nitro"),
    (["-accel", "nitro,frob=1", "-M", "nitro"], "unknown -accel nitro option 'frob'"),
    (["-accel", "hvf"], "nitrovm knows -accel kvm"),
    (["-accel", "nitro,enclave-cid=x", "-M", "nitro"], "enclave-cid=x is not a number"),
])
def test_qemu_bad_accel_machine_pairs(nitrovm, eif, args, why):
    p = run(*args, "-kernel", eif)
    assert p.returncode == 3
    assert why in error_line(p)


@pytest.mark.parametrize("option", ["parent-role=arn:aws:iam::1:role/r", "parent-id=i-0123", "rng=on", "acpi=off",
                                    "boot-path=host"])
def test_qemu_emulation_options_are_refused_on_nitro(nitrovm, eif, option):
    """As with run-enclave --hypervisor nitro: the emulated machine's options are refused, not dropped."""
    p = run("-accel", "nitro", "-M", f"nitro,{option}", "-smp", "2", "-m", "128M", "-kernel", eif,
            env={"NITROVM_NE_DEVICE": "/nonexistent/nitro_enclaves", "NITROVM_HYPERVISOR": ""})
    assert p.returncode == 3, p.stderr
    name = option.split("=")[0]
    assert f"machine option {name} shapes nitrovm's emulated machine" in error_line(p)


def test_qemu_append_cannot_change_an_eif(nitrovm, eif, tree):
    p = run("-accel", "nitro", "-M", "nitro", "-smp", "2", "-kernel", eif, "-append", "quiet",
            env=dict(SIM, **tree))
    assert p.returncode == 3
    assert "-append cannot change the command line of an EIF" in error_line(p)
