#!/usr/bin/python3
"""The nested Linux tier: run a host command inside a QEMU TCG guest that has a working /dev/kvm.

This host's /dev/kvm is a PVM hypervisor that cannot boot stock Linux (docs/testing.md, notes/platform.md). QEMU
in TCG mode emulates AMD SVM, so Debian's generic 6.12 kernel booted inside it gets a real kvm_amd. We boot that
kernel with a small busybox initramfs, share the host's root read-only over virtio-9p, put a tmpfs overlay on
top so everything is writable (writes stay in the guest), and run the command chrooted into that view, so the
binaries just built on the host run with the host's libraries and can open /dev/kvm.

Results come back through a second, writable 9p share (a fresh host directory per run): the command's output
and exit status are files there, so they never mix with kernel messages on the serial console. The serial
console is kept as a log (and streamed when asked) and carries a "NESTED-EXIT <status>" line as a fallback.

The same machinery boots an arm64 machine (arch="aarch64"): QEMU's virt machine under TCG with the
virtualization extensions, so Debian's arm64 kernel has a /dev/kvm (notes/platform.md). The host's root is shared
the same way, but its x86_64 programs cannot run there: /usr/bin and /usr/sbin are replaced by an arm64 busybox
(scripts/fetch-arm64-tools), so commands are busybox shell lines that run static arm64 programs (the output of
scripts/build-aarch64) and the arm64 QEMU that fetch-arm64-tools unpacked.

Use from Python:   status, output = run_nested("build/nitrovm selftest", timeout=300)
Use from a shell:  scripts/nested [--arch aarch64] [--timeout S] [--smp N] [-v] -- COMMAND...
"""

import argparse
import contextlib
import ctypes
import fcntl
import hashlib
import os
import re
import shlex
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

import cpio
import kmod

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FETCH_KERNEL = os.path.join(REPO, "scripts", "fetch-kernel")
FETCH_ARM64_TOOLS = os.path.join(REPO, "scripts", "fetch-arm64-tools")
QEMU = os.environ.get("NITROVM_QEMU", "qemu-system-x86_64")
BUSYBOX = os.environ.get("NITROVM_BUSYBOX", "/bin/busybox")
# NITROVM_NESTED_KEEPER=0 leaves KVM's static keys free to flip (to show what the keeper prevents).
KVM_KEEPER = (os.path.join(REPO, "tests", "lib", "kvm_keeper.py")
              if os.environ.get("NITROVM_NESTED_KEEPER", "1") != "0" else "")

# Modules the outer guest needs; their dependencies are added from each module's modinfo "depends=".
# Missing ones are skipped (a flavour or version may build them in).
WANTED_MODULES = [
    "virtio_mmio",  # microvm's devices are virtio-mmio, described in its ACPI DSDT
    "9pnet_virtio", "9p",  # the host's root and the result share
    "overlay",  # writable view of the read-only host root
    "kvm_amd",  # the point of it all: /dev/kvm on emulated SVM (pulls kvm, irqbypass, ccp)
    "vsock_loopback", "vhost_vsock",  # AF_VSOCK tests: loopback inside the guest, host-side vsock devices
]

# The arm64 machine's modules: QEMU's virt machine has virtio-mmio too (described in its device tree); KVM is
# built into Debian's arm64 kernels.
WANTED_MODULES_ARM64 = ["virtio_mmio", "9pnet_virtio", "9p", "overlay"]

# Boot the outer kernel reliably under TCG. Calibrating the TSC against the PIT fails under TCG when the host is
# busy ("tsc: Unable to calibrate against PIT", then the boot hangs with the clock stopped at 0), so the TSC
# rate is given (tsc_early_khz; TCG's guest TSC is the host's TSC), trusted (tsc=reliable) and the delay loop
# preset (lpj, no_timer_check).
KERNEL_APPEND = "console=ttyS0 panic=-1 tsc=reliable tsc_early_khz={tsc_khz} lpj=5000000 no_timer_check quiet"

