"""The QEMU-style front end's host-bridge options: a bad one ends the command with its E03 line, before any
launch.  NITROVM_KVM_DEVICE points at nothing, so a front end that went on to launch would print a second error
line (the KVM device's), and error_line() would see it."""
import os

import pytest

from clicheck import error_line
from conftest import run

NO_KVM = {"NITROVM_KVM_DEVICE": "/nonexistent/kvm"}


@pytest.fixture
def eif(inputs, tmp_path):
    out = tmp_path / "x.eif"
    run("build-enclave", "--kernel", inputs["kernel"], "--cmdline", "console=ttyS0", "--ramdisk", inputs["r0"],
        "--output-file", out, check=True)
    return out


@pytest.mark.parametrize("bridge,fragment", [
    (["--forward-vsock", "abc"], "abc"),
    (["-forward-vsock", "abc"], "abc"),
    (["--forward-listen", "tcp:127.0.0.1:8000"], "tcp:127.0.0.1:8000"),
    (["--forward-connect", "vsock:x=tcp:127.0.0.1:1"], "vsock:x"),
    (["--vsock-uds", "/tmp/a.sock", "--vsock-uds", "/tmp/b.sock"], "given twice"),
    (["--forward-bogus", "1"], "unknown option '--forward-bogus'"),
    (["--forward-vsock"], "needs a value"),
    (["-vsock-uds"], "needs a value"),
])
def test_bad_bridge_option_launches_nothing(eif, bridge, fragment):
    p = run("-M", "nitro-enclave", "-kernel", eif, "-m", "128M", *bridge, env=NO_KVM)
    line = error_line(p.stderr, code=3, returncode=p.returncode)
    assert fragment in line, line
    assert p.stdout == b""


def test_bad_bridge_option_before_the_kernel_option(eif):
    """Order does not matter: the option is refused wherever it stands."""
    p = run("-M", "nitro-enclave", "--forward-vsock", "port", "-kernel", eif, env=NO_KVM)
    error_line(p.stderr, code=3, returncode=p.returncode)


def test_good_bridge_options_reach_the_launch(eif):
    """The control case: valid bridges pass the parser, and the launch fails on the missing KVM device."""
    p = run("-M", "nitro-enclave", "-kernel", eif, "-m", "128M", "--forward-vsock", "8000", "--vsock-uds",
            "/tmp/nitrovm-test-unused.sock", env=NO_KVM)
    line = error_line(p.stderr, returncode=p.returncode)
    assert "/nonexistent/kvm" in line, line


# ---- QEMU's option grammar: lines that reach the launch, and lines refused with one sentence ----

def reaches_launch(p):
    """The command line was taken as a whole: the launch itself failed, on the missing KVM device."""
    line = error_line(p.stderr, returncode=p.returncode)
    assert "/nonexistent/kvm" in line, line


def refused(p, fragment):
    line = error_line(p.stderr, code=3, returncode=p.returncode)
    assert fragment in line, line
    assert p.stdout == b""
    return line


def test_source_document_001_line(eif):
    """QEMU's nitro-enclave.rst, first version: qemu-system-x86_64 -M nitro-enclave,guest-cid=8 -enable-kvm -cpu host -m 512m -kernel hello.eif
    -nographic, with the binary name changed."""
    reaches_launch(run("-M", "nitro-enclave,guest-cid=8", "-enable-kvm", "-cpu", "host", "-m", "512m", "-kernel",
                       eif, "-nographic", env=NO_KVM))


@pytest.mark.parametrize("cid", ["0", "3", "4294967295", "99999999999", "eight", "-4"])
def test_guest_cid_below_4_or_not_a_cid(eif, cid):
    refused(run("-M", f"nitro-enclave,guest-cid={cid}", "-kernel", eif, env=NO_KVM), "guest-cid")


@pytest.mark.parametrize("cid", ["4", "16", "4294967294"])
def test_guest_cid_accepted(eif, cid):
    reaches_launch(run("-M", f"nitro-enclave,guest-cid={cid}", "-kernel", eif, env=NO_KVM))


