# SPDX-License-Identifier: MIT
"""Fixtures of the container image tests: `nitrovm build-enclave --docker-uri` as a process, against images
built here (buildah from scratch + the static busybox, tests/lib/oci_images.py), exported by skopeo to every
transport and pushed to a docker-registry on loopback behind a token realm.  Nothing leaves the machine.

The tier fails, never skips, when a tool is missing: scripts/setup installs them all.
"""
import os
import pathlib
import subprocess

import pytest

import oci_images

REPO = pathlib.Path(__file__).resolve().parents[2]
NITROVM = os.environ.get("NITROVM", str(REPO / "build" / "nitrovm"))
SDE = "1700000000"


@pytest.fixture(scope="session")
def nitrovm():
    if not os.access(NITROVM, os.X_OK):
        pytest.fail(f"{NITROVM} is not built (ninja -C build), or set NITROVM")
    return NITROVM


@pytest.fixture(scope="session")
def tools():
    missing = oci_images.missing_tools()
    if missing:
        pytest.fail(f"the image tests need {', '.join(missing)} (scripts/setup installs them)")
    if not os.access(oci_images.BUSYBOX, os.X_OK):
        pytest.fail(f"{oci_images.BUSYBOX} is needed in the test image (apt-get install busybox-static)")
    if os.geteuid() != 0:
        pytest.fail("the image tests run as root (buildah's storage, owners in layers, a tmpfs for the full "
                    "disk); run them with sudo")


@pytest.fixture(scope="session")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("image")


@pytest.fixture(scope="session")
def kernel(work):
    return oci_images.fake_bzimage(str(work / "bzImage"))


@pytest.fixture(scope="session")
def buildah(tools, work):
    b = oci_images.Buildah(str(work / "buildah"))
    yield b
    b.close()


@pytest.fixture(scope="session")
def image(buildah):
    return oci_images.build_test_image(buildah)


@pytest.fixture(scope="session")
def refs(buildah, image, work):
    """{transport: reference} of the test image; also checks it has what the tests are about."""
    r = oci_images.export_all(buildah, image, str(work / "exports"))
    layers = oci_images.layer_members(str(work / "exports" / "layout"))
    assert len(layers) == 2, layers
    assert "app/hl2" in layers[0] and "app/link" in layers[0], layers[0]
    assert "app/data/.wh.secret.txt" in layers[1], layers[1]
    assert "opq/.wh..wh..opq" in layers[1], layers[1]
    return r


@pytest.fixture(scope="session")
def realm(tools, work):
    r = oci_images.Realm(str(work))
    yield r
    r.close()


@pytest.fixture(scope="session")
def registry(realm, refs, work):
    """The registry, holding the test image as public/app:v1 (anonymous pulls) and private/app:v1."""
    reg = oci_images.Registry(str(work), realm)
    reg.push(refs["oci"], "public/app:v1")
    reg.push(refs["oci"], "private/app:v1")
    yield reg
    reg.close()


@pytest.fixture
def home(tmp_path):
    """A HOME, cache and runtime directory of the test's own: no credentials or cache from the machine."""
    d = tmp_path / "home"
    (d / "run").mkdir(parents=True)
    return d


def build_env(home, **extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "NITRO_CLI_BLOBS", "XDG_CACHE_HOME", "NITROVM_CACHE")}
    env.update(HOME=str(home), XDG_RUNTIME_DIR=str(home / "run"), SOURCE_DATE_EPOCH=SDE)
    env.update(extra)
    return env


def build(nitrovm, home, uri, out, *args, env=None, kernel=None, timeout=120):
    """nitrovm build-enclave --docker-uri uri ... --output-file out; returns the CompletedProcess."""
    cmd = [nitrovm, "build-enclave", "--docker-uri", uri, "--output-file", str(out)]
    if kernel:
        cmd += ["--kernel", kernel, "--cmdline", "console=ttyS0 reboot=k"]
    cmd += [str(a) for a in args]
    return subprocess.run(cmd, capture_output=True, text=True, env=build_env(home, **(env or {})), timeout=timeout)


def check_ok(p):
    assert p.returncode == 0, f"exit {p.returncode}:\n{p.stderr}"
    return p


def one_error(p, code, *fragments):
    """The build failed with exactly one error line [ Ecode ] holding every fragment."""
    lines = [line for line in p.stderr.splitlines() if line.startswith("[ E")]
    assert p.returncode == code, f"exit {p.returncode}, expected {code}:\n{p.stderr}"
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith(f"[ E{code:02d} ] "), lines[0]
    for f in fragments:
        assert f in lines[0], f"{f!r} not in {lines[0]!r}"
    return lines[0]