# arm64: QEMU's virt machine has a PL011 (ttyAMA0). gic-version=3 because KVM inside offers only a GICv3 guest
# there ("GICv3: no GICV resource entry"); virtualization=on gives the guest EL2, so its kernel has KVM.
KERNEL_APPEND_ARM64 = "console=ttyAMA0 panic=-1 quiet"
QEMU_ARM64 = os.environ.get("NITROVM_QEMU_AARCH64", "qemu-system-aarch64")
# NITROVM_ARM64_GIC=2 gives the arm64 machine a GICv2 (with its virtualization extensions), so a run by hand can
# check nitrovm's GICv2 fallback; CI keeps the GICv3 that Graviton has.
ARM64_GIC = os.environ.get("NITROVM_ARM64_GIC", "3")

EXIT_MARKER = "NESTED-EXIT"
# One outer boot at a time on this machine: two TCG guests of two vCPUs each on a 2-core host starve each other
# into timeouts (two checkouts, or a test run beside the demo). NITROVM_NESTED_LOCK names another lock file, or
# "none" for no lock.
LOCK_PATH = os.environ.get("NITROVM_NESTED_LOCK", "/tmp/nitrovm-nested.lock")
# A cached initramfs of another /init or module list is deleted once it is this old (seconds).
STALE_INITRAMFS_S = 24 * 3600


class NestedError(Exception):
    """The nested tier could not run the command (as opposed to the command failing)."""


class NestedTimeout(NestedError):
    def __init__(self, timeout, output, console, why=None):
        super().__init__(f"the nested guest {why or f'did not finish within {timeout} s'}; QEMU was killed")
        self.output = output
        self.console = console


# ---------------------------------------------------------------------------------------------------------------
# Kernels


_kernels = {}


def _assignments(argv):
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise NestedError(proc.stderr.strip() or f"{' '.join(argv)} failed")
    return dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)


def fetch_kernels(arch="x86_64"):
    """Run scripts/fetch-kernel (idempotent) and return its NITROVM_* assignments as a dict (arch "aarch64":
    Debian's arm64 kernels)."""
    if arch not in _kernels:
        _kernels[arch] = _assignments([FETCH_KERNEL] + (["--arch", "arm64"] if arch == "aarch64" else []))
    return _kernels[arch]


def fetch_arm64_tools():
    """scripts/fetch-arm64-tools: NITROVM_ARM64_BUSYBOX and NITROVM_ARM64_QEMU."""
    if "tools" not in _kernels:
        _kernels["tools"] = _assignments([FETCH_ARM64_TOOLS])
    return _kernels["tools"]


def cache_dir(arch="x86_64"):
    """Where built initramfs images are kept: next to the kernels fetch-kernel unpacked."""
    k = fetch_kernels(arch)
    # …/kernels/<version>/generic/boot/vmlinuz → …/kernels/<version>
    return os.path.dirname(os.path.dirname(os.path.dirname(k["NITROVM_GENERIC_KERNEL"])))


# ---------------------------------------------------------------------------------------------------------------
# Initramfs