def test_guest_cid_is_not_a_nitro_machine_option(eif):
    refused(run("-accel", "nitro", "-M", "nitro,guest-cid=8", "-kernel", eif, env=NO_KVM), "enclave-cid=N")


def test_two_dash_forms(eif):
    reaches_launch(run("--machine", "nitro-enclave,guest-cid=5", "--enable-kvm", "--cpu", "host", "--m", "128M",
                       "--smp", "1", "--kernel", eif, "--nographic", "--no-user-config", "--nodefaults",
                       env=NO_KVM))


def test_two_dash_unknown_option_is_the_front_ends_error(eif):
    """--bogus first on the line goes to the QEMU front end, which names it; not 'unknown command'."""
    refused(run("--bogus", "-kernel", eif, env=NO_KVM), "unknown option '--bogus'")


@pytest.mark.parametrize("machine", ["nitro-enclave,accel=kvm", "type=nitro-enclave,accel=kvm",
                                     "nitro-enclave,acpi=on,rng=off,guest-cid=7"])
def test_machine_type_and_accel(eif, machine):
    reaches_launch(run("-machine", machine, "-kernel", eif, env=NO_KVM))


def test_machine_given_twice_adds_up(eif):
    reaches_launch(run("-M", "nitro-enclave", "-machine", "guest-cid=9", "-kernel", eif, env=NO_KVM))


@pytest.mark.parametrize("machine,fragment", [
    ("nitro-enclave,accel=tcg", "never emulated"),
    ("nitro-enclave,accel=nitro", "use -M nitro"),
    ("pc,accel=kvm", "unknown machine type 'pc'"),
    ("nitro-enclave,accel=bogus", "unknown accelerator 'bogus'"),
])
def test_machine_accel_refused(eif, machine, fragment):
    refused(run("-machine", machine, "-kernel", eif, env=NO_KVM), fragment)


def test_accel_tcg_refused(eif):
    refused(run("-M", "nitro-enclave", "-accel", "tcg", "-kernel", eif, env=NO_KVM), "never emulated")


@pytest.mark.parametrize("smp", ["2", "cpus=2", "2,sockets=1,cores=2,threads=1", "sockets=1,cores=2",
                                 "2,threads=2", "2,maxcpus=4", "4,sockets=2,cores=2",
                                 "2,sockets=1,dies=1,clusters=1,cores=1,threads=2"])
def test_smp_consistent(eif, smp):
    reaches_launch(run("-M", "nitro-enclave", "-smp", smp, "-kernel", eif, env=NO_KVM))


@pytest.mark.parametrize("smp,fragment", [
    ("4,sockets=2,cores=1,threads=1", "!= maxcpus (4)"),
    ("4,maxcpus=2", "maxcpus (2) must be equal to or greater"),
    ("2,sockets=3,cores=1", "invalid CPU topology"),
    ("0", "greater than zero"),
    ("2,cores=0", "greater than zero"),
    ("2,dies=2", "one per socket"),
    ("two", "not a number"),
    ("2,books=1", "unknown -smp option 'books'"),
    ("65", "at most 64 vCPUs"),
])
def test_smp_inconsistent(eif, smp, fragment):
    refused(run("-M", "nitro-enclave", "-smp", smp, "-kernel", eif, env=NO_KVM), fragment)


@pytest.mark.parametrize("serial", ["none", "null", "stdio", "mon:stdio"])
def test_serial_forms(eif, serial):
    reaches_launch(run("-M", "nitro-enclave", "-serial", serial, "-kernel", eif, env=NO_KVM))


def test_serial_file_is_created_as_qemu_does(eif, tmp_path):
    out = tmp_path / "console.log"
    out.write_text("old contents\n")
    reaches_launch(run("-M", "nitro-enclave", "-serial", f"file:{out}", "-kernel", eif, env=NO_KVM))
    assert out.read_text() == ""  # truncated, as QEMU's file chardev does


@pytest.mark.parametrize("order", ["chardev-first", "serial-first"])
def test_serial_chardev(eif, tmp_path, order):
    out = tmp_path / "c.log"
    chardev = ["-chardev", f"file,id=con0,path={out}"]
    serial = ["-serial", "chardev:con0"]
    opts = chardev + serial if order == "chardev-first" else serial + chardev
    reaches_launch(run("-M", "nitro-enclave", *opts, "-kernel", eif, env=NO_KVM))
    assert out.exists()


