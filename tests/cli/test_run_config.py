# SPDX-License-Identifier: MIT
"""run-enclave's choices made before anything runs, and where state goes when nitrovm runs as a service: no KVM.

--config takes nitro-cli's RunEnclavesArgs as JSON (snake_case keys, serde's rules: unknown keys ignored,
missing required ones and wrong types are nitro-cli's SerdeError, E17); cpu_count and cpu_ids exactly one
(E01 neither, E02 both); with --config, nitro-cli's own options conflict (E02)."""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from clicheck import error_line
from conftest import nitrovm_path, run


@pytest.fixture
def eif(inputs, tmp_path):
    out = tmp_path / "app.eif"
    p = run("build-enclave", "--kernel", inputs["kernel"], "--cmdline", "console=ttyS0", "--ramdisk", inputs["r0"],
            "--output-file", out)
    assert p.returncode == 0, p.stderr
    return out


def config(tmp_path, obj, raw=None):
    f = tmp_path / "run.json"
    f.write_text(raw if raw is not None else json.dumps(obj))
    return f


# No /dev/kvm is needed to get these wrong: each fails before the launch would touch it.
NO_KVM = {"NITROVM_KVM_DEVICE": "/nonexistent/kvm", "NITROVM_HYPERVISOR": "kvm"}


@pytest.mark.parametrize("obj,raw,code,fragment", [
    (None, "{not json", 17, "Invalid JSON format for config file"),
    (None, "[1, 2]", 17, "it is not a JSON object"),
    ({"memory_mib": 128, "cpu_count": 1}, None, 17, "eif_path (a string) is missing"),
    ({"eif_path": "x.eif", "cpu_count": 1}, None, 17, "memory_mib (a number of MiB) is missing"),
    ({"eif_path": "x.eif", "memory_mib": "lots", "cpu_count": 1}, None, 17, "memory_mib"),
    ({"eif_path": "x.eif", "memory_mib": 128}, None, 1, "Missing both `cpu-count` and `cpu-ids`"),
    ({"eif_path": "x.eif", "memory_mib": 128, "cpu_count": 1, "cpu_ids": [1]}, None, 2,
     "`cpu-count` and `cpu-ids` cannot be used together"),
    ({"eif_path": "x.eif", "memory_mib": 128, "cpu_count": 1, "enclave_cid": 3}, None, 3, "is reserved"),
    ({"eif_path": "x.eif", "memory_mib": 128, "cpu_count": 1, "debug_mode": "yes"}, None, 17,
     "debug_mode must be true or false"),
])
def test_config_errors(tmp_path, obj, raw, code, fragment):
    p = run("run-enclave", "--config", config(tmp_path, obj, raw), env=NO_KVM)
    assert fragment in error_line(p.stderr, code=code, returncode=p.returncode)


def test_config_missing_file(tmp_path):
    p = run("run-enclave", "--config", tmp_path / "nope.json", env=NO_KVM)
    assert "failing operation: 'Open'" in error_line(p.stderr, code=19, returncode=p.returncode)


@pytest.mark.parametrize("opt", [["--memory", "128"], ["--cpu-count", "2"], ["--eif-path", "x.eif"],
                                 ["--enclave-name", "n"], ["--debug-mode"], ["--enclave-cid", "42"]])
def test_config_conflicts_with_nitro_cli_options(tmp_path, opt):
    cfg = config(tmp_path, {"eif_path": "x.eif", "memory_mib": 128, "cpu_count": 1})
    p = run("run-enclave", "--config", cfg, *opt, env=NO_KVM)
    assert opt[0] in error_line(p.stderr, code=2, returncode=p.returncode)


