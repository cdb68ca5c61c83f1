# SPDX-License-Identifier: MIT
"""The NSM on this host's KVM: the probe guest (probe.nsm=1) asks DescribeNSM and Attestation through the
virtqueue and prints the document; this test checks it with a verifier written here from Debian's
python3-cryptography and python3-cbor2 only, against the root `nitrovm ca export` prints:

  COSE_Sign1 untagged, protected {1: -35}, ES384 signature over Sig_structure with the leaf's key;
  leaf <- cabundle[1] <- cabundle[0] == the exported root, all valid now, CA flags and key usages as AWS's;
  payload fields in nsm-api's order; PCR0/1/2/8 equal to describe-eif's, PCR3/PCR4 the extends of
  --parent-role/--parent-id, nonce and user_data round-trip; zero PCRs in debug mode.

PCR0/1/2 are measured from the image file once the enclave runs: held at a test gate (NITROVM_TEST_MEASURE_GATE)
until the probe reaches the NSM, its requests wait and still carry describe-eif's values; an image file
changed before the measurement ends the enclave with one sentence and a non-zero exit.
"""
import datetime
import hashlib
import json
import os
import re
import subprocess
import threading

import cbor2
import eiflib
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from conftest import run

PARENT_ID = "i-0a9f2a8b8dd31c7c8"
PARENT_ROLE = "arn:aws:iam::123456789012:role/nitrovm-test"
# Reference B.3: PCR4 of a real AWS document for this instance id.
REAL_PCR4 = ("f8e8fc387257438667dc453ccde507690656c27e1abd42f5b6746a609697b0b2"
             "27fdbd345b5133b9eac8248d718ad75b")
ZERO = bytes(48)
PAYLOAD_KEYS = ["module_id", "digest", "timestamp", "pcrs", "certificate", "cabundle", "public_key", "user_data",
                "nonce"]


def extend(data: bytes) -> bytes:
    return hashlib.sha384(ZERO + data).digest()


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("nsm-state"))


@pytest.fixture(scope="module")
def root(nitrovm, state_dir):
    r = run([nitrovm, "ca", "export", "--state-dir", state_dir])
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("-----BEGIN CERTIFICATE-----")
    return x509.load_pem_x509_certificate(r.stdout.encode())


@pytest.fixture(scope="module")
def signed_eif(nitrovm, probe, tmp_path_factory):
    d = tmp_path_factory.mktemp("nsm-eif")
    key, cert = d / "key.pem", d / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp384r1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=nsm test signer"],
                   check=True, capture_output=True)
    (d / "rd").mkdir()
    (d / "rd" / "hello").write_text("hello\n")
    eif = d / "probe.eif"
    r = run([nitrovm, "build-enclave", "--kernel", probe, "--cmdline", "console=ttyS0 probe.nsm=1",
             "--ramdisk-dir", str(d / "rd"), "--output-file", str(eif), "--signing-certificate", str(cert),
             "--private-key", str(key)])
    assert r.returncode == 0, r.stderr
    r = run([nitrovm, "describe-eif", "--eif-path", str(eif)])
    assert r.returncode == 0, r.stderr
    return str(eif), json.loads(r.stdout)["Measurements"]


def console_document(console, check="nsm-doc"):
    """The bytes the probe printed as `probe: <check>: info <offset> <hex>` lines (the document by default)."""
    doc = bytearray()
    for line in console.splitlines():
        if line.startswith(f"probe: {check}: info "):
            off, hexpart = line.split()[3:5]
            assert int(off) == len(doc), line
            doc += bytes.fromhex(hexpart)
    assert doc, console
    return bytes(doc)


def verify_document(doc, root, now=None):
    """An independent verifier: returns the payload map once signature and chain check out."""
    cose = cbor2.loads(doc)
    assert isinstance(cose, list) and len(cose) == 4, "untagged COSE_Sign1 array of 4"
    protected, unprotected, payload_bytes, sig = cose
    assert protected == bytes.fromhex("a1013822") and cbor2.loads(protected) == {1: -35}
    assert unprotected == {}
    assert len(sig) == 96
    payload = cbor2.loads(payload_bytes)
    assert list(payload) == PAYLOAD_KEYS

    leaf = x509.load_der_x509_certificate(payload["certificate"])
    bundle = [x509.load_der_x509_certificate(c) for c in payload["cabundle"]]
    assert len(bundle) == 2
    assert bundle[0].public_bytes(encoding=_der()) == root.public_bytes(encoding=_der()), "cabundle[0] is the root"
    inter = bundle[1]
    # The chain, link by link: signatures, names, validity, CA flags and key usages.
    now = now or datetime.datetime.utcnow()
    for child, parent in ((leaf, inter), (inter, root)):
        parent.public_key().verify(child.signature, child.tbs_certificate_bytes,
                                   ec.ECDSA(child.signature_hash_algorithm))
        assert child.issuer == parent.subject
        assert isinstance(child.signature_hash_algorithm, hashes.SHA384)
    for c, ca, pathlen in ((root, True, 1), (inter, True, 0), (leaf, False, None)):
        assert c.not_valid_before <= now <= c.not_valid_after
        assert c.public_key().curve.name == "secp384r1"
        bc = c.extensions.get_extension_for_class(x509.BasicConstraints)
        ku = c.extensions.get_extension_for_class(x509.KeyUsage)
        assert bc.critical and bc.value.ca == ca and bc.value.path_length == pathlen
        assert ku.critical and ku.value.digital_signature
        assert ku.value.key_cert_sign == ca and ku.value.crl_sign == ca
    assert "nitrovm" in root.subject.rfc4514_string() and "Amazon" not in root.subject.rfc4514_string()
    assert leaf.not_valid_after - leaf.not_valid_before <= datetime.timedelta(hours=3, minutes=1)
    # The COSE signature: ES384 over Sig_structure with the leaf's key.
    sig_structure = cbor2.dumps(["Signature1", protected, b"", payload_bytes])
    der_sig = encode_dss_signature(int.from_bytes(sig[:48], "big"), int.from_bytes(sig[48:], "big"))
    leaf.public_key().verify(der_sig, sig_structure, ec.ECDSA(hashes.SHA384()))
    return payload


