# SPDX-License-Identifier: MIT
"""Container images for the tests of `build-enclave --docker-uri`, made here with no registry and no network:
buildah from scratch + the static busybox, exported by skopeo, plus what tools will not make on request
(hand-written OCI layouts for broken and multi-platform images), a newc reader for the ramdisks nitrovm packs,
and a registry on loopback with token authentication through a small realm server.

Shared by tests/image (process level), tests/e2e/test_image.py (nested boot) and bench/oci.
"""

import base64
import gzip
import hashlib
import http.server
import io
import json
import os
import shutil
import socket
import struct
import subprocess
import tarfile
import threading
import time
import urllib.parse

import eiflib
from cpio import read as read_newc  # noqa: F401 (re-exported)
from fake_kernel import fake_arm64_image, fake_bzimage, fake_static_elf  # noqa: F401 (re-exported)

BUSYBOX = os.environ.get("NITROVM_BUSYBOX", "/bin/busybox")
TOOLS = ("buildah", "skopeo", "umoci", "docker-registry")
# The test image's app: what Docker would run is Entrypoint ++ Cmd, in WorkingDir, as User, with Env.
ENTRYPOINT = ["/bin/sh", "-c", 'echo "ARGV:$0:$1:$2"; echo "CWD:$(pwd)"; echo "ID:$(id -u):$(id -g):$(id -G)"; '
              'echo "ENV:$GREETING:$HOME"; ls /app/data; cat /app/data/keep.txt; exit 7', "ep0"]
CMD = ["cmd1", "cmd 2"]
ENV = "GREETING=hello world"
WORKDIR = "/app"
USER = "app"
BUSYBOX_TOOLS = ("sh", "ls", "cat", "echo", "id", "pwd", "env", "sleep", "true")


def missing_tools():
    return [t for t in TOOLS if not shutil.which(t)]


def run(cmd, **kw):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p.stdout.strip()


class Buildah:
    """buildah with its storage in a directory of its own (overlay: its diffs carry real opaque-directory
    markers, where vfs writes one whiteout per file)."""

    def __init__(self, root, driver="overlay"):
        self.root = os.path.join(root, "storage")
        self.runroot = os.path.join(root, "run")
        self.driver = driver
        self.env = dict(os.environ, BUILDAH_ISOLATION="chroot")

    def __call__(self, *args):
        return run(["buildah", "--root", self.root, "--runroot", self.runroot, "--storage-driver", self.driver,
                    *args], env=self.env)

    def ref(self, name):
        return f"containers-storage:[{self.driver}@{self.root}+{self.runroot}]{name}"

    def close(self):
        """Unmount what containers/storage left mounted under the storage (overlay keeps its home mounted)."""
        with open("/proc/mounts") as f:
            points = [line.split()[1] for line in f]
        for p in sorted((p for p in points if p.startswith(self.root) or p.startswith(self.runroot)),
                        reverse=True):
            subprocess.run(["umount", "-l", p], capture_output=True)

    def storage_conf(self, path):
        """A containers-storage.conf pointing at this storage, for buildah/podman run by nitrovm itself."""
        with open(path, "w") as f:
            f.write(f'[storage]\ndriver = "{self.driver}"\ngraphroot = "{self.root}"\nrunroot = "{self.runroot}"\n')
        return path


