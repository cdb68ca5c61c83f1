# SPDX-License-Identifier: MIT
"""e2e: a real Linux enclave asks nitrovm's NSM for an attestation document (nested tier).

The image: Debian's 6.12 cloud kernel, the modules scripts/kernel-modules gathers (its `nsm` gives /dev/nsm),
nitrovm's init, and a root filesystem with the static busybox and guest/nsm-tool as /nsm-tool. The app runs
nsm-tool's requests in turn and prints the attestation document hex-encoded between NSM-DOCUMENT-BEGIN/END on
the console. The enclave runs with --parent-id i-0a9f2a8b8dd31c7c8 and a state directory shared with the host,
so the root that signed it can be exported (`nitrovm ca export`) afterwards. Then:

  - PCR0/1/2 in the document equal describe-eif's, PCR4 the extend of the parent id (SHA-384 over 48 zero bytes and the id);
  - the nonce and user_data round-trip;
  - `nitrovm verify-attestation` accepts it against `nitrovm ca export`'s root (and refuses a wrong nonce);
  - an independent verifier written here with python3-cryptography and python3-cbor2 accepts it too;
  - DescribeNSM, DescribePCR, ExtendPCR, LockPCR and GetRandom answer as aws-nitro-enclaves-nsm-api's schema says.
"""
import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import time

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

import images
from conftest import BOOT_SILENCE  # noqa: E402

SCALE = float(os.environ.get("NITROVM_E2E_TIMEOUT_SCALE", "1"))
BOOT_LIMIT = int(300 * SCALE)
CMDLINE = images.CMDLINE
PARENT_ID = "i-0a9f2a8b8dd31c7c8"
# SHA384(0^48 || "i-0a9f2a8b8dd31c7c8"), as a real AWS document carries it.
PCR4 = "f8e8fc387257438667dc453ccde507690656c27e1abd42f5b6746a609697b0b227fdbd345b5133b9eac8248d718ad75b"
NONCE = "00112233445566778899aabbccddeeff"
USER_DATA = b"nitrovm e2e attestation".hex()
EXTEND_DATA = "abcd"
APP = ("sh -c '/nsm-tool describe; /nsm-tool describe-pcr 4; /nsm-tool extend-pcr 16 " + EXTEND_DATA +
       "; /nsm-tool lock-pcr 16; /nsm-tool extend-pcr 16 " + EXTEND_DATA + "; echo EXTEND-LOCKED=$?; "
       "/nsm-tool random 16; /nsm-tool attest --nonce " + NONCE + " --user-data " + USER_DATA + " --hex'")


def tool(nitrovm, *args, env=None, check=True):
    p = subprocess.run([nitrovm, *map(str, args)], capture_output=True, text=True,
                       env=dict(os.environ, SOURCE_DATE_EPOCH="1700000000", **(env or {})))
    if check and p.returncode != 0:
        pytest.fail(f"nitrovm {' '.join(map(str, args))} exited {p.returncode}:\n{p.stderr}")
    return p


@pytest.fixture(scope="module")
def image(nitrovm, kernels, workdir):
    if not os.access(images.BUSYBOX, os.X_OK):
        pytest.fail(f"{images.BUSYBOX} is needed as the app's shell (install busybox-static)")
    nsm_tool = os.path.join(os.path.dirname(os.path.realpath(nitrovm)), "guest", "nsm-tool", "nsm-tool")
    if not os.access(nsm_tool, os.X_OK):
        pytest.fail(f"{nsm_tool} is not built (ninja -C build)")
    d = workdir / "attestation"
    d.mkdir()
    kernel = kernels["NITROVM_CLOUD_KERNEL"]
    mods = images.kernel_modules(kernel, d / "modules")
    rootfs = images.busybox_rootfs(d / "rootfs", ("sh",))
    shutil.copy(nsm_tool, rootfs / "nsm-tool")
    eif = d / "attest.eif"
    tool(nitrovm, "build-enclave", "--kernel", kernel, "--cmdline", CMDLINE, "--rootfs", rootfs, "--cmd", APP,
         "--kernel-modules", mods, "--output-file", eif)
    measurements = json.loads(tool(nitrovm, "describe-eif", "--eif-path", eif).stdout)["Measurements"]
    return {"eif": eif, "measurements": measurements, "dir": d}


@pytest.fixture(scope="module")
def run(run_steps, nitrovm, image):
    # The state directory must be under the steps' directory: that is what the nested guest shares writable.
    steps = image["dir"] / "steps"
    state = steps / "state"
    state.mkdir(parents=True)
    cmd = (f"NITROVM_STATE_DIR={state} {nitrovm} run-enclave --foreground --cpu-count 1 --memory 256 "
           f"--eif-path {image['eif']} --parent-id {PARENT_ID}")
    res = run_steps("attestation", [("attest", cmd, BOOT_LIMIT)], steps_dir=steps, silence=BOOT_SILENCE)
    r = res.step("attest")
    # The root that signed the document, exported on the host from the state directory the enclave used.
    root = image["dir"] / "root.pem"
    root.write_text(tool(nitrovm, "ca", "export", env={"NITROVM_STATE_DIR": str(state)}).stdout)
    return {"out": r.output, "status": r.status, "root": root, "log": res.log}


