# SPDX-License-Identifier: MIT
"""e2e: an enclave built from a container image (`build-enclave --docker-uri`) runs its app as Docker would.

The image is tests/lib/oci_images.py's, made here with buildah from scratch + busybox-static: two layers, the
second whiting out /app/data/secret.txt and remaking /opq as an opaque directory; Entrypoint
`sh -c '<script>' ep0` with Cmd `cmd1 "cmd 2"`, Env GREETING="hello world", WorkingDir /app, User app (uid 1000,
gid 1000, and group "extra" 2000 that lists it).  The EIF is Debian's 6.12 cloud kernel with the modules
scripts/kernel-modules gathers, built from the image's OCI archive; one nested boot runs it:

  image-app   the app's argv is Entrypoint ++ Cmd, its cwd /app, its ids 1000/1000 with 2000, its env the
              image's plus HOME from /etc/passwd; /app/data has keep.txt and no secret.txt; the app's exit
              status (7) is reported by the init and the enclave ends cleanly.
"""
import os
import shutil

import pytest

import images
import oci_images
from conftest import BOOT_SILENCE  # noqa: E402

SCALE = float(os.environ.get("NITROVM_E2E_TIMEOUT_SCALE", "1"))
BOOT_LIMIT = int(300 * SCALE)


@pytest.fixture(scope="module")
def image_eif(nitrovm, kernels, workdir):
    missing = [t for t in ("buildah", "skopeo") if not shutil.which(t)]
    if missing:
        pytest.fail(f"this test builds its image with {' and '.join(missing)} (scripts/setup installs them)")
    if os.geteuid() != 0:
        pytest.fail("this test builds its image with buildah as root; run the e2e tier with sudo")
    d = workdir / "image"
    d.mkdir()
    b = oci_images.Buildah(str(d / "buildah"))
    try:
        name = oci_images.build_test_image(b)
        archive = str(d / "app.oci.tar")
        oci_images.run(["skopeo", "copy", "--quiet", b.ref(name), f"oci-archive:{archive}:v1"])
    finally:
        b.close()
    kernel = kernels["NITROVM_CLOUD_KERNEL"]
    mods = images.kernel_modules(kernel, d / "modules")
    out = d / "app.eif"
    images.build_enclave(nitrovm, "--docker-uri", f"oci-archive:{archive}:v1", "--kernel", kernel,
                         "--cmdline", images.CMDLINE, "--kernel-modules", mods, "--quiet", "--output-file", out)
    return out


@pytest.fixture(scope="module")
def results(run_steps, nitrovm, image_eif):
    steps = [("image-app", f"{nitrovm} run-enclave --foreground --cpu-count 1 --memory 256 --eif-path {image_eif}",
              BOOT_LIMIT)]
    return run_steps("image", steps, silence=BOOT_SILENCE)


def test_app_runs_as_docker_would(results):
    r = results.step("image-app")
    out = r.output
    tail = "\n".join(out.splitlines()[-40:])
    # run-enclave --foreground ends with the app's status, which the init sends over the app channel.
    assert r.status == 7, f"nitrovm exited {r.status}, not the app's 7 (124: killed after {BOOT_LIMIT} s):\n{tail}"
    expected = [
        "nitrovm-init: heartbeat acknowledged by the parent",
        "nitrovm-init: starting /bin/sh in /app as uid 1000 gid 1000",
        "ARGV:ep0:cmd1:cmd 2",
        "CWD:/app",
        "ID:1000:1000:1000 2000",
        "ENV:hello world:/home/app",
        "keep.txt",
        "kept",
        "nitrovm-init: app exited with status 7",
    ]
    pos = 0
    for line in expected:
        i = out.find(line, pos)
        assert i >= 0, f"missing (in this order) {line!r}:\n{tail}"
        pos = i + len(line)
    app = out[out.index("ARGV:"):out.index("nitrovm-init: app exited")]
    assert "secret.txt" not in app, f"the whited-out file is still there:\n{app}"
    assert "Kernel panic" not in out, tail
