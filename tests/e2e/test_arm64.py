# SPDX-License-Identifier: MIT
"""e2e: arm64 enclaves under the aarch64 nitrovm, on a real arm64 KVM, in ONE boot of the arm64 machine.

The arm64 machine is QEMU's virt machine under TCG with the virtualization extensions (tests/lib/nested.py,
arch "aarch64"): Debian's arm64 kernel runs there with KVM, and the host's root is shared over 9p, but its
x86_64 programs cannot run, so everything it runs is arm64 and static: build-aarch64/nitrovm (scripts/build-aarch64),
nitrovm's init and nsm-tool from the same build, vsock_echo and first_line cross-compiled here, and the arm64 busybox
and QEMU that scripts/fetch-arm64-tools unpacked.  The EIFs are built on this host by the x86_64 nitrovm from
Debian's arm64 cloud kernel (its vmlinuz is an uncompressed Image).

  kvm          /dev/kvm is there; the static aarch64 nitrovm runs and says what it was built with; its seccomp
               allow-lists are on (a call outside the vCPU's, and one outside the enclave process's, end it)
  hello-1      the hello /init, 1 vCPU, ends with PSCI SYSTEM_OFF (hello_exit=poweroff); the device tree kept;
               process start -> the init's first line timed (first_line)
  qemu-1       QEMU -M virt -accel kvm -cpu host boots the same kernel and ramdisk, timed the same way (the peer)
  app          a build-enclave --rootfs image (nitrovm's init, the arm64 vsock and NSM modules), 2 vCPUs (the
               second started by PSCI CPU_ON), ending with the init's reboot (PSCI SYSTEM_RESET): the heartbeat,
               an echo from the parent to the enclave (--forward-listen) and from the enclave to the parent
               (--forward-connect), and an attestation document that verify-attestation (run on this host)
               accepts with PCR0-2 equal to describe-eif's
  native-run   the driver path: run-enclave --hypervisor nitro-sim over a Graviton-like CPU topology (one thread
               a core: one vCPU is a whole core) and real 2 MiB huge pages reserved in the arm64 machine
  native-qemu  source document 000's form on Graviton: -accel nitro,debug-mode=on -M nitro -cpu host
"""
import json
import os
import re
import shutil
import subprocess
import time

import pytest

import fake_sysfs
import images
import nested

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SCALE = float(os.environ.get("NITROVM_E2E_TIMEOUT_SCALE", "1"))
NITROVM_AARCH64 = os.environ.get("NITROVM_AARCH64", os.path.join(REPO, "build-aarch64", "nitrovm"))
CROSS_CC = "aarch64-linux-gnu-gcc"
# Per enclave boot: 25-40 s of TCG-emulated arm64 here; the limits leave room for a busy host.
BOOT_LIMIT = int(240 * SCALE)
MEMORY = "3G"  # the arm64 machine's: an enclave of 256 MiB, QEMU's 256 MiB, 256 MiB of huge pages, and room
# AWS's aarch64 blob command line, less "nomodules" (unknown to 6.12) and root=/dev/ram0 (the initramfs is the
# root); no "quiet": the tests read the banner.
CMDLINE = "console=ttyS0 reboot=k panic=30 pci=off random.trust_cpu=on"
MARKER = "NITROVM-HELLO-MARKER"
PARENT_ID = "i-0a9f2a8b8dd31c7c8"
NONCE = "00112233445566778899aabbccddeeff"
USER_DATA = b"nitrovm arm64 e2e".hex()
ECHO_BYTES = 16384
ECHO_CONNS = 4
# The parent's side pings until the server answers (its connections before that are refused by the enclave
# and never reach it), then checks: one ping and ECHO_CONNS connections are served.
APP = f"""#!/bin/sh
echo "APP-CPUS $(grep -c ^processor /proc/cpuinfo)"
timeout {int(200 * SCALE)} vsock_echo serve vsock:0:5000 {1 + ECHO_CONNS} > /tmp/serve.log 2>&1 &
S=$!
timeout {int(150 * SCALE)} vsock_echo check vsock:3:5001 {ECHO_CONNS} {ECHO_BYTES}; r1=$?
/nsm-tool attest --nonce {NONCE} --user-data {USER_DATA} --hex; r2=$?
wait $S; r3=$?
cat /tmp/serve.log
echo "APP-DONE $r1 $r2 $r3"
exit $((r1 + r2 + r3))
"""
HUGE = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
HUGE_PAGES = 140  # 280 MiB: a 256 MiB enclave