def tail(text, n=40):
    return "\n".join(text.splitlines()[-n:])


KERNEL_MESSAGE = re.compile(r"\[\s*\d+\.\d+\] [^\n]*$")


def json_line(out, prefix):
    """The first console line that starts with prefix, parsed as JSON.  The kernel's own messages share the
    serial console and can land in the middle of a long line ("<part>[   12.345678] random: ...", then the rest
    on the next line): such a message is cut out and the line joined again, up to a few times."""
    lines = [line.strip() for line in out.splitlines()]
    for i, line in enumerate(lines):
        if not line.startswith(prefix):
            continue
        for nxt in lines[i + 1:i + 5]:
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                if not KERNEL_MESSAGE.search(line):
                    raise
                line = KERNEL_MESSAGE.sub("", line) + nxt
        return json.loads(line)
    pytest.fail(f"no line starting with {prefix!r} on the console:\n{tail(out)}")


@pytest.fixture(scope="module")
def document(run, image):
    out = run["out"]
    m = re.search(r"NSM-DOCUMENT-BEGIN (\d+)\r?\n(.*?)NSM-DOCUMENT-END", out, re.S)
    if not m:
        pytest.fail(f"no document on the console (status {run['status']}):\n{tail(out)}")
    digits = "".join(line.strip() for line in m.group(2).splitlines() if re.fullmatch(r"[0-9a-f]+", line.strip()))
    doc = bytes.fromhex(digits)
    assert len(doc) == int(m.group(1)), "the document was garbled on the console (kernel messages in it?)"
    path = image["dir"] / "document.cbor"
    path.write_bytes(doc)
    return {"bytes": doc, "path": path}


def decode(doc):
    cose = cbor2.loads(doc)
    if isinstance(cose, cbor2.CBORTag):
        assert cose.tag == 18
        cose = cose.value
    protected, unprotected, payload, sig = cose
    return cbor2.loads(protected), payload, sig, cbor2.loads(payload)


def test_enclave_ran(run):
    out = run["out"]
    assert run["status"] == 0, f"nitrovm exited {run['status']}:\n{tail(out)}"
    assert "nitrovm-init: app exited with status 0" in out, tail(out)
    assert "Kernel panic" not in out, tail(out)


def test_describe_and_pcr_requests(run):
    out = run["out"]
    d = json_line(out, '{"DescribeNSM"')["DescribeNSM"]
    assert d["max_pcrs"] == 32 and d["digest"] == "SHA384", d
    assert d["locked_pcrs"] == list(range(16)), d
    assert d["module_id"].startswith(PARENT_ID + "-enc"), d
    p = json_line(out, '{"DescribePCR"')["DescribePCR"]
    assert p == {"lock": True, "data": PCR4}, p
    ext = json_line(out, '{"ExtendPCR"')["ExtendPCR"]
    assert ext["data"] == hashlib.sha384(bytes(48) + bytes.fromhex(EXTEND_DATA)).hexdigest()
    assert '"LockPCR"' in out, tail(out)
    # ExtendPCR on the PCR just locked: {"Error": "ReadOnlyIndex"}, nsm-tool's status 2.
    assert "the NSM answered with an error: ReadOnlyIndex" in out, tail(out)
    assert "EXTEND-LOCKED=2" in out, tail(out)
    rnd = json_line(out, '{"GetRandom"')["GetRandom"]["random"]
    assert re.fullmatch(r"[0-9a-f]{32}", rnd), rnd


def test_document_contents(document, image, run):
    protected, _, sig, payload = decode(document["bytes"])
    assert protected == {1: -35}
    assert len(sig) == 96
    m = image["measurements"]
    pcrs = payload["pcrs"]
    # Real documents carry PCRs 0-15; PCR16, extended and locked by the app, may come along with its value.
    assert set(range(16)) <= set(pcrs) <= set(range(17)), sorted(pcrs)
    if 16 in pcrs:
        assert pcrs[16].hex() == hashlib.sha384(bytes(48) + bytes.fromhex(EXTEND_DATA)).hexdigest()
    for i in (0, 1, 2):
        assert pcrs[i].hex() == m[f"PCR{i}"], f"PCR{i}"
    assert pcrs[4].hex() == PCR4
    assert pcrs[3] == bytes(48)  # no --parent-role
    assert payload["nonce"].hex() == NONCE
    assert payload["user_data"].hex() == USER_DATA
    assert payload["public_key"] is None
    assert payload["digest"] == "SHA384"
    assert payload["module_id"].startswith(PARENT_ID + "-enc")
    now_ms = time.time() * 1000
    assert now_ms - 3600 * 1000 < payload["timestamp"] <= now_ms + 60 * 1000
    # The document's payload, as nsm-tool printed it from inside the enclave, says the same.
    printed = json_line(run["out"], '{"module_id"')
    assert printed["nonce"] == NONCE and printed["pcrs"]["4"] == PCR4


