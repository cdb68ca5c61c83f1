# SPDX-License-Identifier: MIT
"""e2e: nitrovm-runc under real container engines -- Debian's podman (with conmon) and containerd (with its
runc shim, driven by ctr) -- running container images as enclaves, in one nested boot (no /dev/kvm here).

The images are made on this host: a busybox root filesystem imported as localhost/nitrovm-bb (rootfs mode:
nitrovm-runc packs it with nitrovm's init and Debian's 6.12 cloud kernel, named in /etc/nitrovm/runc.conf
inside the guest), and localhost/nitrovm-eif holding only /enclave/application.eif, a `build-enclave --rootfs`
image of the same busybox (EIF mode, Enclaver's layout: booted unchanged).  Steps:

  setup          cgroup v2, the runtime's configuration, podman's containers.conf with a `nitrovm` runtime,
                 the images imported into podman's storage and containerd's (started from a config here)
  crun           podman run (crun) of the rootfs image: the peer of the figures
  podman-rootfs  podman --runtime nitrovm run --rm: the app's stdout and stderr arrive, its status is podman's
  podman-eif     the same for the EIF image
  run-enclave    nitrovm run-enclave --foreground of that same EIF (the other peer of the figures)
  podman-detach  run -d, logs, inspect's pid is the monitor and sits in the container's cgroup, stats,
                 stop -t sends SIGTERM that the app traps (its status is the container's), rm -f
  podman-tty     run -t: the app's output comes through the pty podman got over the console socket
  ctr-run        ctr run --rm --runc-binary nitrovm-runc: output and exit status through the runc shim
  ctr-detach     ctr run -d, task ps (the runtime's ps), task kill (SIGTERM to the app), task delete
  ctr-cri        CRI-shaped annotations: a sandbox container is passed through to runc, an enclave boots

Figures (printed; nested TCG, so ratios matter, not absolute times): podman run --runtime nitrovm start to
the app's first line, against podman run (crun) of the same image and nitrovm run-enclave of the same EIF.
"""
import os
import shlex
import shutil
import subprocess

import pytest

import images

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SCALE = float(os.environ.get("NITROVM_E2E_TIMEOUT_SCALE", "1"))
BOOT_LIMIT = int(400 * SCALE)
FIRST_LINE = os.path.join(HERE, "first_line.py")
TOOLS = ("sh", "echo", "sleep", "cat", "ls", "tty", "true")


