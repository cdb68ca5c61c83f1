"""The QEMU-style front end's host-bridge options: a bad one ends the command with its E03 line, before any
launch.  NITROVM_KVM_DEVICE points at nothing, so a front end that went on to launch would print a second error
line (the KVM device's), and error_line() would see it."""
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