# /init of the outer guest (busybox ash). Paths it reads from the result share (mounted at /out):
#   /out/config  sourced: HOSTDIR (the share's path on the host), CWD
#   /out/cmd     the command (run by the host's /bin/sh in the chroot)
#   /out/shares  host directories shared writable (one a line; 9p tags s0, s1, …)
# and writes /out/output (stdout+stderr of the command) and /out/status (its exit status).
INIT_SCRIPT = r"""#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
export PATH=/sbin:/usr/sbin:/bin:/usr/bin
# OpenSSL without its AVX/AVX2/SHA-extension code (docs/testing.md, "Known flakes"): the image's measurement now
# runs beside the vCPUs, and vector state in a host thread is what the platform's FPU flake feeds on.
export OPENSSL_ia32cap='~0x1000000000000000:~0x20000020'
# Tests that check the outer guest's own arrangements (tests/kvm/test_vm_churn.py) know where they run.
export NITROVM_NESTED_GUEST=1
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
say() { echo "nested-init: $*" > /dev/console; }
finish() { sync; say "$1"; echo "NESTED-EXIT ${2:-255}" > /dev/console; poweroff -f; sleep 5; reboot -f; }
for m in $(cat /modules/order); do
	insmod /modules/$m.ko 2>/dev/null || say "insmod $m failed"
done
mkdir -p /out /lower /rw /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 out /out || finish "cannot mount the result share"
# cache=loose: the host root is read-only here and nobody expects to see host changes made during the run.
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=loose,ro host /lower ||
	finish "cannot mount the host root"
mount -t tmpfs -o mode=755 rw /rw
mkdir -p /rw/upper /rw/work
if ! mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work root /newroot 2>/dev/null; then
	# No overlay: the read-only host root with tmpfs on the usual scratch directories.
	mount --bind /lower /newroot
	for d in tmp var/tmp run root; do mount -t tmpfs -o mode=1777 scratch /newroot/$d; done
fi
. /out/config
mount -t proc proc /newroot/proc
mount -t sysfs sys /newroot/sys
mount -t devtmpfs dev /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs -o mode=1777 shm /newroot/dev/shm
# /run holds the host's runtime state (pid files, sockets): start with an empty one. /tmp stays the overlay's,
# so files the host put there (a test's temporary directory) are visible.
mount -t tmpfs -o mode=755 run /newroot/run
mkdir -p "/newroot$HOSTDIR"
mount --bind /out "/newroot$HOSTDIR"
# Writable host directories, each at its own path (tags s0, s1, … in the order of /out/shares).
i=0
while read -r dir; do
	mkdir -p "/newroot$dir"
	mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 s$i "/newroot$dir" || finish "cannot mount $dir"
	i=$((i + 1))
done < /out/shares
# ARCH-SETUP
[ -e /dev/kvm ] || say "no /dev/kvm in the outer guest"
# KVM-KEEPER
# The kernel leaves every interface down, loopback too: commands expect 127.0.0.1 to work as on the host.
ip link set lo up || say "cannot bring up the loopback interface"
set -o pipefail
chroot /newroot /bin/sh -c 'cd "$1" && exec /bin/sh "$2/cmd"' sh "$CWD" "$HOSTDIR" </dev/null 2>&1 |
	tee /out/output > /dev/console
status=$?
echo $status > /out/status
finish "command exited with status $status" $status
"""


# arm64: the host's programs are x86_64, so the arm64 busybox stands in for /usr/bin and /usr/sbin (and so /bin
# and /sbin, links to them on a merged-/usr host) inside the chroot; the host's other files stay visible.
ARM64_SETUP = r"""for d in usr/bin usr/sbin; do mount -t tmpfs -o mode=755 arm64bin /newroot/$d || finish "cannot mount /$d"; done
cp /bin/busybox /newroot/usr/bin/busybox
chroot /newroot /usr/bin/busybox --install -s /usr/bin || finish "cannot install busybox in the chroot"
"""


# x86_64: hold KVM's static keys on before the command's first VM (tests/lib/kvm_keeper.py says why), and wait
# until they are (python3 starts in about a second here). No keeper, no failure: the old behaviour, said once.
KVM_KEEPER_SETUP = r"""if [ -e /dev/kvm ] && [ -n "$KEEPER" ]; then
	chroot /newroot /usr/bin/python3 "$KEEPER" /run/kvm-keeper.ready </dev/null >/dev/console 2>&1 &
	i=0
	while [ ! -e /newroot/run/kvm-keeper.ready ] && [ $i -lt 150 ] && kill -0 $! 2>/dev/null; do
		sleep 0.2; i=$((i + 1))
	done
	[ -e /newroot/run/kvm-keeper.ready ] || say "the KVM keeper is not holding the static keys"
fi
"""


def init_script(arch):
    return (INIT_SCRIPT.replace("# ARCH-SETUP\n", ARM64_SETUP if arch == "aarch64" else "")
            .replace("# KVM-KEEPER\n", "" if arch == "aarch64" else KVM_KEEPER_SETUP))