def test_config_is_read_like_the_options(tmp_path, eif):
    """A good file gets as far as the options would: here to the missing KVM device (E19), with unknown keys
    ignored as serde ignores them, and the memory rules applied to memory_mib."""
    cfg = config(tmp_path, {"eif_path": str(eif), "memory_mib": 128, "cpu_count": 1, "enclave_name": "cfg",
                            "debug_mode": True, "attach_console": False, "a_newer_key": 1})
    p = run("run-enclave", "--config", cfg, env=NO_KVM)
    assert "/nonexistent/kvm" in error_line(p.stderr, code=19, returncode=p.returncode)
    small = config(tmp_path, {"eif_path": str(eif), "memory_mib": 3, "cpu_count": 1})
    p = run("run-enclave", "--config", small, env=NO_KVM)
    error_line(p.stderr, code=26, returncode=p.returncode)


def test_state_dir_without_a_writable_home():
    """As a service (HOME=/, read-only): the CA goes to a runtime directory, not //.local (seen: every launch
    failed with "[ E33 ] ... cannot create the directory //.local")."""
    if os.geteuid() != 0:
        pytest.fail("this test drops to nobody and needs root")
    env = {k: v for k, v in os.environ.items() if k not in ("NITROVM_STATE_DIR", "XDG_STATE_HOME",
                                                             "XDG_RUNTIME_DIR")}
    env["HOME"] = "/"
    nitrovm = nitrovm_path()
    exe = tempfile.mkdtemp(prefix="nitrovm-bin-")
    os.chmod(exe, 0o755)
    shutil.copy(nitrovm, os.path.join(exe, "nitrovm"))
    r = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
                        os.path.join(exe, "nitrovm"), "ca", "path"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "/tmp/nitrovm-65534/state/ca"
    shutil.rmtree("/tmp/nitrovm-65534", ignore_errors=True)
    r = subprocess.run([os.path.join(exe, "nitrovm"), "ca", "path"], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and r.stdout.strip() == "/var/lib/nitrovm/ca", r
    shutil.rmtree(exe)


# --run-as is checked before anything is forked or created: one sentence, exit 3, no socket, record or process.
@pytest.mark.parametrize("spec,fragment", [
    ("no-such-user-xyz", "there is no user 'no-such-user-xyz' on this host"),
    ("nobody:no-such-group-xyz", "there is no group 'no-such-group-xyz' on this host"),
    ("nobody:0", "nobody:0 mixes root with another user or group"),
    ("0:nogroup", "0:nogroup mixes root with another user or group"),
    (":nogroup", "is not a user name: give USER or USER:GROUP"),
])
def test_run_as_is_checked(tmp_path, eif, spec, fragment):
    if os.geteuid() != 0:
        pytest.fail("--run-as applies to a start as root: this test needs root")
    socks, recs = tmp_path / "sockets", tmp_path / "run"
    env = dict(NO_KVM, NITRO_CLI_SOCKETS_PATH=str(socks), NITROVM_RUN_DIR=str(recs))
    p = run("run-enclave", "--eif-path", eif, "--cpu-count", "1", "--memory", "64", "--run-as", spec, env=env)
    line = error_line(p.stderr, code=3, returncode=p.returncode)
    assert line.startswith("[ E03 ] ") and "--run-as: " in line and fragment in line, line
    assert not socks.exists() and not recs.exists(), (list(tmp_path.iterdir()))


def test_run_as_needs_root(tmp_path):
    """Started as another user there is nothing to switch from: naming a user is refused, not ignored."""
    if os.geteuid() != 0:
        pytest.fail("this test drops to nobody and needs root")
    d = tempfile.mkdtemp(prefix="nitrovm-runas-")
    os.chmod(d, 0o755)
    try:
        env = dict(os.environ, NITRO_CLI_SOCKETS_PATH=os.path.join(d, "s"), NITROVM_RUN_DIR=os.path.join(d, "r"),
                   **NO_KVM)
        r = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", nitrovm_path(),
                            "run-enclave", "--eif-path", "/nonexistent.eif", "--cpu-count", "1", "--memory", "64",
                            "--run-as", "nobody"], capture_output=True, text=True, env=env, timeout=30)
        line = error_line(r.stderr, code=3, returncode=r.returncode)
        assert "switching to user nobody needs nitrovm started as root (it runs as uid 65534" in line, line
        assert sorted(os.listdir(d)) == [], os.listdir(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)