@pytest.mark.parametrize("opts,fragment", [
    (["-serial", "stdio", "-serial", "none"], "one serial port"),
    (["-serial", "chardev:nope"], "no -chardev has that id"),
    (["-chardev", "socket,id=s,path=/tmp/x.sock", "-serial", "chardev:s"], "socket chardev"),
    (["-serial", "pty"], "none, stdio, mon:stdio, file:PATH or chardev:ID"),
    (["-chardev", "file,id=a,path=/tmp/a", "-chardev", "null,id=a"], "duplicate chardev id 'a'"),
    (["-chardev", "pty,id=p"], "chardev backends are"),
    (["-chardev", "file,id=f"], "needs path=FILE"),
])
def test_serial_refused(eif, opts, fragment):
    refused(run("-M", "nitro-enclave", *opts, "-kernel", eif, env=NO_KVM), fragment)


@pytest.mark.parametrize("opts", [["-monitor", "none"], ["-vga", "none"], ["-display", "none"], ["-no-user-config"],
                                  ["-name", "guest=hello"], ["-name", "hello"],
                                  ["-name", "guest=hello,process=nv,debug-threads=on"], ["-parallel", "none"],
                                  ["-no-hpet"], ["-no-reboot"], ["-nodefaults"], ["-no-acpi"]])
def test_options_that_describe_the_machine(eif, opts):
    reaches_launch(run("-M", "nitro-enclave", *opts, "-kernel", eif, env=NO_KVM))


@pytest.mark.parametrize("opts,fragment", [
    (["-monitor", "stdio"], "no human monitor"),
    (["-vga", "std"], "no display"),
    (["-name", "guest=x,colour=red"], "unknown -name option 'colour'"),
    (["-qmp", "stdio"], "unix:PATH"),
])
def test_machine_description_refused(eif, opts, fragment):
    refused(run("-M", "nitro-enclave", *opts, "-kernel", eif, env=NO_KVM), fragment)


@pytest.mark.parametrize("opt,value,fragment", [
    ("-netdev", "user,id=n0", "no network"),
    ("-nic", "user", "no network"),
    ("-drive", "file=disk.img", "no disks"),
    ("-hda", "disk.img", "no disks"),
    ("-snapshot", None, "no disks"),
    ("-device", "virtio-net-pci", "devices are fixed"),
    ("-vnc", ":0", "no display"),
    ("-usb", None, "no USB"),
    ("-bios", "bios.bin", "no firmware"),
    ("-incoming", "tcp:0:4444", "cannot be migrated"),
    ("-S", None, "no paused state"),
    ("-gdb", "tcp::1234", "cannot be debugged"),
    ("-mem-path", "/dev/hugepages", "hugepages=on"),
    ("-no-shutdown", None, "ends with it"),
    ("--netdev", "user,id=n0", "no network"),
])
def test_options_meaningless_for_an_enclave(eif, opt, value, fragment):
    extra = [opt] + ([value] if value else [])
    line = refused(run("-M", "nitro-enclave", "-kernel", eif, *extra, env=NO_KVM), fragment)
    assert opt in line and "unknown option" not in line


def test_memory_backend_memfd(eif):
    reaches_launch(run("-M", "nitro-enclave,memory-backend=mem0", "-object",
                       "memory-backend-memfd,id=mem0,size=256M,share=on", "-kernel", eif, env=NO_KVM))


def test_memory_backend_with_same_m(eif):
    reaches_launch(run("-object", "memory-backend-memfd,id=mem0,size=512M,share=on", "-machine",
                       "nitro-enclave,memory-backend=mem0", "-m", "512M", "-kernel", eif, env=NO_KVM))


def test_memory_backend_by_numa_node(eif):
    reaches_launch(run("-M", "nitro-enclave", "-object", "memory-backend-memfd,id=mem,size=256M,share=on",
                       "-numa", "node,memdev=mem", "-kernel", eif, env=NO_KVM))