def build_initramfs(arch="x86_64"):
    """Build (or reuse from the cache) the outer guest's initramfs; return its path."""
    k = fetch_kernels(arch)
    moddir = k["NITROVM_GENERIC_MODULES"]
    bb_path = fetch_arm64_tools()["NITROVM_ARM64_BUSYBOX"] if arch == "aarch64" else BUSYBOX
    wanted = WANTED_MODULES_ARM64 if arch == "aarch64" else WANTED_MODULES
    script = init_script(arch)
    try:
        with open(bb_path, "rb") as f:
            busybox = f.read()
    except OSError as e:
        raise NestedError(f"cannot read {bb_path} ({e.strerror}): install busybox-static") from None
    key = hashlib.sha256(script.encode() + busybox + moddir.encode() +
                         repr(wanted).encode()).hexdigest()[:16]
    path = os.path.join(cache_dir(arch), f"nested-initramfs-{key}.cpio")
    if os.path.exists(path):
        return path
    if not _is_static(busybox):
        raise NestedError(f"{bb_path} is not a static busybox (install busybox-static)")
    mods = [(name, data) for name, _, data in kmod.resolve(moddir, wanted, missing_ok=True)]
    names = [n for n, _ in mods]
    builtin = kmod.builtin_modules(moddir)
    for need in ("virtio_mmio", "9p", "9pnet_virtio") + (() if arch == "aarch64" else ("kvm_amd",)):
        if need not in names and need not in builtin:
            raise NestedError(f"the generic kernel has no {need} module")
    c = cpio.Writer()
    for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys", "modules", "etc"):
        c.dir(d)
    c.file("bin/busybox", busybox, 0o755)
    c.symlink("bin/sh", "busybox")
    c.file("init", script.encode(), 0o755)
    c.file("modules/order", ("\n".join(names) + "\n").encode())
    for n, data in mods:
        c.file(f"modules/{n}.ko", data)
    tmp = path + f".tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(c.finish())
    os.replace(tmp, path)
    # Images of an older /init or module list go, but not recent ones: another checkout (a CI run next to a
    # working tree) may be about to boot its own.
    for old in os.listdir(cache_dir(arch)):
        full = os.path.join(cache_dir(arch), old)
        if old.startswith("nested-initramfs-") and old.endswith(".cpio") and old != os.path.basename(path):
            try:
                if time.time() - os.stat(full).st_mtime > STALE_INITRAMFS_S:
                    os.unlink(full)
            except FileNotFoundError:
                pass
    return path


