# SPDX-License-Identifier: MIT
"""nitrovm-runc's command line on this host, without booting anything (the nested tier boots: tests/e2e/
test_runc_engines.py).

  - the name chooses: the same binary called nitrovm-runc speaks runc's command line;
  - runc's global flags, unknown ones accepted; refused commands say why in one sentence;
  - the answers clients match on ("does not exist", "container not running"), `delete --force` of an unknown id;
  - create of a rootfs-mode container: the monitor is ready (pid file decimal without newline, state
    "created", the monitor in the container's cgroup), kill before start ends it, delete leaves nothing;
  - bad bundles and annotations: one sentence, exit 1, no state directory or cgroup left behind;
  - a container not selected (nitrovm.io/enclave=false) goes to runc, and its later commands too.
"""
import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import ROOT

RUNC = os.environ.get("NITROVM_RUNC", str(ROOT / "build" / "nitrovm-runc"))
BUSYBOX = "/bin/busybox"


@pytest.fixture(scope="module")
def runc_bin():
    if not os.access(RUNC, os.X_OK):
        pytest.fail(f"{RUNC} is not built (ninja -C build makes it, a link to nitrovm)")
    return RUNC


@pytest.fixture
def rt(runc_bin, tmp_path):
    """Run nitrovm-runc with a root of its own and a configuration naming a kernel (a fake: create packs it)."""
    from conftest import fake_bzimage
    kernel = fake_bzimage(tmp_path / "bzImage")
    conf = tmp_path / "runc.conf"
    conf.write_text(f"# test configuration\nkernel = {kernel}\nhypervisor = kvm\n")
    root = tmp_path / "root"
    env = dict(os.environ, NITROVM_RUNC_CONFIG=str(conf))

    def run(*args, check=False, timeout=60):
        argv = [runc_bin, "--root", str(root), *map(str, args)]
        if "create" in args:
            # The monitor keeps a non-tty create's stdio as the container's (runc's does too): like conmon and
            # containerd, give it files, not pipes read to their end.
            with open(tmp_path / "create.out", "w+") as out, open(tmp_path / "create.err", "w+") as err:
                p = subprocess.run(argv, stdout=out, stderr=err, env=env, timeout=timeout,
                                   stdin=subprocess.DEVNULL)
                out.seek(0)
                err.seek(0)
                p = subprocess.CompletedProcess(argv, p.returncode, out.read(), err.read())
        else:
            p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout,
                               stdin=subprocess.DEVNULL)
        if check and p.returncode:
            raise AssertionError(f"nitrovm-runc {' '.join(map(str, args))} exited {p.returncode}: {p.stderr}")
        return p
    run.root = root
    run.env = env
    run.conf = conf
    yield run
    # Whatever a failed test left running ends with it.
    if root.exists():
        for d in root.iterdir():
            if not d.name.startswith("@"):
                run("delete", "--force", d.name)
            else:
                for c in d.iterdir():
                    run("delete", "--force", c.name)


def one_sentence(stderr):
    lines = [l for l in stderr.splitlines() if l.strip()]
    assert len(lines) == 1, f"expected one sentence on stderr, got:\n{stderr}"
    return lines[0]