def _der():
    from cryptography.hazmat.primitives.serialization import Encoding
    return Encoding.DER


def boot(nitrovm, args, state_dir, timeout=60):
    r = run(args, env={"NITROVM_STATE_DIR": state_dir}, timeout=timeout)
    return r


def launch_gated(args, state_dir, gate, open_when, before_open=None, timeout=120):
    """Run args with the measurement held until the gate file exists; the gate opens (after before_open()) at the
    first stdout line containing open_when.  Returns (status, stdout, stderr)."""
    env = dict(os.environ, NITROVM_STATE_DIR=state_dir, NITROVM_TEST_MEASURE_GATE=str(gate))
    # The hook looks for the gate through its directory, opened before the enclave process gives up root: the
    # unprivileged user it becomes must be able to search that directory (pytest makes it 0700).
    os.chmod(os.path.dirname(str(gate)), 0o755)
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    watchdog = threading.Timer(timeout, p.kill)
    watchdog.start()
    err = []
    drain = threading.Thread(target=lambda: err.append(p.stderr.read()))
    drain.start()
    out = []
    try:
        for line in p.stdout:
            out.append(line)
            if open_when in line and not os.path.exists(gate):
                if before_open:
                    before_open()
                open(gate, "w").close()
        p.wait()
    finally:
        watchdog.cancel()
        drain.join()
    return p.returncode, "".join(out), "".join(err)


def check_attestation(stdout, measurements, root):
    assert "probe: result PASS" in stdout, stdout
    assert "probe: nsm: ok DescribeNSM" in stdout
    info = json.loads(stdout[:stdout.index("\n}\n") + 3])
    payload = verify_document(console_document(stdout), root)

    assert payload["module_id"] == info["EnclaveID"]
    # nitro-cli writes the slot as {:x}: 1 to 16 hex digits, no padding (a 64-bit uid below 2^60 has fewer than 16).
    assert re.fullmatch(re.escape(PARENT_ID) + "-enc[0-9a-f]{1,16}", payload["module_id"]), payload["module_id"]
    assert payload["digest"] == "SHA384"
    now_ms = datetime.datetime.now(datetime.timezone.utc).timestamp() * 1000
    assert 0 < now_ms - payload["timestamp"] < 120_000
    pcrs = payload["pcrs"]
    assert sorted(pcrs) == list(range(16))
    assert pcrs[0].hex() == measurements["PCR0"]
    assert pcrs[1].hex() == measurements["PCR1"]
    assert pcrs[2].hex() == measurements["PCR2"]
    assert pcrs[8].hex() == measurements["PCR8"]
    assert pcrs[3] == extend(PARENT_ROLE.encode())
    assert pcrs[4].hex() == REAL_PCR4
    assert all(pcrs[i] == ZERO for i in (5, 6, 7, 9, 10, 11, 12, 13, 14, 15))
    assert payload["user_data"] == b"probe-user-data"
    assert payload["nonce"] == b"probe-nonce-0001"
    assert payload["public_key"] is None

    # DescribeNSM, as printed: module_id and the locked PCRs.
    describe = cbor2.loads(console_document(stdout, "nsm-describe"))
    assert describe == {"DescribeNSM": {"version_major": 1, "version_minor": 0, "version_patch": 0,
                                        "module_id": payload["module_id"], "max_pcrs": 32,
                                        "locked_pcrs": list(range(16)), "digest": "SHA384"}}


RUN_ARGS = ["--cpu-count", "1", "--memory", "64", "--parent-id", PARENT_ID, "--parent-role", PARENT_ROLE]


def test_attestation_verifies(nitrovm, signed_eif, root, state_dir):
    eif, measurements = signed_eif
    r = boot(nitrovm, [nitrovm, "run-enclave", "--foreground", "--eif-path", eif] + RUN_ARGS, state_dir)
    assert r.returncode == 0, r.stdout + r.stderr
    check_attestation(r.stdout, measurements, root)