@pytest.mark.parametrize("opts,fragment", [
    (["-object", "memory-backend-memfd,id=mem0,size=256M", "-machine", "memory-backend=mem0", "-m", "512M"],
     "differ"),
    (["-machine", "memory-backend=nope"], "'nope' is not defined"),
    (["-object", "memory-backend-file,id=m,size=256M,mem-path=/dev/shm/x"], "always a memfd"),
    (["-object", "secret,id=s,data=x"], "only memory-backend-memfd"),
    (["-object", "memory-backend-memfd,id=m"], "give id= and size="),
    (["-numa", "node,memdev=a", "-numa", "node,memdev=b"], "one NUMA node"),
])
def test_memory_backend_refused(eif, opts, fragment):
    refused(run("-M", "nitro-enclave", *opts, "-kernel", eif, env=NO_KVM), fragment)


@pytest.mark.parametrize("opts,fragment", [
    (["-daemonize", "-nographic"], "-nographic cannot be used with -daemonize"),
    (["-daemonize"], "no terminal for the console"),
    (["-daemonize", "-serial", "stdio"], "no terminal for the console"),
])
def test_daemonize_needs_a_console_elsewhere(eif, opts, fragment):
    refused(run("-M", "nitro-enclave", *opts, "-kernel", eif, env=NO_KVM), fragment)


def test_daemonize_reports_the_launch_error_and_leaves_no_pidfile(eif, tmp_path):
    """The daemon's launch fails (no KVM): the command that started it says why, with the launch's status, and
    the pid file the daemon wrote is gone with it."""
    pid = tmp_path / "q.pid"
    p = run("-M", "nitro-enclave", "-daemonize", "-serial", "none", "-pidfile", pid, "-kernel", eif, env=NO_KVM)
    reaches_launch(p)
    assert p.returncode == 19
    assert not pid.exists()


def test_pidfile_held_by_another_process(eif, tmp_path):
    import fcntl
    pid = tmp_path / "q.pid"
    with open(pid, "w") as f:
        fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        p = run("-M", "nitro-enclave", "-pidfile", pid, "-kernel", eif, env=NO_KVM)
    line = error_line(p.stderr, code=19, returncode=p.returncode)
    assert "another process holds it" in line


def test_help_lists_the_grammar():
    p = run("-M", "nitro-enclave", "-help")
    assert p.returncode == 0
    for word in (b"guest-cid=N", b"-serial none|stdio|mon:stdio|file:PATH|chardev:ID", b"-daemonize",
                 b"memory-backend-memfd", b"maxcpus"):
        assert word in p.stdout, word


# ---- QEMU's nitro-enclave.rst: -M nitro-enclave,vsock=ID with -chardev socket (a vhost-user backend) ----

def test_source_document_003_line(eif):
    """QEMU's nitro-enclave.rst: qemu-system-x86_64 -M nitro-enclave,vsock=c,id=hello-world -kernel hello-world.eif -nographic
    -m 4G --enable-kvm -cpu host -chardev socket,id=c,path=/tmp/vhost4.socket: taken whole (the launch then
    fails on the missing KVM device, before it would connect), with the sentence about the heartbeat."""
    p = run("-M", "nitro-enclave,vsock=c,id=hello-world", "-kernel", eif, "-nographic", "-m", "4G", "--enable-kvm",
            "-cpu", "host", "-chardev", "socket,id=c,path=/tmp/vhost4.socket", env=NO_KVM)
    reaches_launch(p)
    assert b"heartbeat (port 9000)" in p.stderr and b"/tmp/vhost4.socket" in p.stderr