def make_bundle(d, args=("sh", "-c", "echo hi"), annotations=None, edit=None):
    """A runc-style bundle with a busybox root filesystem."""
    rootfs = d / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy(BUSYBOX, rootfs / "bin" / "busybox")
    for t in ("sh", "echo", "sleep"):
        os.symlink("busybox", rootfs / "bin" / t)
    (rootfs / "etc").mkdir()
    (rootfs / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    subprocess.run(["runc", "spec", "--bundle", str(d)], check=True)
    cfg = json.loads((d / "config.json").read_text())
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = list(args)
    cfg["annotations"] = annotations or {}
    if edit:
        edit(cfg)
    (d / "config.json").write_text(json.dumps(cfg))
    return d


def test_the_name_chooses(runc_bin, tmp_path):
    p = subprocess.run([runc_bin, "--version"], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.startswith("nitrovm-runc version "), p
    assert "spec: 1.0.2" in p.stdout
    link = tmp_path / "nitrovm"
    os.symlink(os.path.realpath(runc_bin), link)
    p = subprocess.run([str(link), "--version"], capture_output=True, text=True)
    assert "nitrovm-runc" not in p.stdout, "called nitrovm, the binary must be nitrovm"


def test_features_and_unknown_global_flags(rt):
    p = rt("--systemd-cgroup=false", "--criu", "/bin/criu", "--some-future-flag", "x", "--debug", "features")
    assert p.returncode == 0, p.stderr
    f = json.loads(p.stdout)
    assert f["ociVersionMax"] == "1.0.2"
    assert "nitrovm.io/eif" in f["annotations"] and f["linux"]["cgroup"]["v2"] is True


@pytest.mark.parametrize("cmd", ["exec", "pause", "resume", "update", "checkpoint", "restore"])
def test_refused_commands_say_why(rt, cmd):
    p = rt(cmd, "x")
    assert p.returncode == 1
    assert "is not supported by nitrovm-runc" in one_sentence(p.stderr)


def test_unknown_ids(rt):
    for args in (("state", "ghost"), ("start", "ghost"), ("kill", "ghost", "KILL"), ("delete", "ghost"),
                 ("ps", "ghost")):
        p = rt(*args)
        assert p.returncode == 1, args
        assert 'container "ghost" does not exist' in one_sentence(p.stderr), (args, p.stderr)
    assert rt("delete", "--force", "ghost").returncode == 0
    p = rt("state", "../etc")
    assert p.returncode == 1 and "invalid container id" in one_sentence(p.stderr)


def test_log_file_json(rt, tmp_path):
    log = tmp_path / "runc.log"
    p = rt("--log", log, "--log-format", "json", "state", "ghost")
    assert p.returncode == 1
    rec = json.loads(log.read_text().splitlines()[-1])
    assert rec["level"] == "error" and "does not exist" in rec["msg"] and rec["time"].endswith("Z")
    p = rt("--log-format", "yaml", "state", "x")
    assert p.returncode == 1 and "--log-format" in one_sentence(p.stderr)


def cgroup_of(pid):
    with open(f"/proc/{pid}/cgroup") as f:
        return f.read()


def test_create_kill_delete(rt, tmp_path):
    b = make_bundle(tmp_path / "b", edit=lambda c: c["linux"].update(cgroupsPath="/nitrovm-runc-test/c1"))
    pidfile = tmp_path / "pid"
    p = rt("create", "--bundle", b, "--pid-file", pidfile, "c1")
    assert p.returncode == 0, p.stderr
    raw = pidfile.read_text()
    assert raw.isdigit(), f"the pid file must be decimal without a newline: {raw!r}"
    pid = int(raw)
    st = json.loads(rt("state", "c1", check=True).stdout)
    assert st["status"] == "created" and st["pid"] == pid and st["id"] == "c1"
    assert st["bundle"] == str(b) and st["rootfs"] == str(b / "rootfs") and st["ociVersion"] == "1.0.2"
    assert "/nitrovm-runc-test/c1" in cgroup_of(pid), cgroup_of(pid)
    ps = json.loads(rt("ps", "--format", "json", "c1", check=True).stdout)
    assert ps == [pid]
    p = rt("create", "--bundle", b, "c1")
    assert p.returncode == 1 and "exists" in one_sentence(p.stderr)
    # A created container that is signalled ends as a process that never ran would.
    rt("kill", "c1", "TERM", check=True)
    for _ in range(100):
        if json.loads(rt("state", "c1", check=True).stdout)["status"] == "stopped":
            break
        time.sleep(0.05)
    assert json.loads(rt("state", "c1", check=True).stdout)["status"] == "stopped"
    p = rt("kill", "c1", "TERM")
    assert p.returncode == 1 and "container not running" in one_sentence(p.stderr)
    rt("delete", "c1", check=True)
    assert not (rt.root / "c1").exists()
    assert rt("state", "c1").returncode == 1
    leftover = [d for d in ("/sys/fs/cgroup/nitrovm-runc-test/c1", "/sys/fs/cgroup/memory/nitrovm-runc-test/c1",
                            "/sys/fs/cgroup/unified/nitrovm-runc-test/c1") if os.path.exists(d)]
    assert not leftover, leftover


def test_delete_force_of_a_created_container(rt, tmp_path):
    b = make_bundle(tmp_path / "b")
    rt("create", "--bundle", b, "--pid-file", tmp_path / "pid", "c2", check=True)
    pid = int((tmp_path / "pid").read_text())
    rt("delete", "--force", "c2", check=True)
    assert not os.path.exists(f"/proc/{pid}") or "Z" in open(f"/proc/{pid}/stat").read().split()[2]
    assert not (rt.root / "c2").exists()


def no_leftovers(rt, cid):
    assert not (rt.root / cid).exists(), f"create failed but left {rt.root / cid}"


@pytest.mark.parametrize("name,edit,words", [
    ("not-json", None, "not valid JSON"),
    ("no-args", lambda c: c["process"].update(args=[]), "nothing to run"),
    ("args-not-strings", lambda c: c["process"].update(args=["sh", 3]), "process.args[1] is not a string"),
    ("relative-cwd", lambda c: c["process"].update(cwd="tmp"), "not an absolute path"),
    ("bad-env", lambda c: c["process"].update(env=["NOEQUALS"]), "is not NAME=VALUE"),
    ("bad-annotation", lambda c: c["annotations"].update({"nitrovm.io/enclave": "yes"}), "true or false"),
    ("bad-cpus", lambda c: c["annotations"].update({"nitrovm.io/cpus": "-1"}), "nitrovm.io/cpus"),
    ("bad-memory", lambda c: c["annotations"].update({"nitrovm.io/memory-mib": "12abc"}), "nitrovm.io/memory-mib"),
    ("bad-ports", lambda c: c["annotations"].update({"nitrovm.io/ports": "80:"}), "nitrovm.io/ports"),
    ("eif-outside", lambda c: c["annotations"].update({"nitrovm.io/eif": "/../../etc/passwd"}), "EIF"),
    ("cgroup-escape", lambda c: c["linux"].update(cgroupsPath="/a/../../b"), "cgroupsPath"),
    ("terminal-no-socket", lambda c: c["process"].update(terminal=True), "--console-socket"),
])
def test_bad_bundles_leave_nothing(rt, tmp_path, name, edit, words):
    b = make_bundle(tmp_path / "b", edit=edit)
    if name == "not-json":
        (b / "config.json").write_text('{"root": {"path": "rootfs"}, ')
    p = rt("create", "--bundle", b, "--pid-file", tmp_path / "pid", "bad")
    assert p.returncode == 1, p
    assert words in one_sentence(p.stderr), p.stderr
    no_leftovers(rt, "bad")
    assert not (tmp_path / "pid").exists()


def test_no_kernel_is_one_sentence(rt, tmp_path):
    rt.conf.write_text("kernel = /nonexistent/bzImage\n")
    b = make_bundle(tmp_path / "b")
    p = rt("create", "--bundle", b, "bad")
    assert p.returncode == 1 and "/nonexistent/bzImage" in one_sentence(p.stderr)
    no_leftovers(rt, "bad")


def test_bad_configuration_names_the_line(rt, tmp_path):
    rt.conf.write_text("kernel = /x\nhypervisor = xen\n")
    b = make_bundle(tmp_path / "b")
    p = rt("create", "--bundle", b, "bad")
    assert p.returncode == 1
    s = one_sentence(p.stderr)
    assert "runc.conf, line 2" in s and "hypervisor" in s, s


def test_passed_through_to_runc(rt, tmp_path):
    if not shutil.which("runc"):
        pytest.fail("runc is the delegate for containers that are not enclaves (apt-get install runc)")
    b = make_bundle(tmp_path / "b", args=("sh", "-c", "echo from-runc; exit 5"),
                    annotations={"nitrovm.io/enclave": "false"})
    out = tmp_path / "out"
    with open(out, "w") as f:
        p = subprocess.run([RUNC, "--root", str(rt.root), "create", "--bundle", str(b), "--pid-file",
                            str(tmp_path / "pid"), "pt"], stdout=f, stderr=subprocess.STDOUT, env=rt.env,
                           stdin=subprocess.DEVNULL, timeout=60)
    assert p.returncode == 0, out.read_text()
    assert (rt.root / "@delegate" / "pt").is_dir(), "runc keeps its state below <root>/@delegate"
    st = json.loads(rt("state", "pt", check=True).stdout)
    assert st["status"] == "created"
    rt("start", "pt", check=True)
    for _ in range(100):
        if json.loads(rt("state", "pt", check=True).stdout)["status"] == "stopped":
            break
        time.sleep(0.05)
    assert "from-runc" in out.read_text()
    rt("delete", "pt", check=True)
    assert not (rt.root / "@delegate" / "pt").exists()
    # The sandbox of a pod goes the same way, whatever else it says.
    b2 = make_bundle(tmp_path / "b2", args=("sleep", "100"),
                     annotations={"io.kubernetes.cri.container-type": "sandbox"})
    rt("create", "--bundle", b2, "sb", check=True)
    assert (rt.root / "@delegate" / "sb").is_dir()
    rt("delete", "--force", "sb", check=True)