def cross_compile(src, out):
    p = subprocess.run([CROSS_CC, "-static", "-O2", "-Wall", "-Wextra", "-o", str(out), str(src)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.fail(f"cannot cross-compile {src} ({CROSS_CC}, from scripts/setup):\n{p.stderr}")
    return str(out)


def built(path, what):
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is not built: run scripts/build-aarch64 ({what})")
    return path


@pytest.fixture(scope="module")
def arm64(workdir):
    """Everything the arm64 machine needs from this host, built or fetched before its one boot."""
    if not shutil.which(nested.QEMU_ARM64):
        pytest.fail(f"the arm64 tier needs {nested.QEMU_ARM64} (apt-get install qemu-system-arm; scripts/setup)")
    if not shutil.which(CROSS_CC):
        pytest.fail(f"the arm64 tier needs {CROSS_CC} (scripts/setup)")
    try:
        kernels = nested.fetch_kernels("aarch64")
        tools = nested.fetch_arm64_tools()
    except nested.NestedError as e:
        pytest.fail(f"the arm64 tier cannot fetch what it runs: {e}")
    build = os.path.dirname(NITROVM_AARCH64)
    return {
        "dir": workdir / "arm64",
        "nitrovm": built(NITROVM_AARCH64, "the aarch64 nitrovm"),
        "init": built(os.path.join(build, "guest", "init", "init"), "the aarch64 enclave init"),
        "nsm_tool": built(os.path.join(build, "guest", "nsm-tool", "nsm-tool"), "the aarch64 nsm-tool"),
        "kernel": kernels["NITROVM_CLOUD_KERNEL"],  # Debian's arm64 vmlinuz is an uncompressed Image
        "qemu": tools["NITROVM_ARM64_QEMU"],
        "busybox": tools["NITROVM_ARM64_BUSYBOX"],
    }


def rootfs_image(nitrovm, a, d, name, app_files, cmd):
    """A build-enclave --rootfs image: the arm64 busybox, app_files {path in rootfs: source}, nitrovm's aarch64
    init and the arm64 cloud kernel's vsock and NSM modules."""
    root = d / f"{name}-rootfs"
    (root / "bin").mkdir(parents=True)
    shutil.copy(a["busybox"], root / "bin" / "busybox")
    for tool in ("sh", "cat", "echo", "timeout", "grep"):
        os.symlink("busybox", root / "bin" / tool)
    for path, src in app_files.items():
        shutil.copy(src, root / path)
    mods = d / "modules"
    if not mods.exists():
        images.kernel_modules(a["kernel"], mods)
    eif = d / f"{name}.eif"
    images.build_enclave(nitrovm, "--kernel", a["kernel"], "--cmdline", CMDLINE, "--rootfs", root, "--cmd", cmd,
                         "--kernel-modules", mods, "--init", a["init"], "--output-file", eif)
    return eif


@pytest.fixture(scope="module")
def eifs(nitrovm, arm64):
    d = arm64["dir"]
    (d / "hello").mkdir(parents=True)
    cross_compile(os.path.join(HERE, "hello_init.c"), d / "hello" / "init")
    out = {"first_line": cross_compile(os.path.join(HERE, "first_line.c"), d / "first_line"),
           "echo": cross_compile(os.path.join(HERE, "vsock_echo.c"), d / "vsock_echo")}
    # The same ramdisk for QEMU (a cpio of the hello directory, the one in the EIF).
    p = subprocess.run(["sh", "-c", "find . | cpio -o -H newc"], cwd=d / "hello", capture_output=True)
    (d / "hello.cpio").write_bytes(p.stdout)
    out["cpio"] = d / "hello.cpio"
    out["hello"] = images.build_eif(nitrovm, arm64["kernel"], str(d / "hello"), str(d / "hello.eif"),
                                    cmdline=f"{CMDLINE} hello_exit=poweroff", name="hello")
    (d / "app.sh").write_text(APP)
    out["app"] = rootfs_image(nitrovm, arm64, d, "app",
                              {"bin/vsock_echo": out["echo"], "nsm-tool": arm64["nsm_tool"], "bin/app.sh": d / "app.sh"},
                              "sh /bin/app.sh")
    out["native"] = rootfs_image(nitrovm, arm64, d, "native", {}, "sh -c 'echo APP-OK; exit 0'")
    for name in ("hello", "app"):
        out[f"{name}-pcrs"] = json.loads(subprocess.run([nitrovm, "describe-eif", "--eif-path", str(out[name])],
                                                        capture_output=True, text=True).stdout)["Measurements"]
    # Graviton: one thread a core, so any count of pool CPUs is whole cores (x86's pairs do not apply).
    out["sysfs"] = fake_sysfs.make(d / "sysfs", cpus=4, pool="1-3", hugepages_2m=(HUGE_PAGES, HUGE_PAGES), smt=False)
    return out


def app_scenario(a, e, steps):
    """The parent's side of the app step (busybox sh in the arm64 machine): an echo server for the enclave's
    clients, nitrovm with both bridges, the echo check once the heartbeat came, then every status."""
    return f"""
cd {steps}
{e['echo']} serve tcp:127.0.0.1:9101 {ECHO_CONNS} > app-host-serve.log 2>&1 &
SRV=$!
NITROVM_DUMP_DTB={steps}/app.dtb NITROVM_STATE_DIR={steps}/state {a['nitrovm']} run-enclave --foreground --cpu-count 2 --memory 256 \\
	--eif-path {e['app']} --parent-id {PARENT_ID} \\
	--forward-listen tcp:127.0.0.1:9100=vsock:5000 --forward-connect vsock:5001=tcp:127.0.0.1:9101 \\
	> app-nitrovm.log 2>&1 &
NV=$!
i=0
while ! grep -q "enclave booted in" app-nitrovm.log && kill -0 $NV 2>/dev/null && [ $i -lt {BOOT_LIMIT} ]; do
	sleep 1; i=$((i + 1))
done
# The app's server starts after the heartbeat: until it listens, the enclave refuses the bridge's connections.
i=0
until {e['echo']} ping tcp:127.0.0.1:9100 1 > /dev/null 2>&1 || ! kill -0 $NV 2>/dev/null || [ $i -ge 60 ]; do
	sleep 1; i=$((i + 1))
done
timeout {int(150 * SCALE)} {e['echo']} check tcp:127.0.0.1:9100 {ECHO_CONNS} {ECHO_BYTES}
echo "HOST-CHECK $?"
wait $NV; nv=$?
wait $SRV; echo "HOST-SERVE $?"
cat app-host-serve.log app-nitrovm.log
echo "NITROVM-EXIT $nv"
exit $nv
"""


def with_huge_pages(cmd):
    """Reserve HUGE_PAGES 2 MiB pages in the arm64 machine for cmd (the simulated driver maps real ones)."""
    return f"echo {HUGE_PAGES} > {HUGE}; {cmd}; rc=$?; echo 0 > {HUGE}; exit $rc"


@pytest.fixture(scope="module")
def results(run_steps, arm64, eifs):
    a, e = arm64, eifs
    steps_dir = a["dir"] / "steps"
    (steps_dir / "state").mkdir(parents=True)
    nv = a["nitrovm"]
    qemu_append = f"console=ttyAMA0 {CMDLINE.replace('console=ttyS0 ', '')} hello_exit=poweroff"
    native_env = f"NITROVM_SYSFS_ROOT={e['sysfs']} NITROVM_HYPERVISOR=nitro-sim"
    steps = [
        # The allow-lists are on in the static build: the test hook's call outside each list ends the enclave
        # before its guest runs (seconds, no boot).
        ("kvm", f"ls -l /dev/kvm && {nv} --version && for w in vcpu loop; do NITROVM_TEST_SECCOMP_TRIGGER=$w {nv} "
                f"run-enclave --foreground --cpu-count 1 --memory 256 --eif-path {e['hello']}; "
                f"echo \"SECCOMP-$w-STATUS $?\"; done", 120),
        ("hello-1", f"NITROVM_DUMP_DTB={steps_dir}/hello-1.dtb {e['first_line']} {MARKER} {BOOT_LIMIT} {nv} "
                    f"run-enclave --foreground --cpu-count 1 --memory 256 --eif-path {e['hello']}",
         BOOT_LIMIT + 10),
        ("qemu-1", f"{e['first_line']} {MARKER} {BOOT_LIMIT} {a['qemu']} -M virt,gic-version=host -accel kvm "
                   f"-cpu host -m 256M -smp 1 -nographic -nodefaults -serial stdio -no-reboot -kernel {a['kernel']} "
                   f"-initrd {e['cpio']} -append '{qemu_append}'", BOOT_LIMIT + 10),
        ("app", app_scenario(a, e, steps_dir), 2 * BOOT_LIMIT),
        ("native-run", with_huge_pages(f"env {native_env} {nv} run-enclave --foreground --hypervisor nitro-sim "
                                       f"--cpu-count 1 --memory 256 --eif-path {e['native']} --attach-console"),
         BOOT_LIMIT),
        ("native-qemu", with_huge_pages(f"env {native_env} {nv} -accel nitro,debug-mode=on -M nitro -nographic "
                                        f"-cpu host -smp 1 -m 256M -kernel {e['native']}"), BOOT_LIMIT),
    ]
    start = time.monotonic()
    res = run_steps("arm64", steps, steps_dir=steps_dir, arch="aarch64", memory=MEMORY)
    res.wall = time.monotonic() - start
    res.dir = steps_dir
    return res


def tail(text, n=50):
    return "\n".join(text.splitlines()[-n:])


def ok(results, name, *wants):
    r = results.step(name)
    assert r.status == 0, f"{name} exited {r.status} (124: killed at its limit):\n{tail(r.output)}"
    for want in wants:
        assert want in r.output, f"{name}: '{want}' missing:\n{tail(r.output)}"
    return r.output


def dts(path):
    p = subprocess.run(["dtc", "-I", "dtb", "-O", "dts", str(path)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p.stdout


def first_line_seconds(out):
    m = re.search(r"^FIRST-LINE ([0-9.]+)$", out, re.M)
    assert m, tail(out)
    return float(m.group(1))


def test_kvm_and_the_static_aarch64_nitrovm(results):
    out = ok(results, "kvm", "/dev/kvm", "built for aarch64, statically linked")
    assert "EIF CRC-32: zlib" in out  # ISA-L has no static library: left out, and said
    assert "container images: none in this build" in out  # nor has all libcurl links
    # libseccomp is linked statically: a vCPU thread's (and the event loop's) call outside its list is SIGSYS.
    for where, thread, what in (("vcpu", "vcpu0", "vCPU"), ("loop", "nitrovm", "enclave process")):
        assert f"SECCOMP-{where}-STATUS {128 + 31}" in out, out
        assert re.search(rf"^nitrovm: thread {thread} made system call \d+ .*, outside the {what} allow-list "
                         r"\(seccomp\); ending the enclave$", out, re.M), out


def test_one_vcpu_boots_and_powers_off_through_psci(results):
    out = ok(results, "hello-1", MARKER, "NITROVM-HELLO-KERNEL 6.12", "NITROVM-HELLO-CPUS 1 0",
             "NITROVM-HELLO-EXIT poweroff", "(the enclave powered off)")
    # The Image went to the start of RAM (its 2 MiB-aligned base, text_offset 0), at 2 GiB.
    assert "NITROVM-HELLO-CODE 80000000" in out, tail(out)
    assert "Machine model: nitrovm arm64 Nitro enclave" in out
    assert "psci: PSCIv1" in out and "GICv3" in out and "arch_timer" in out, tail(out)


def test_two_vcpus_boot_and_reset_through_psci(results):
    # nitrovm's init ends with reboot(): PSCI SYSTEM_RESET.
    out = ok(results, "app", "APP-CPUS 2", "(the enclave rebooted; the app exited with status 0)")
    assert "smp: Brought up 1 node, 2 CPUs" in out, tail(out)


def test_device_tree_describes_the_machine(results):
    one, two = dts(results.dir / "hello-1.dtb"), dts(results.dir / "app.dtb")
    for want in ('compatible = "arm,gic-v3"', 'compatible = "arm,armv8-timer"', 'method = "hvc"',
                 'compatible = "ns16550a"', "uart@40000000", "virtio_mmio@40001000", "virtio_mmio@40002000",
                 "memory@80000000", "reg = <0x00 0x80000000 0x00 0x10000000>", "linux,initrd-start",
                 'bootargs = "console=ttyS0', "kaslr-seed", "dma-coherent"):
        assert want in one, one
    assert "pl011" not in one  # an 8250-compatible UART only, as AWS's enclave kernels expect
    assert one.count('device_type = "cpu"') == 1 and two.count('device_type = "cpu"') == 2, two
    assert 'enable-method = "psci"' in two


def test_heartbeat_and_vsock_echo_both_ways(results):
    out = ok(results, "app", "nitrovm-init: heartbeat acknowledged by the parent", "enclave booted in",
             "HOST-CHECK 0", "HOST-SERVE 0", "NITROVM-EXIT 0")
    assert f"CHECK-OK vsock:3:5001: {ECHO_CONNS} connections" in out, tail(out)  # enclave -> parent
    assert f"CHECK-OK tcp:127.0.0.1:9100: {ECHO_CONNS} connections" in out, tail(out)  # parent -> enclave
    assert f"served {1 + ECHO_CONNS} connections, 0 failed" in out, tail(out)
    assert "APP-DONE 0 0 0" in out, tail(out)


@pytest.fixture(scope="module")
def document(results):
    out = results.step("app").output
    m = re.search(r"NSM-DOCUMENT-BEGIN (\d+)\r?\n(.*?)NSM-DOCUMENT-END", out, re.S)
    assert m, f"no attestation document on the console:\n{tail(out)}"
    digits = "".join(l.strip() for l in m.group(2).splitlines() if re.fullmatch(r"[0-9a-f]+", l.strip()))
    doc = bytes.fromhex(digits)
    assert len(doc) == int(m.group(1)), "the document was garbled on the console"
    path = results.dir / "document.cbor"
    path.write_bytes(doc)
    return path


def test_attestation_verifies_with_the_eif_measurements(nitrovm, results, eifs, document):
    env = dict(os.environ, NITROVM_STATE_DIR=str(results.dir / "state"))
    root = results.dir / "root.pem"
    p = subprocess.run([nitrovm, "ca", "export"], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    root.write_text(p.stdout)
    m = eifs["app-pcrs"]
    p = subprocess.run([nitrovm, "verify-attestation", "--document", str(document), "--root", str(root),
                        "--nonce", NONCE, "--user-data", USER_DATA, "--pcr", f"0={m['PCR0']}",
                        "--pcr", f"1={m['PCR1']}", "--pcr", f"2={m['PCR2']}"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert [doc["pcrs"][str(i)] for i in range(3)] == [m["PCR0"], m["PCR1"], m["PCR2"]]
    assert doc["module_id"].startswith(PARENT_ID + "-enc")


def test_native_path_on_the_simulated_driver(results):
    out = ok(results, "native-run", "Linux version 6.12", "nitrovm-init: heartbeat acknowledged by the parent",
             "APP-OK", "enclave booted in", "its descriptor hung up")
    # One vCPU is a whole core on a one-thread-a-core pool (x86's SMT pairs would refuse it: E22).
    assert '"CPUIDs": [\n    1\n  ]' in out, tail(out)


def test_native_source_document_form_with_cpu_host(results):
    ok(results, "native-qemu", "Linux version 6.12", "nitrovm-init: heartbeat acknowledged by the parent", "APP-OK",
       "its descriptor hung up")


def test_figures(results):
    """Start -> the init's first line, nitrovm against QEMU -M virt -accel kvm in the same arm64 machine."""
    nv = first_line_seconds(results.step("hello-1").output)
    qemu = first_line_seconds(ok(results, "qemu-1", MARKER, "reboot: Power down"))
    print(f"\narm64 figures: start -> /init's first line: nitrovm {nv:.2f} s, QEMU {qemu:.2f} s "
          f"(ratio {nv / qemu:.2f}); the arm64 tier's one boot: {results.wall:.0f} s")
    # Not a performance bound (TCG underneath), a sanity one: both measured the same thing.
    assert 0.2 < nv / qemu < 5
