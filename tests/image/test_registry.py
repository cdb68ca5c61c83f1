# SPDX-License-Identifier: MIT
"""Registry pulls: token auth (anonymous, and with docker's or podman's credential files), basic auth,
redirects that must not carry credentials, digests, the blob cache (a rebuild after one changed layer fetches
one layer; `nitrovm cache prune`), and registries that answer 401, 404 or 500 or do not answer at all."""
import base64
import http.server
import json
import os
import socket
import subprocess
import threading
import time
import urllib.parse

import pytest

import oci_images
from conftest import build, build_env, check_ok, one_error

CREDS = ("tester", "secret")


def docker_config(home, host, user, password):
    d = home / "docker"
    d.mkdir(exist_ok=True)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (d / "config.json").write_text(json.dumps({"auths": {f"https://{host}/v1/": {"auth": auth}}}))
    return {"DOCKER_CONFIG": str(d)}


def test_anonymous_pull_of_a_public_image(nitrovm, home, kernel, registry, realm, tmp_path):
    before = len(realm.requests)
    check_ok(build(nitrovm, home, registry.host + "/public/app:v1", tmp_path / "a.eif", kernel=kernel))
    asked = realm.requests[before:]
    assert asked and all(r["user"] is None for r in asked), asked
    assert any("repository:public/app:pull" in r["scope"] for r in asked), asked


def test_private_image_needs_credentials(nitrovm, home, kernel, registry, tmp_path):
    out = tmp_path / "p.eif"
    p = build(nitrovm, home, registry.host + "/private/app:v1", out, kernel=kernel)
    one_error(p, 50, "private/app", "401", "no credentials were found")
    assert not out.exists()


def test_docker_credentials(nitrovm, home, kernel, registry, realm, tmp_path):
    env = docker_config(home, registry.host, *CREDS)
    before = len(realm.requests)
    check_ok(build(nitrovm, home, registry.host + "/private/app:v1", tmp_path / "d.eif", env=env, kernel=kernel))
    assert any(r["user"] == CREDS[0] for r in realm.requests[before:])
    env = docker_config(home, registry.host, CREDS[0], "wrong")
    p = build(nitrovm, home, registry.host + "/private/app:v1", tmp_path / "w.eif", env=env, kernel=kernel)
    one_error(p, 50, "token service refused", "check the credentials")


def test_podman_credentials(nitrovm, home, kernel, registry, tmp_path):
    auth = base64.b64encode(":".join(CREDS).encode()).decode()
    (home / "run" / "containers").mkdir()
    # podman's files may name a namespace of a registry: the most specific key wins.
    (home / "run" / "containers" / "auth.json").write_text(json.dumps({"auths": {
        registry.host: {"auth": base64.b64encode(b"nobody:nothing").decode()},
        f"{registry.host}/private": {"auth": auth}}}))
    check_ok(build(nitrovm, home, registry.host + "/private/app:v1", tmp_path / "p.eif", kernel=kernel))


def test_digests_and_missing_tags(nitrovm, home, kernel, registry, work, tmp_path):
    layout = work / "exports" / "layout"
    index = json.load(open(layout / "index.json"))
    digest = index["manifests"][0]["digest"]
    check_ok(build(nitrovm, home, f"{registry.host}/public/app@{digest}", tmp_path / "d.eif", kernel=kernel))
    p = build(nitrovm, home, f"{registry.host}/public/app:nope", tmp_path / "n.eif", kernel=kernel)
    one_error(p, 50, "has no image public/app:nope", "HTTP 404")
    p = build(nitrovm, home, f"{registry.host}/public/app@sha256:" + "0" * 64, tmp_path / "z.eif", kernel=kernel)
    one_error(p, 50, "HTTP 404")


def pulls(stderr):
    """'pulled' / 'cached' per layer, from the progress lines."""
    return [line.split(": ", 1)[1].split(", ")[1].split()[0] for line in stderr.splitlines()
            if line.startswith("pull ")]


def test_cache_fetches_only_what_changed(nitrovm, home, kernel, registry, buildah, image, tmp_path):
    uri = registry.host + "/public/app:v1"
    p = check_ok(build(nitrovm, home, uri, tmp_path / "1.eif", kernel=kernel))
    assert pulls(p.stderr) == ["pulled", "pulled"], p.stderr
    p = check_ok(build(nitrovm, home, uri, tmp_path / "2.eif", kernel=kernel))
    assert pulls(p.stderr) == ["cached", "cached"], p.stderr
    # The same base, another top layer: one layer to fetch.
    c = buildah("from", image + "-base")
    m = buildah("mount", c)
    with open(os.path.join(m, "changed.txt"), "w") as f:
        f.write("v2\n")
    buildah("config", "--cmd", '["/bin/true"]', c)
    buildah("commit", "-q", c, image + "-v2")
    buildah("rm", c)
    registry.push(buildah.ref(image + "-v2"), "public/app:v2")
    p = check_ok(build(nitrovm, home, registry.host + "/public/app:v2", tmp_path / "3.eif", kernel=kernel))
    assert pulls(p.stderr) == ["cached", "pulled"], p.stderr
    env = build_env(home)
    d = subprocess.run([nitrovm, "cache", "dir"], capture_output=True, text=True, env=env, check=True).stdout.strip()
    assert d == str(home / ".cache" / "nitrovm")
    blobs = os.listdir(os.path.join(d, "blobs", "sha256"))
    assert len(blobs) == 3, blobs
    p = subprocess.run([nitrovm, "cache", "prune", "--max-size", "1"], capture_output=True, text=True, env=env)
    assert p.returncode == 0 and "Removed 3 cached blobs" in p.stdout, p.stdout + p.stderr
    assert os.listdir(os.path.join(d, "blobs", "sha256")) == []
    p = check_ok(build(nitrovm, home, uri, tmp_path / "4.eif", kernel=kernel))
    assert pulls(p.stderr) == ["pulled", "pulled"]
    assert (tmp_path / "4.eif").read_bytes() == (tmp_path / "1.eif").read_bytes()