def _is_static(elf):
    """True for an ELF64 executable without a program interpreter (PT_INTERP)."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        return False
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    return all(struct.unpack_from("<I", elf, phoff + i * phentsize)[0] != 3 for i in range(phnum))


# ---------------------------------------------------------------------------------------------------------------
# Running


def host_tsc_khz():
    """The host's TSC rate in kHz: the kernel's own calibration if dmesg shows it, else cpuinfo's "cpu MHz"."""
    try:
        log = subprocess.run(["dmesg"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        log = ""
    for pat in ("Refined TSC clocksource calibration: ", "tsc: Detected "):
        for line in reversed(log.splitlines()):
            if pat in line:
                try:
                    return int(float(line.split(pat)[1].split()[0]) * 1000)
                except (ValueError, IndexError):
                    pass
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return int(float(line.split(":")[1]) * 1000)
    except (OSError, ValueError):
        pass
    return 2000000


def _die_with_parent():
    """In the QEMU child: be killed if the Python process that started it dies, so no QEMU is left behind."""
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_PDEATHSIG = 1
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


# The outer guest's RAM backed on this host before it boots (QEMU touches it all, ~1 s for 6 GiB natively).
# Experiment: NITROVM_NESTED_PREALLOC=0 leaves it to first touch.
PREALLOC = [] if os.environ.get("NITROVM_NESTED_PREALLOC", "1") == "0" else ["-mem-prealloc"]


def qemu_command(kernel, initrd, hostdir, smp, memory, shares=(), arch="x86_64"):
    if arch == "aarch64":
        machine = [QEMU_ARM64, "-M", f"virt,virtualization=on,gic-version={ARM64_GIC}", "-cpu", "max", "-accel",
                   "tcg"]
        append = KERNEL_APPEND_ARM64
    else:
        machine = [QEMU, "-M", "microvm,accel=tcg", "-cpu", os.environ.get("NITROVM_NESTED_CPU", "EPYC,+svm")]
        append = KERNEL_APPEND.format(tsc_khz=host_tsc_khz())
    argv = machine + [
        "-m", memory, "-smp", str(smp), *PREALLOC,
        "-nographic", "-nodefaults", "-serial", "stdio", "-no-reboot",
        "-kernel", kernel, "-initrd", initrd, "-append", append,
        "-fsdev", "local,id=host,path=/,security_model=none,readonly=on,multidevs=remap",
        "-device", "virtio-9p-device,fsdev=host,mount_tag=host",
        "-fsdev", f"local,id=out,path={hostdir},security_model=none",
        "-device", "virtio-9p-device,fsdev=out,mount_tag=out",
    ]
    for i, d in enumerate(shares):
        argv += ["-fsdev", f"local,id=s{i},path={d},security_model=none",
                 "-device", f"virtio-9p-device,fsdev=s{i},mount_tag=s{i}"]
    return argv


def run_nested(cmd, timeout, smp=2, memory="2G", cwd=None, env=None, stream=None, console_log=None, shares=(),
               arch="x86_64"):
    """Run `cmd` (a /bin/sh command line) inside the nested guest, chrooted into the host's root.

    Returns (exit status, output). Output is the command's stdout and stderr together. Raises NestedTimeout
    (after killing QEMU) when the whole run, boot included, takes longer than `timeout` seconds, and
    NestedError when the guest could not run the command at all. `stream`, if given, is a file that receives
    the serial console as it arrives (kernel messages and the command's output); `console_log` a path where
    the whole console is written. `env` is a dict of variables exported to the command. `shares` are host
    directories the command can write to, at the same paths (everything else it writes stays in the guest).
    `arch` "aarch64" runs it in the arm64 machine instead, under its busybox (see the top of this file).
    """
    k = fetch_kernels(arch)
    initrd = build_initramfs(arch)
    cwd = os.path.abspath(cwd or os.getcwd())
    shares = [os.path.abspath(d) for d in shares]
    for d in shares:
        if not os.path.isdir(d) or "\n" in d or "," in d:
            raise NestedError(f"cannot share {d!r}: not a directory, or a name QEMU cannot take")
    hostdir = tempfile.mkdtemp(prefix="nitrovm-nested-")
    try:
        with open(os.path.join(hostdir, "config"), "w") as f:
            f.write(f"HOSTDIR={shlex.quote(hostdir)}\nCWD={shlex.quote(cwd)}\nKEEPER={shlex.quote(KVM_KEEPER)}\n")
        with open(os.path.join(hostdir, "cmd"), "w") as f:
            for name, val in (env or {}).items():
                f.write(f"export {name}={shlex.quote(str(val))}\n")
            f.write(cmd + "\n")
        with open(os.path.join(hostdir, "shares"), "w") as f:
            f.write("".join(d + "\n" for d in shares))
        argv = qemu_command(k["NITROVM_GENERIC_KERNEL"], initrd, hostdir, smp, memory, shares, arch)
        with _one_boot_at_a_time(stream):
            console, timed_out = _run_qemu(argv, timeout, stream)
        if console_log:
            with open(console_log, "w") as f:
                f.write(console)
        output = _read(os.path.join(hostdir, "output"))
        status = _read(os.path.join(hostdir, "status"))
        if timed_out:
            raise NestedTimeout(timeout, output, console, timed_out)
        if status.strip().isdigit():
            return int(status), output
        for line in console.splitlines():
            if line.startswith(EXIT_MARKER + " "):
                return int(line.split()[1]), output
        # QEMU ended by itself: with -no-reboot a reset of the outer guest (a triple fault) ends it too.
        raise NestedError("the nested guest stopped before the command finished (powered off, reset or "
                          "killed); its console:\n" + _tail(console, 40))
    finally:
        rmtree(hostdir)


@contextlib.contextmanager
def _one_boot_at_a_time(stream):
    """Hold the machine-wide nested lock (LOCK_PATH) while QEMU runs; the time limit starts once it is held."""
    if LOCK_PATH == "none":
        yield
        return
    with open(LOCK_PATH, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            t0 = time.monotonic()
            print(f"nested: waiting for another nested boot on this machine to end ({LOCK_PATH})",
                  file=stream or sys.stderr, flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
            print(f"nested: waited {time.monotonic() - t0:.0f} s", file=stream or sys.stderr, flush=True)
        yield


# QEMU's TCG says this once per CPUID bit of the EPYC model it does not emulate; none matters here.
_QEMU_NOISE = "warning: TCG doesn't support requested feature"


# The outer kernel's last words before it stops for good, and how long it is given to reset the machine itself.
OUTER_PANIC = b"Kernel panic - not syncing"
PANIC_GRACE = 5
# run_steps announces each step with its limit; the step's own `timeout -k 5` ends it by then, so an outer guest
# that has said nothing more STEP_GRACE seconds past that limit has hung (seen: a silent console for 25 minutes,
# after which only the whole run's limit ended it).
STEP_LINE = re.compile(rb"^== nested step (\S+) \(limit (\d+) s\)$", re.M)
STEP_GRACE = 60


def _run_qemu(argv, timeout, stream):
    """Run QEMU to completion or until `timeout` (then kill it); return (console text, why it was killed or
    False). It is killed when the whole run outlives `timeout` or one step outlives its limit (STEP_GRACE).
    QEMU's own messages (stderr), less known noise, are appended to the console text."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                                start_new_session=True, preexec_fn=_die_with_parent)
        chunks = []
        panicked = threading.Event()
        step = [None]  # (name, limit, when it began) of the step under way, set by the reader

        def reader():
            tail = b""
            for raw in iter(lambda: proc.stdout.read1(4096), b""):
                chunks.append(raw)
                if OUTER_PANIC in tail + raw:
                    panicked.set()
                # Whole lines only: a marker split across two reads is found in the second.
                text = tail + raw
                for m in STEP_LINE.finditer(text.replace(b"\r", b"")):
                    step[0] = (m.group(1).decode(errors="replace"), int(m.group(2)), time.monotonic())
                if EXIT_MARKER.encode() in text:
                    step[0] = None
                tail = text[text.rfind(b"\n") + 1:][-512:]
                if stream:
                    stream.write(raw.decode(errors="replace"))
                    stream.flush()

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        killed_why = False
        deadline = time.monotonic() + timeout
        try:
            # An outer kernel that panicked does not always reset the machine (seen: QEMU spinning for 15 minutes
            # after "Shutting down cpus with NMI"), so it is ended here, once its last words are out.
            while proc.poll() is None:
                now = time.monotonic()
                if now >= deadline:
                    killed_why = f"did not finish within {timeout} s"
                    break
                cur = step[0]
                if cur and now >= cur[2] + cur[1] + STEP_GRACE:
                    killed_why = (f"did not finish step {cur[0]}: silent {int(now - cur[2])} s after it began, "
                                  f"past its {cur[1]} s limit (the outer guest hung)")
                    break
                if panicked.wait(min(1.0, max(0.0, deadline - now))):
                    try:
                        proc.wait(timeout=PANIC_GRACE)
                    except subprocess.TimeoutExpired:
                        pass
                    break
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            t.join(5)
            proc.stdout.close()
        err.seek(0)
        qemu_msgs = [l for l in err.read().decode(errors="replace").splitlines() if _QEMU_NOISE not in l]
    text = b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")
    if qemu_msgs:
        text += "".join(f"[qemu] {l}\n" for l in qemu_msgs)
        if stream:
            stream.write("".join(f"[qemu] {l}\n" for l in qemu_msgs))
    if panicked.is_set():
        text += "[nested] the outer guest's kernel panicked: QEMU ended\n"
    elif killed_why:
        text += f"[nested] the outer guest {killed_why}: QEMU was killed\n"
        if stream:
            stream.write(f"[nested] the outer guest {killed_why}: QEMU was killed\n")
    # Killed from outside (SIGKILL but not by us) is worth saying too: the guest's console just stops.
    elif proc.returncode != 0:
        text += f"[qemu] exited with status {proc.returncode}\n"
    return text, killed_why


def _read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _tail(text, n):
    return "\n".join(text.splitlines()[-n:])


def rmtree(path):
    for root, dirs, files in os.walk(path, topdown=False):
        for f in files:
            os.unlink(os.path.join(root, f))
        for d in dirs:
            p = os.path.join(root, d)
            os.unlink(p) if os.path.islink(p) else os.rmdir(p)
    os.rmdir(path)


# ---------------------------------------------------------------------------------------------------------------
# Several steps in one boot


class StepResult:
    def __init__(self, name, status, output, seconds, retried=()):
        self.name, self.status, self.output, self.seconds = name, status, output, seconds
        self.retried = list(retried)  # the output of each attempt that showed a retry sign, oldest first

    def __repr__(self):
        return f"StepResult({self.name!r}, status={self.status}, {self.seconds:.1f} s)"


# What a step killed for its silence (run_steps(silence=...)) has at the end of its output.
SILENT_STEP = "nested step: its output stopped"


def _step_script(name, cmd, limit, base, retry_signs, retries, silence=None):
    """One step's shell lines. With retry_signs, a step that failed and printed one of them runs again, up to
    `retries` times: each attempt's output is kept as <name>.out.attemptN, and each is announced afresh, so the
    runner's silence watch (STEP_GRACE) starts over with it. With `silence` (seconds), a step whose output has
    not grown for that long is ended with SILENT_STEP appended to its output."""
    announce = f"echo '== nested step {name} (limit {limit} s)' >&2\n"
    run = (f"cut -d' ' -f1 /proc/uptime > {base}.time\n"
           f"timeout -k 5 {int(limit)} /bin/sh -c {shlex.quote(cmd)} > {base}.out 2>&1 < /dev/null")
    if silence:
        s = int(silence)
        run += (f" &\npid=$!\n"
                f"( last=-1; idle=0; while kill -0 $pid 2>/dev/null; do sleep 5; "
                f"size=$(wc -c < {base}.out); if [ \"$size\" = \"$last\" ]; then idle=$((idle + 5)); "
                f"else idle=0; last=$size; fi; "
                f"if [ $idle -ge {s} ]; then echo \"{SILENT_STEP} for {s} s; ended\" >> {base}.out; "
                f"kill -TERM $pid; break; fi; done ) &\n"
                f"watch=$!\nwait $pid\nst=$?\nkill $watch 2>/dev/null\nwait $watch 2>/dev/null\n")
    else:
        run += "\nst=$?\n"
    done = f"echo $st > {base}.status\ncut -d' ' -f1 /proc/uptime >> {base}.time\n"
    if not retry_signs or not retries:
        return announce + run + done
    signs = " ".join(f"-e {shlex.quote(s)}" for s in retry_signs)
    return (f"n=0\nwhile :; do\n{announce}{run}"
            f"[ $st -ne 0 ] && [ $n -lt {int(retries)} ] && grep -qF {signs} {base}.out || break\n"
            f"n=$((n + 1)); mv {base}.out {base}.out.attempt$n\n"
            f"echo \"== nested step {name}: a platform sign in its output, attempt $((n + 1))\" >&2\n"
            f"done\n" + done)


def run_steps(steps, workdir, mode="nested", outer_timeout=None, smp=2, stream=None, cwd=None, memory="2G",
              arch="x86_64", retry_signs=(), step_retries=0, silence=None):
    """Run named shell steps one after another, each under its own time limit, in one nested boot (an outer
    boot costs ~20-30 s here) or directly on this host (mode "direct").

    steps: [(name, command, timeout seconds)]. Each step's stdout+stderr, exit status (124 on its timeout)
    and duration land in workdir/<name>.{out,status,time}, which must be a directory under which the
    guest may write. `memory` is the outer guest's. Returns {name: StepResult}; a step that never ran has status
    None. Durations come from /proc/uptime (busybox's date has no sub-second format), of the last attempt.
    A step that fails with one of `retry_signs` in its output runs again, at most `step_retries` times, in the
    same boot (StepResult.retried keeps what the earlier attempts printed). With `silence` (seconds), a step
    whose output stops growing for that long is ended, SILENT_STEP at the end of its output: for steps that
    print a booting guest's console, where silence is a hung guest, not a slow one.
    """
    workdir = os.path.abspath(workdir)
    os.makedirs(workdir, exist_ok=True)
    script = "".join(_step_script(name, cmd, limit, shlex.quote(os.path.join(workdir, name)), retry_signs,
                                  step_retries, silence) for name, cmd, limit in steps)
    # <name>.out, .status, .time and .out.attemptN of this run's steps, left by an earlier run
    stale = {f"{name}.{ext}" for name, _, _ in steps for ext in ("out", "status", "time")}
    attempts = tuple(f"{name}.out.attempt" for name, _, _ in steps)
    for old in os.listdir(workdir):
        if old in stale or old.startswith(attempts):
            os.unlink(os.path.join(workdir, old))
    total = outer_timeout or (sum((limit + 10) * (1 + (step_retries if retry_signs else 0))
                                  for _, _, limit in steps) + 180)
    if mode == "direct":
        subprocess.run(["/bin/sh", "-c", script], cwd=cwd, stdin=subprocess.DEVNULL,
                       stdout=stream or subprocess.DEVNULL, stderr=stream or subprocess.DEVNULL,
                       timeout=total)
    else:
        run_nested(script, total, smp=smp, memory=memory, shares=[workdir], stream=stream, cwd=cwd, arch=arch)
    results = {}
    for name, _, _ in steps:
        st = _read(os.path.join(workdir, f"{name}.status")).strip()
        try:
            t0, t1 = (float(x) for x in _read(os.path.join(workdir, f"{name}.time")).split())
            secs = t1 - t0
        except ValueError:
            secs = float("nan")
        retried = []
        while os.path.exists(os.path.join(workdir, f"{name}.out.attempt{len(retried) + 1}")):
            retried.append(_read(os.path.join(workdir, f"{name}.out.attempt{len(retried) + 1}")))
        results[name] = StepResult(name, int(st) if st.isdigit() else None,
                                   _read(os.path.join(workdir, f"{name}.out")), secs, retried)
    return results


def e2e_mode():
    """How the e2e scenarios run here: NITROVM_E2E_MODE=nested|direct, else direct only where the host's KVM
    runs stock kernels."""
    mode = os.environ.get("NITROVM_E2E_MODE", "auto")
    if mode in ("nested", "direct"):
        return mode
    return "direct" if host_kvm_runs_stock_kernels() else "nested"


# ---------------------------------------------------------------------------------------------------------------
# Host facts


def host_kvm_runs_stock_kernels():
    """False on this project's PVM hosts (notes/platform.md), where stock Linux cannot boot on /dev/kvm."""
    if not os.path.exists("/dev/kvm"):
        return False
    return not os.path.exists("/sys/module/kvm_pvm")


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="scripts/nested",
        description="Run a command inside the nested Linux tier (QEMU TCG guest with emulated SVM and /dev/kvm), "
                    "chrooted into this host's root. Exits with the command's status.")
    ap.add_argument("--timeout", type=int, default=600, help="wall-clock limit in seconds, boot included")
    ap.add_argument("--smp", type=int, default=2, help="vCPUs of the outer guest")
    ap.add_argument("--arch", choices=("x86_64", "aarch64"), default="x86_64",
                    help="aarch64: the arm64 machine (commands run under its busybox; see tests/lib/nested.py)")
    ap.add_argument("--memory", default="2G", help="memory of the outer guest")
    ap.add_argument("--cwd", help="directory to run in (default: the current one)")
    ap.add_argument("--share", action="append", default=[], metavar="DIR",
                    help="a host directory the command may write to (repeatable); other writes stay in the guest")
    ap.add_argument("-v", "--verbose", action="store_true", help="stream the guest's serial console")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args(argv)
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        ap.error("no command given")
    line = cmd[0] if len(cmd) == 1 else shlex.join(cmd)
    start = time.monotonic()
    try:
        status, output = run_nested(line, a.timeout, smp=a.smp, memory=a.memory, cwd=a.cwd, shares=a.share,
                                    stream=sys.stderr if a.verbose else None, arch=a.arch)
    except NestedTimeout as e:
        sys.stdout.write(e.output)
        print(f"nested: {e}", file=sys.stderr)
        return 124
    except NestedError as e:
        print(f"nested: {e}", file=sys.stderr)
        return 125
    if not a.verbose:
        sys.stdout.write(output)
    print(f"nested: exit status {status} after {time.monotonic() - start:.1f} s", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