def _write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def build_test_image(b, name="localhost/nitrovm-test:v1"):
    """Two layers: the second removes a file (a whiteout), remakes a directory (an opaque one) and sets the
    config; the first has a hard link and a symlink. Returns the image name in b's storage."""
    c = b("from", "scratch")
    m = b("mount", c)
    for d in ("bin", "etc", "app/data", "opq/sub"):
        os.makedirs(os.path.join(m, d))
    shutil.copy(BUSYBOX, os.path.join(m, "bin", "busybox"))
    for tool in BUSYBOX_TOOLS:
        os.symlink("busybox", os.path.join(m, "bin", tool))
    _write(os.path.join(m, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n")
    _write(os.path.join(m, "etc/group"), "root:x:0:\napp:x:1000:\nextra:x:2000:app\n")
    _write(os.path.join(m, "app/data/secret.txt"), "whited out\n")
    _write(os.path.join(m, "app/data/keep.txt"), "kept\n")
    _write(os.path.join(m, "app/hl1"), "hard linked\n", 0o600)
    os.link(os.path.join(m, "app/hl1"), os.path.join(m, "app/hl2"))
    os.symlink("data/keep.txt", os.path.join(m, "app/link"))
    _write(os.path.join(m, "opq/old.txt"), "old\n")
    _write(os.path.join(m, "opq/sub/deep.txt"), "deep\n")
    os.chown(os.path.join(m, "app"), 1000, 1000)
    os.chmod(os.path.join(m, "app"), 0o750)
    b("commit", "-q", c, name + "-base")
    b("rm", c)
    c = b("from", name + "-base")
    m = b("mount", c)
    os.unlink(os.path.join(m, "app/data/secret.txt"))
    shutil.rmtree(os.path.join(m, "opq"))
    os.makedirs(os.path.join(m, "opq"))
    _write(os.path.join(m, "opq/new.txt"), "new\n")
    b("config", "--entrypoint", json.dumps(ENTRYPOINT), "--cmd", json.dumps(CMD), "--env", ENV,
      "--workingdir", WORKDIR, "--user", USER, c)
    b("commit", "-q", c, name)
    b("rm", c)
    return name


def export_all(b, name, outdir):
    """The image in every transport build-enclave reads; returns {transport: reference}."""
    os.makedirs(outdir, exist_ok=True)
    refs = {
        "oci": f"oci:{outdir}/layout:v1",
        "oci-archive": f"oci-archive:{outdir}/image.oci.tar:v1",
        "docker-archive": f"docker-archive:{outdir}/image.docker.tar",
    }
    for ref in refs.values():
        dest = ref if not ref.startswith("docker-archive:") else ref + ":nitrovm-test:v1"
        run(["skopeo", "copy", "--quiet", b.ref(name), dest])
    return refs


def manifest(layout, tag="v1"):
    """The manifest (parsed) of the image tagged tag in an OCI layout."""
    index = json.load(open(os.path.join(layout, "index.json")))
    desc = next(m for m in index["manifests"]
                if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag)
    return json.loads(blob(layout, desc["digest"]))


def layer_paths(layout, tag="v1"):
    """The files of the image's layer blobs, in order."""
    return [os.path.join(layout, "blobs", *layer["digest"].split(":")) for layer in manifest(layout, tag)["layers"]]


def layer_members(layout, tag="v1"):
    """Names in each layer tar of an OCI layout, in order (to check the image has what the tests need)."""
    out = []
    for path in layer_paths(layout, tag):
        with tarfile.open(path) as t:
            out.append(t.getnames())
    return out


def image_config(layout, tag="v1"):
    """The config (parsed) of the image tagged tag in an OCI layout."""
    return json.loads(blob(layout, manifest(layout, tag)["config"]["digest"]))


def blob(layout, digest):
    alg, hexd = digest.split(":")
    with open(os.path.join(layout, "blobs", alg, hexd), "rb") as f:
        return f.read()


# ---- hand-written OCI layouts: what tools will not make on request ----

def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_bytes(entries):
    """A layer tar from (name, kind, data) entries; kind is file, dir, symlink or hardlink."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                t.addfile(info)
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, data
                t.addfile(info)
            elif kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, data
                t.addfile(info)
            else:
                data = data if isinstance(data, bytes) else data.encode()
                info.size, info.mode = len(data), 0o755
                t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Layout:
    """An OCI image layout written by hand, blob by blob."""

    def __init__(self, path):
        self.path = path
        os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
        _write(os.path.join(path, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}')
        self.manifests = []

    def put(self, data):
        d = sha256(data)
        with open(os.path.join(self.path, "blobs", "sha256", d.split(":")[1]), "wb") as f:
            f.write(data)
        return d

    def descriptor(self, media_type, data):
        return {"mediaType": media_type, "digest": self.put(data), "size": len(data)}

    def image(self, layers, config=None, arch="amd64", layer_type="application/vnd.oci.image.layer.v1.tar+gzip",
              compress=gzip.compress):
        """A manifest for layers (tars), with a config whose "config" member is config; returns its descriptor."""
        blobs = [compress(t) if compress else t for t in layers]
        cfg = {"architecture": arch, "os": "linux", "config": config or {},
               "rootfs": {"type": "layers", "diff_ids": [sha256(t) for t in layers]}}
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": self.descriptor("application/vnd.oci.image.config.v1+json",
                                              json.dumps(cfg).encode()),
                    "layers": [self.descriptor(layer_type, b) for b in blobs]}
        return self.descriptor("application/vnd.oci.image.manifest.v1+json", json.dumps(manifest).encode())

    def tag(self, desc, name, platform=None):
        entry = dict(desc, annotations={"org.opencontainers.image.ref.name": name})
        if platform:
            entry["platform"] = platform
        self.manifests.append(entry)
        self.write_index()

    def index(self, descs_platforms, name):
        """A multi-platform index of (descriptor, platform) tagged name."""
        idx = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
               "manifests": [dict(d, platform=p) for d, p in descs_platforms]}
        self.tag(self.descriptor("application/vnd.oci.image.index.v1+json", json.dumps(idx).encode()), name)

    def write_index(self):
        _write(os.path.join(self.path, "index.json"),
               json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                           "manifests": self.manifests}))


# ---- EIFs ----

def eif_ramdisks(path):
    """The ramdisk sections of an EIF, in order."""
    with open(path, "rb") as f:
        return [sec.data for sec in eiflib.read_sections(f.read()) if sec.type == eiflib.RAMDISK]


# ---- a registry on loopback, with token authentication ----

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Realm:
    """The token service a registry's 401 sends clients to: anonymous pulls of public/* and, with Basic
    credentials (user, password), anything.  Tokens are ES256 JWTs whose x5c names a self-signed certificate
    the registry trusts (its rootcertbundle)."""

    def __init__(self, workdir, user="tester", password="secret", service="nitrovm-test-registry"):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
        import datetime

        self.user, self.password, self.service, self.issuer = user, password, service, "nitrovm-test-realm"
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nitrovm test realm")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(days=1))
                     .not_valid_after(now + datetime.timedelta(days=1))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.cert_path = os.path.join(workdir, "realm-cert.pem")
        with open(self.cert_path, "wb") as f:
            f.write(self.cert.public_bytes(serialization.Encoding.PEM))
        self.der = self.cert.public_bytes(serialization.Encoding.DER)
        self.requests = []
        self.port = free_port()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/token"

    def token(self, subject, access):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(self.der).decode()]}
        claims = {"iss": self.issuer, "sub": subject, "aud": self.service, "exp": now + 600, "nbf": now - 60,
                  "iat": now, "jti": os.urandom(8).hex(), "access": access}
        signing = _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
        r, s = decode_dss_signature(self.key.sign(signing.encode(), ec.ECDSA(hashes.SHA256())))
        return signing + "." + _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

    def _handler(self):
        realm = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                auth = self.headers.get("Authorization", "")
                user = None
                if auth.startswith("Basic "):
                    u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
                    if (u, p) != (realm.user, realm.password):
                        self.send_response(401)
                        self.end_headers()
                        return
                    user = u
                realm.requests.append({"scope": q.get("scope", []), "user": user})
                access = []
                for scope in q.get("scope", []):
                    kind, name, actions = scope.split(":")
                    if user or name.startswith("public/"):
                        access.append({"type": kind, "name": name, "actions": actions.split(",")})
                body = json.dumps({"token": realm.token(user or "", access)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def close(self):
        self.server.shutdown()


class Registry:
    """docker-registry on a loopback port, with its storage in workdir and token auth from realm."""

    def __init__(self, workdir, realm):
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        conf = os.path.join(workdir, "registry.yml")
        _write(conf, f"""version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: {workdir}/registry-data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{self.port}
auth:
  token:
    realm: {realm.url}
    service: {realm.service}
    issuer: {realm.issuer}
    rootcertbundle: {realm.cert_path}
""")
        self.log = open(os.path.join(workdir, "registry.log"), "w")
        self.proc = subprocess.Popen(["docker-registry", "serve", conf], stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        self.close()
        raise RuntimeError(f"docker-registry did not start on port {self.port}; see {workdir}/registry.log")

    def push(self, src, repo, creds="tester:secret"):
        run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", "--dest-creds", creds, src,
             f"docker://{self.host}/{repo}"])
        return f"{self.host}/{repo}"

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