def test_attestation_waits_for_measurement(nitrovm, signed_eif, root, state_dir, tmp_path):
    """The measurement held until the probe is past its virtio check, the step before the NSM: DescribeNSM and
    Attestation wait for it, and the document carries describe-eif's PCR0/1/2."""
    eif, measurements = signed_eif
    status, out, err = launch_gated([nitrovm, "run-enclave", "--foreground", "--eif-path", eif] + RUN_ARGS,
                                    state_dir, tmp_path / "gate", "probe: virtio: ")
    assert status == 0, out + err
    check_attestation(out, measurements, root)


def test_image_changed_during_launch_ends_enclave(nitrovm, probe_eif, state_dir, tmp_path):
    """Bytes appended to the EIF while the enclave runs and before its measurement: the enclave is stopped with
    the sentence, the command fails."""
    eif = probe_eif("changed", "probe.vsock=1 probe.hold=1")

    def append():
        with open(eif, "ab") as f:
            f.write(b"\0")

    status, out, err = launch_gated([nitrovm, "run-enclave", "--foreground", "--eif-path", eif, "--cpu-count", "1",
                                     "--memory", "64"], state_dir, tmp_path / "gate", "probe: holding",
                                    before_open=append)
    assert status != 0, out + err
    assert "probe: holding" in out
    # The progress lines of a foreground run aside, one error line: the sentence.
    errors = [line for line in err.splitlines() if line.startswith("[ E")]
    assert len(errors) == 1, err
    assert "the image file changed during the launch" in errors[0], err
    assert "launch it again from an image nothing writes to" in errors[0]


def test_bad_signature_section_fails_before_the_guest_runs(nitrovm, probe, state_dir, tmp_path):
    """PCR8 is still taken before the first instruction: a signature section that cannot give it fails the launch
    with its sentence, and the guest never prints."""
    with open(probe, "rb") as f:
        kernel = f.read()
    sections = eiflib.standard_sections(kernel=kernel, cmdline=b"console=ttyS0", ramdisks=[b"x" * 512])
    eif = tmp_path / "badsig.eif"
    bad = eiflib.Section(eiflib.SIGNATURE, cbor2.dumps({"not": "a signature"}))
    eif.write_bytes(eiflib.Image(sections + [bad]).pack())
    r = boot(nitrovm, [nitrovm, "run-enclave", "--foreground", "--eif-path", str(eif), "--cpu-count", "1",
                       "--memory", "64"], state_dir)
    assert r.returncode != 0
    errors = [line for line in r.stderr.splitlines() if line.startswith("[ E")]
    assert len(errors) == 1 and "signature section cannot give PCR8" in errors[0], r.stderr
    assert "probe:" not in r.stdout


def test_debug_mode_zero_pcrs(nitrovm, signed_eif, root, state_dir):
    eif, _ = signed_eif
    r = boot(nitrovm, [nitrovm, "run-enclave", "--foreground", "--eif-path", eif, "--cpu-count", "1", "--memory", "64",
                       "--debug-mode"], state_dir)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "probe: nsm: ok Attestation" in r.stdout, r.stdout
    payload = verify_document(console_document(r.stdout), root)
    assert sorted(payload["pcrs"]) == list(range(16))
    assert all(v == ZERO for v in payload["pcrs"].values())
    # Off EC2 (and without --parent-id) the enclave id starts with nitro-cli's placeholder instance id.
    if not os.path.exists("/sys/devices/virtual/dmi/id/board_asset_tag") or \
            not open("/sys/devices/virtual/dmi/id/board_asset_tag").read().startswith("i-"):
        assert payload["module_id"].startswith("i-0000000000000000-enc")


def test_qemu_front_end_without_acpi(nitrovm, probe, root, state_dir):
    """QEMU's machine options name the module and the parent; without ACPI the device is declared on the
    command line (virtio_mmio.device=4K@0xd0001000:6)."""
    r = boot(nitrovm, [nitrovm, "-M", f"nitro-enclave,acpi=off,id=i-234-enc5678,parent-id={PARENT_ID}", "-kernel",
                       probe, "-m", "128M", "-nographic", "-append", "probe.nsm=1 probe.acpi=0"], state_dir)
    assert "probe: result PASS" in r.stdout, r.stdout
    assert "virtio_mmio.device=4K@0xd0001000:6" in r.stdout
    assert r.returncode == 0, r.stdout + r.stderr
    payload = verify_document(console_document(r.stdout), root)
    assert payload["module_id"] == "i-234-enc5678"
    assert payload["pcrs"][4].hex() == REAL_PCR4
    assert payload["pcrs"][3] == ZERO


def test_loose_key_refused(nitrovm, probe, tmp_path):
    state = str(tmp_path)
    assert run([nitrovm, "ca", "path", "--state-dir", state]).returncode == 0
    os.chmod(os.path.join(state, "ca", "intermediate.key"), 0o644)
    r = boot(nitrovm, [nitrovm, "-M", "nitro-enclave", "-kernel", probe, "-m", "128M", "-append", "probe.nsm=1"],
             state)
    assert r.returncode != 0
    assert "intermediate.key has mode 0644" in r.stderr and "chmod 600" in r.stderr, r.stderr