@pytest.mark.parametrize("opts,fragment", [
    (["-M", "nitro-enclave,vsock=c"], "no -chardev has that id"),
    (["-M", "nitro-enclave,vsock=c", "-chardev", "file,id=c,path=/tmp/x"], "must be a Unix socket"),
    (["-M", "nitro-enclave,vsock=c", "-chardev", "socket,id=c,host=127.0.0.1,port=9"], "must be a Unix socket"),
    (["-M", "nitro-enclave,vsock=c", "-chardev", "socket,id=c,path=/tmp/v.sock,server=on"], "nitrovm connects"),
    (["-M", "nitro-enclave,vsock=c,guest-cid=5", "-chardev", "socket,id=c,path=/tmp/v.sock"], "backend's guest-cid"),
    (["-M", "nitro-enclave,vsock=c", "-chardev", "socket,id=c,path=/tmp/v.sock", "--forward-vsock", "5000"],
     "the backend serves every vsock port"),
])
def test_vsock_chardev_refused(eif, opts, fragment):
    refused(run(*opts, "-kernel", eif, env=NO_KVM), fragment)


@pytest.mark.parametrize("qmp", ["unix:/tmp/nitrovm-test-qmp.sock,server=on,wait=off", "unix:/tmp/q.sock,server,nowait",
                                 "tcp:127.0.0.1:4444,server=on,wait=off", "tcp:localhost:4444,server,wait=off"])
def test_qmp_forms(eif, qmp):
    reaches_launch(run("-M", "nitro-enclave", "-qmp", qmp, "-kernel", eif, env=NO_KVM))


@pytest.mark.parametrize("qmp,fragment", [
    ("unix:/tmp/q.sock,server=off", "does not connect to a client"),
    ("tcp:127.0.0.1", "give unix:PATH or tcp:HOST:PORT"),
    ("unix:/tmp/q.sock,colour=red", "unknown -qmp option 'colour'"),
    ("stdio", "unix:PATH"),
])
def test_qmp_refused(eif, qmp, fragment):
    refused(run("-M", "nitro-enclave", "-qmp", qmp, "-kernel", eif, env=NO_KVM), fragment)


def test_qmp_three_sockets_refused(eif):
    refused(run("-M", "nitro-enclave", "-qmp", "unix:/tmp/a,server,nowait", "-qmp", "unix:/tmp/b,server,nowait",
                "-qmp", "unix:/tmp/c,server,nowait", "-kernel", eif, env=NO_KVM), "at most two")


@pytest.mark.parametrize("value", ["maybe", "", "onx", "of"])
def test_bad_sandbox_value_launches_nothing(eif, value):
    p = run("-M", "nitro-enclave", "-kernel", eif, "-sandbox", value, env=NO_KVM)
    line = error_line(p.stderr, code=3, returncode=p.returncode)
    assert f"-sandbox {value}:" in line and "-sandbox off" in line, line


@pytest.mark.parametrize("value", ["on", "off", "on,obsolete=deny,elevateprivileges=deny,spawn=deny"])
def test_good_sandbox_values_reach_the_launch(eif, value):
    p = run("-M", "nitro-enclave", "-kernel", eif, "-sandbox", value, env=NO_KVM)
    line = error_line(p.stderr, returncode=p.returncode)
    assert "/nonexistent/kvm" in line, line


@pytest.mark.parametrize("extra,code,fragment", [
    (["-runas", "no-such-user-xyz"], 3, "-runas: there is no user 'no-such-user-xyz' on this host"),
    (["-runas", "nobody", "-pidfile", "/tmp/nitrovm-never.pid"], 2, "-runas cannot be combined with -pidfile"),
    (["-runas", "nobody", "-qmp", "unix:/tmp/nitrovm-never.qmp,server=on,wait=off"], 2,
     "-runas cannot be combined with -qmp unix:/tmp/nitrovm-never.qmp"),
])
def test_runas_refused_before_anything_runs(eif, extra, code, fragment):
    """QEMU's -runas (src/enclave/privdrop.h): a user that does not exist, or files the dropped process could not
    remove, end the command with one line before any launch (no pid file, no socket)."""
    if os.geteuid() != 0:
        pytest.fail("-runas applies to a start as root: this test needs root")
    p = run("-M", "nitro-enclave", "-kernel", eif, "-m", "128M", *extra, env=NO_KVM)
    line = error_line(p.stderr, code=code, returncode=p.returncode)
    assert fragment in line, line
    assert not os.path.exists("/tmp/nitrovm-never.pid") and not os.path.exists("/tmp/nitrovm-never.qmp")