# ---- registries that misbehave, written here ----

class Fake:
    """A registry that serves an OCI layout with Basic auth and redirects blobs to a second origin, which
    records the headers it gets; or answers every request with one status."""

    def __init__(self, layout=None, status=None):
        self.layout, self.status, self.blob_headers = layout, status, []
        self.storage = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._storage())
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._registry())
        for s in (self.storage, self.server):
            threading.Thread(target=s.serve_forever, daemon=True).start()
        self.host = f"127.0.0.1:{self.server.server_address[1]}"

    def _registry(self):
        fake = self
        expected = "Basic " + base64.b64encode(":".join(CREDS).encode()).decode()

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def answer(self, code, body=b"", headers=()):
                self.send_response(code)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if fake.status:
                    return self.answer(fake.status, b'{"errors":[{"code":"X","message":"broken on purpose"}]}')
                if self.headers.get("Authorization") != expected:
                    return self.answer(401, headers=[("WWW-Authenticate", 'Basic realm="fake"')])
                parts = urllib.parse.urlparse(self.path).path.split("/")
                kind, ref = parts[-2], parts[-1]
                if kind == "blobs":
                    port = fake.storage.server_address[1]
                    return self.answer(307, headers=[("Location", f"http://localhost:{port}/{ref}")])
                if not ref.startswith("sha256:"):
                    ref = json.load(open(os.path.join(fake.layout, "index.json")))["manifests"][0]["digest"]
                self.answer(200, oci_images.blob(fake.layout, ref),
                            [("Content-Type", "application/vnd.oci.image.manifest.v1+json")])

        return H

    def _storage(self):
        fake = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                fake.blob_headers.append(dict(self.headers))
                data = oci_images.blob(fake.layout, self.path[1:])
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return H

    def close(self):
        self.server.shutdown()
        self.storage.shutdown()


def test_basic_auth_and_redirects_without_credentials(nitrovm, home, kernel, work, tmp_path):
    fake = Fake(layout=str(work / "exports" / "layout"))
    try:
        env = docker_config(home, fake.host, *CREDS)
        check_ok(build(nitrovm, home, fake.host + "/app:v1", tmp_path / "r.eif", env=env, kernel=kernel))
        assert fake.blob_headers, "the blobs were not fetched through the redirect"
        assert all("Authorization" not in h for h in fake.blob_headers), fake.blob_headers
        p = build(nitrovm, home, fake.host + "/app:v1", tmp_path / "n.eif", kernel=kernel)
        one_error(p, 50, "needs credentials (HTTP 401)")
    finally:
        fake.close()


def test_registry_answering_500(nitrovm, home, kernel, tmp_path):
    fake = Fake(status=500)
    try:
        p = build(nitrovm, home, fake.host + "/app:v1", tmp_path / "e.eif", kernel=kernel)
        one_error(p, 50, "answered HTTP 500", "broken on purpose")
        assert not (tmp_path / "e.eif").exists()
    finally:
        fake.close()


def test_registry_that_stalls(nitrovm, home, kernel, tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    conns = []
    threading.Thread(target=lambda: [conns.append(listener.accept()) for _ in range(8)], daemon=True).start()
    host = f"127.0.0.1:{listener.getsockname()[1]}"
    start = time.monotonic()
    p = build(nitrovm, home, host + "/app:v1", tmp_path / "s.eif", "--stall-timeout", "2", kernel=kernel)
    elapsed = time.monotonic() - start
    one_error(p, 50, "stalled: no progress for 2 s")
    assert elapsed < 20, f"a 2 s stall timeout took {elapsed:.1f} s"
    listener.close()


@pytest.mark.parametrize("args,code,fragment", [
    (["--stall-timeout", "0"], 3, "not a number of seconds"),
    (["--plain-http", "--rootfs", "/"], 2, "without --rootfs"),
])
def test_option_errors(nitrovm, home, kernel, registry, tmp_path, args, code, fragment):
    p = build(nitrovm, home, registry.host + "/public/app:v1", tmp_path / "x.eif", *args, kernel=kernel)
    one_error(p, code, fragment)