def test_verify_attestation_accepts_it(nitrovm, document, image, run):
    m = image["measurements"]
    p = tool(nitrovm, "verify-attestation", "--document", document["path"], "--root", run["root"],
             "--nonce", NONCE, "--user-data", USER_DATA, "--pcr", f"0={m['PCR0']}", "--pcr", f"1={m['PCR1']}",
             "--pcr", f"2={m['PCR2']}", "--pcr", f"4={PCR4}", check=False)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["nonce"] == NONCE and out["pcrs"]["0"] == m["PCR0"]
    # And it is not a rubber stamp.
    p = tool(nitrovm, "verify-attestation", "--document", document["path"], "--root", run["root"],
             "--nonce", "00" * 16, check=False)
    assert p.returncode == 70 and "the document's nonce is" in p.stderr, p.stderr


def validity(cert):
    """(notBefore, notAfter) as aware datetimes; Debian 12's cryptography (38) has only the naive UTC ones."""
    if hasattr(cert, "not_valid_before_utc"):
        return cert.not_valid_before_utc, cert.not_valid_after_utc
    utc = datetime.timezone.utc
    return cert.not_valid_before.replace(tzinfo=utc), cert.not_valid_after.replace(tzinfo=utc)


def independent_verify(doc, root_pem, now):
    """AWS's procedure (attestation_process.md) with python3-cryptography and python3-cbor2 only."""
    protected_bytes = cbor2.loads(doc)
    if isinstance(protected_bytes, cbor2.CBORTag):
        protected_bytes = protected_bytes.value
    protected, _, payload_bytes, sig = protected_bytes
    assert cbor2.loads(protected) == {1: -35}
    payload = cbor2.loads(payload_bytes)
    for key in ("module_id", "digest", "timestamp", "pcrs", "certificate", "cabundle"):
        assert key in payload, key
    assert payload["module_id"] and payload["digest"] == "SHA384" and payload["timestamp"] > 0
    assert 1 <= len(payload["pcrs"]) <= 32
    assert all(0 <= i < 32 and len(v) in (32, 48, 64) for i, v in payload["pcrs"].items())
    assert 1 <= len(payload["certificate"]) <= 1024
    assert payload["cabundle"] and all(1 <= len(c) <= 1024 for c in payload["cabundle"])

    root = x509.load_pem_x509_certificate(root_pem)
    bundle = [x509.load_der_x509_certificate(c) for c in payload["cabundle"]]
    leaf = x509.load_der_x509_certificate(payload["certificate"])
    assert bundle[0] == root, "cabundle[0] is not the pinned root"
    chain = [leaf] + bundle[::-1]  # leaf, INTERM_N .. INTERM_1, ROOT
    for i, cert in enumerate(chain):
        assert validity(cert)[0] <= now <= validity(cert)[1], f"chain[{i}] is not valid now"
        issuer = chain[i + 1] if i + 1 < len(chain) else cert
        assert cert.issuer == issuer.subject, f"chain[{i}]'s issuer is not chain[{i + 1}]"
        issuer.public_key().verify(cert.signature, cert.tbs_certificate_bytes,
                                   ec.ECDSA(cert.signature_hash_algorithm))
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if i == 0:
            assert not bc.value.ca and ku.digital_signature
        else:
            assert bc.critical and bc.value.ca and ku.key_cert_sign, f"chain[{i}] is not a proper CA"
            # pathLen counts the CA certificates below this one (chain[1..i-1]), the leaf not included.
            assert bc.value.path_length is None or bc.value.path_length >= i - 1, f"chain[{i}]'s pathlen"
    assert isinstance(leaf.public_key().curve, ec.SECP384R1)
    tbs = cbor2.dumps(["Signature1", protected, b"", payload_bytes])
    der_sig = encode_dss_signature(int.from_bytes(sig[:48], "big"), int.from_bytes(sig[48:], "big"))
    leaf.public_key().verify(der_sig, tbs, ec.ECDSA(hashes.SHA384()))
    return payload


def test_independent_verifier_accepts_it(document, run):
    now = datetime.datetime.now(datetime.timezone.utc)
    payload = independent_verify(document["bytes"], run["root"].read_bytes(), now)
    assert payload["nonce"].hex() == NONCE
    # One flipped payload byte and it fails, so the check above is a real one.
    doc = bytearray(document["bytes"])
    doc[doc.index(bytes.fromhex(USER_DATA))] ^= 1
    with pytest.raises(Exception):
        independent_verify(bytes(doc), run["root"].read_bytes(), now)