@pytest.fixture(scope="module")
def setup(nitrovm, kernels, workdir):
    missing = [t for t in ("podman", "conmon", "crun", "runc", "containerd", "ctr", "containerd-shim-runc-v2",
                           "script") if not shutil.which(t)]
    if missing:
        pytest.fail(f"this test drives real engines and needs {', '.join(missing)} (scripts/setup installs them: "
                    "podman conmon crun runc containerd)")
    if not os.access(images.BUSYBOX, os.X_OK):
        pytest.fail(f"{images.BUSYBOX} is the containers' app (install busybox-static)")
    d = workdir / "runc"
    d.mkdir()
    kernel = kernels["NITROVM_CLOUD_KERNEL"]
    mods = images.kernel_modules(kernel, d / "modules")
    rootfs = images.busybox_rootfs(str(d / "rootfs"), TOOLS)
    os.makedirs(os.path.join(rootfs, "etc"))
    with open(os.path.join(rootfs, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")
    subprocess.run(["tar", "-C", rootfs, "-cf", str(d / "rootfs.tar"), "."], check=True)
    eif_root = d / "eif-root" / "enclave"
    eif_root.mkdir(parents=True)
    images.build_enclave(nitrovm, "--kernel", kernel, "--cmdline", images.CMDLINE, "--kernel-modules", mods,
                         "--rootfs", rootfs, "--cmd", "sh -c 'echo EIF-APP-LINE; echo eif-to-stderr >&2; exit 6'",
                         "--output-file", eif_root / "application.eif")
    subprocess.run(["tar", "-C", str(d / "eif-root"), "-cf", str(d / "eif.tar"), "."], check=True)
    (d / "runc.conf").write_text(f"kernel = {kernel}\nkernel-modules = {mods}\n")
    (d / "containers.conf").write_text(
        '[containers]\nlog_driver = "k8s-file"\n'
        '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
        f'[engine.runtimes]\nnitrovm = ["{os.path.realpath(nitrovm)}-runc"]\n')
    (d / "containerd.toml").write_text(
        'version = 2\nroot = "/tmp/ctd/root"\nstate = "/tmp/ctd/state"\n'
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        '[grpc]\n  address = "/tmp/ctd/containerd.sock"\n')
    return d


def podman(d):
    return (f"env CONTAINERS_CONF={d}/containers.conf podman --root /tmp/pod/root --runroot /tmp/pod/run "
            f"--storage-driver vfs")


def ctr():
    return "ctr -a /tmp/ctd/containerd.sock -n nitrovm"


@pytest.fixture(scope="module")
def results(run_steps, nitrovm, setup, workdir):
    d = setup
    runc = os.path.realpath(nitrovm) + "-runc"
    P = podman(d)
    PN = f"{P} --runtime nitrovm"
    C = ctr()
    eif = d / "eif-root" / "enclave" / "application.eif"
    crun_app = "sh -c 'echo FIRST-APP-LINE; exit 4'"
    app = "sh -c 'echo FIRST-APP-LINE; echo app-to-stderr >&2; exit 3'"
    trap_app = ("sh -c 'trap \"echo got-TERM; exit 7\" TERM; echo ready; while true; do sleep 1; done'")
    steps = [
        ("setup", f"""set -e
mountpoint -q /sys/fs/cgroup || mount -t cgroup2 cgroup2 /sys/fs/cgroup
mkdir -p /etc/nitrovm /tmp/pod /tmp/ctd
cp {d}/runc.conf /etc/nitrovm/runc.conf
mount -t tmpfs ctd /tmp/ctd
{P} import -q {d}/rootfs.tar localhost/nitrovm-bb:1
{P} import -q {d}/eif.tar localhost/nitrovm-eif:1
{P} save -q --format docker-archive -o /tmp/bb.tar localhost/nitrovm-bb:1
containerd --config {d}/containerd.toml > /tmp/ctd.log 2>&1 &
for i in $(seq 100); do [ -S /tmp/ctd/containerd.sock ] && {C} version >/dev/null 2>&1 && break; sleep 0.5; done
{C} images import --snapshotter native /tmp/bb.tar
{C} images ls -q
""", 300),
        ("crun", f"{FIRST_LINE} FIRST-APP-LINE {P} run --rm --network none localhost/nitrovm-bb:1 {crun_app}", 120),
        ("podman-rootfs", f"{FIRST_LINE} FIRST-APP-LINE {PN} run --rm --network none localhost/nitrovm-bb:1 "
                          f"{app}", BOOT_LIMIT),
        ("podman-eif", f"{FIRST_LINE} EIF-APP-LINE {PN} run --rm --network none localhost/nitrovm-eif:1 true",
         BOOT_LIMIT),
        ("run-enclave", f"{FIRST_LINE} EIF-APP-LINE {nitrovm} run-enclave --foreground --cpu-count 1 --memory 256 "
                        f"--eif-path {eif}", BOOT_LIMIT),
        ("podman-detach", f"""
{PN} run -d --name d1 --network none localhost/nitrovm-bb:1 {trap_app} || exit 90
for i in $(seq {BOOT_LIMIT}); do {P} logs d1 2>&1 | grep -q ready && break; sleep 1; done
echo "LOGS: $({P} logs d1 2>&1 | tr '\\n' ' ')"
pid=$({P} inspect d1 --format '{{{{.State.Pid}}}}')
echo "PID: $pid"
echo "PIDCGROUP: $(cat /proc/$pid/cgroup)"
echo "CID: $({P} inspect d1 --format '{{{{.Id}}}}')"
echo "COMM: $(cat /proc/$pid/comm)"
echo "STATS: $({P} stats --no-stream --format '{{{{.MemUsage}}}}' d1)"
cg=/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/$pid/cgroup)
echo "CGMEM: $(cat $cg/memory.current)"
grep -E '^(anon|file|shmem|kernel) ' $cg/memory.stat
grep -E 'VmRSS|RssShmem|RssAnon' /proc/$pid/status
{P} stop -t 60 d1
echo "EXIT: $({P} inspect d1 --format '{{{{.State.ExitCode}}}}')"
echo "LOGS2: $({P} logs d1 2>&1 | tr '\\n' ' ')"
{P} rm -f d1 && echo REMOVED
""", BOOT_LIMIT + 120),
        ("podman-tty", "script -qec " + shlex.quote(f"{PN} run -t --rm --network none localhost/nitrovm-bb:1 "
                                                   "sh -c 'echo tty-app-line; exit 2'") + " /dev/null",
         BOOT_LIMIT),
        ("ctr-run", f"{C} run --rm --snapshotter native --runc-binary {runc} localhost/nitrovm-bb:1 r1 {app}",
         BOOT_LIMIT),
        ("ctr-detach", f"""
{C} run -d --snapshotter native --runc-binary {runc} localhost/nitrovm-bb:1 r2 {trap_app} || exit 90
echo "PS: $({C} task ps r2 | tr '\\n' ' ')"
{C} task ls
# ctr run -d keeps no output to wait on: give the enclave time to boot, so that TERM meets the app's trap.
sleep 90
{C} task kill r2
for i in $(seq 120); do {C} task ls | grep -q 'r2.*STOPPED' && break; sleep 1; done
{C} task ls
{C} task delete r2 && echo TASK-DELETED
{C} container delete r2 && echo CONTAINER-DELETED
""", BOOT_LIMIT + 240),
        ("ctr-cri", f"""
{C} run -d --snapshotter native --runc-binary {runc} --label x=y \
  --annotation io.kubernetes.cri.container-type=sandbox localhost/nitrovm-bb:1 sb1 sleep 1000 || exit 90
echo "SANDBOX-RUNTIME: $(ls /run/containerd/runc/nitrovm/@delegate 2>/dev/null | tr '\\n' ' ')"
echo "SANDBOX-PIDS: $({C} task ps sb1 | tr '\\n' ' ')"
{C} task kill -s KILL sb1; sleep 2; {C} task delete sb1 && {C} container delete sb1 && echo SANDBOX-GONE
{C} run --rm --snapshotter native --runc-binary {runc} \
  --annotation io.kubernetes.cri.container-type=container \
  --annotation io.kubernetes.cri.container-name=app --annotation nitrovm.io/containers=app \
  localhost/nitrovm-bb:1 cri1 sh -c 'echo cri-enclave-line; exit 5'
""", BOOT_LIMIT + 60),
    ]
    return run_steps("runc", steps)


def lines_in_order(out, expected):
    pos = 0
    for line in expected:
        i = out.find(line, pos)
        assert i >= 0, f"missing (in this order) {line!r}:\n{out[-3000:]}"
        pos = i + len(line)


def first_line_seconds(r):
    for line in r.output.splitlines():
        if line.startswith("FIRST-LINE "):
            v = line.split()[1]
            return None if v == "none" else float(v)
    return None


def test_setup(results):
    r = results.step("setup")
    assert r.status == 0, r.output[-3000:]
    assert "localhost/nitrovm-bb:1" in r.output


def test_podman_rootfs_output_and_status(results):
    r = results.step("podman-rootfs")
    assert r.status == 3, f"podman exited {r.status}, not the app's 3:\n{r.output[-3000:]}"
    lines_in_order(r.output, ["FIRST-APP-LINE"])
    assert "app-to-stderr" in r.output


def test_podman_eif_output_and_status(results):
    r = results.step("podman-eif")
    assert r.status == 6, f"podman exited {r.status}, not the app's 6:\n{r.output[-3000:]}"
    assert "EIF-APP-LINE" in r.output and "eif-to-stderr" in r.output


def test_podman_detached(results):
    r = results.step("podman-detach")
    out = r.output
    assert r.status == 0, out[-3000:]
    fields = {l.split(":", 1)[0]: l.split(":", 1)[1].strip() for l in out.splitlines() if ":" in l}
    assert "ready" in fields["LOGS"], out
    assert fields["COMM"] == "nitrovm-runc", f"inspect's pid is not the enclave process: {out}"
    assert fields["CID"] in fields["PIDCGROUP"], f"the monitor is not in the container's cgroup: {out}"
    assert "B" in fields["STATS"] and not fields["STATS"].startswith("0B"), f"podman stats: {fields['STATS']}"
    # The enclave's memory is the monitor's, charged to the container's cgroup: a booted Linux has touched tens
    # of MiB of it (and the packed EIF is there too).
    assert int(fields["CGMEM"]) > 32 << 20, f"the container's cgroup does not hold the enclave's memory:\n{out}"
    assert fields["EXIT"] == "7", f"stop's SIGTERM did not reach the app's trap: {out}"
    assert "got-TERM" in fields["LOGS2"], out
    assert "REMOVED" in out


def test_podman_tty(results):
    r = results.step("podman-tty")
    assert r.status == 2, f"podman run -t exited {r.status}:\n{r.output[-3000:]}"
    assert "tty-app-line" in r.output


def test_containerd_run(results):
    r = results.step("ctr-run")
    assert r.status == 3, f"ctr run exited {r.status}, not the app's 3:\n{r.output[-3000:]}"
    assert "FIRST-APP-LINE" in r.output and "app-to-stderr" in r.output


def test_containerd_detached(results):
    r = results.step("ctr-detach")
    out = r.output
    assert r.status == 0, out[-3000:]
    assert "PS:" in out and "PID" in out.split("PS:", 1)[1].splitlines()[0], out
    assert "TASK-DELETED" in out and "CONTAINER-DELETED" in out, out


def test_containerd_cri_annotations(results):
    r = results.step("ctr-cri")
    out = r.output
    assert "sb1" in out.split("SANDBOX-RUNTIME:", 1)[1].splitlines()[0], f"the sandbox was not runc's: {out}"
    assert "SANDBOX-GONE" in out, out
    assert r.status == 5 and "cri-enclave-line" in out, f"the enclave container: status {r.status}:\n{out}"


def test_figures(results):
    """Start to the app's first line; printed for the closing note, checked only for being there."""
    crun = first_line_seconds(results.step("crun"))
    pod_rootfs = first_line_seconds(results.step("podman-rootfs"))
    pod_eif = first_line_seconds(results.step("podman-eif"))
    direct = first_line_seconds(results.step("run-enclave"))
    print(f"\nFIGURES (nested TCG, no /dev/kvm on the host): start to the app's first line: "
          f"podman+crun {crun} s, podman+nitrovm rootfs mode {pod_rootfs} s, podman+nitrovm EIF mode {pod_eif} s, "
          f"nitrovm run-enclave of the same EIF {direct} s")
    assert None not in (crun, pod_rootfs, pod_eif, direct), "a run never printed its first line"
