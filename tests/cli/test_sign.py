# SPDX-License-Identifier: MIT
"""Process-level tests of sign-eif and of the signatures describe-eif and pcr report.

Keys and certificates come from the openssl command line; the signature section is read back and its COSE
signature verified with python3-cbor2 and python3-cryptography, which share nothing with nitrovm's C code.
"""
import hashlib
import json
import os
import subprocess

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

import eiflib
from conftest import run

CURVES = {
    # openssl name: (COSE alg, hash, r/s length)
    "prime256v1": (-7, hashes.SHA256(), 32),
    "secp384r1": (-35, hashes.SHA384(), 48),
    "secp521r1": (-36, hashes.SHA512(), 66),
}


def openssl(*args):
    p = subprocess.run(["openssl", *[str(a) for a in args]], capture_output=True)
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout


def make_signer(d, name, curve="secp384r1", subj="/C=US/O=nitrovm tests/CN=signer"):
    """An EC key (as `openssl ecparam -genkey` writes it, parameters block included) and a self-signed cert."""
    key = d / f"{name}.key"
    cert = d / f"{name}.pem"
    openssl("ecparam", "-name", curve, "-genkey", "-out", key)
    openssl("req", "-new", "-x509", "-key", key, "-out", cert, "-days", "30", "-sha384", "-subj", subj)
    return cert, key


def build_eif(inputs, out):
    p = run("build-enclave", "--kernel", inputs["kernel"], "--cmdline", "console=ttyS0 reboot=k",
            "--ramdisk", inputs["r0"], "--ramdisk", inputs["r1"], "--output-file", out)
    assert p.returncode == 0, p.stderr.decode()
    return json.loads(p.stdout)["Measurements"]


def sign(eif, cert, key):
    return run("sign-eif", "--eif-path", eif, "--signing-certificate", cert, "--private-key", key)


def describe(eif):
    p = run("describe-eif", "--eif-path", eif)
    assert p.returncode == 0, p.stderr.decode()
    return json.loads(p.stdout)


def pcr8_of(cert):
    der = openssl("x509", "-in", cert, "-outform", "DER")
    return hashlib.sha384(bytes(48) + hashlib.sha384(der).digest()).hexdigest()


def signature_section(eif):
    secs = [s for s in eiflib.read_sections(eif.read_bytes()) if s.type == eiflib.SIGNATURE]
    assert len(secs) == 1
    return secs[0].data


def one_error(p, code, fragment=None):
    """Exactly one line on stderr, `[ Exx ] sentence`, nothing on stdout, exit status xx."""
    err = p.stderr.decode()
    assert p.returncode == code, (p.returncode, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"[ E{code:02d} ] "), err
    assert p.stdout == b""
    if fragment:
        assert fragment in lines[0], err
    return lines[0]


def verify_independently(eif, cert_path, pcr0):
    """Decode the section with cbor2 and verify the COSE_Sign1 with the certificate's key (COSE_Sign1, RFC 9052)."""
    raw = signature_section(eif)
    outer = cbor2.loads(raw)
    assert isinstance(outer, list) and len(outer) == 1
    entry = outer[0]
    assert list(entry) == ["signing_certificate", "signature"]
    # serde's Vec<u8>: arrays of integers, not byte strings.
    assert isinstance(entry["signing_certificate"], list) and isinstance(entry["signature"], list)
    cert_text = bytes(entry["signing_certificate"])
    assert cert_text == cert_path.read_bytes()
    cose_raw = bytes(entry["signature"])
    # Re-encoding the decoded value gives the same bytes: every head is in its shortest form, like serde_cbor.
    assert cbor2.dumps([{"signing_certificate": list(cert_text), "signature": list(cose_raw)}]) == raw

    cose = cbor2.loads(cose_raw)
    assert isinstance(cose, list) and len(cose) == 4, "COSE_Sign1 must be an untagged array of 4"
    protected, unprotected, payload, signature = cose
    cert = x509.load_pem_x509_certificate(cert_text)
    key = cert.public_key()
    alg, digest, n = CURVES[{"secp256r1": "prime256v1"}.get(key.curve.name, key.curve.name)]
    assert cbor2.loads(protected) == {1: alg}
    assert unprotected == {}
    assert cbor2.loads(payload) == {"register_index": 0, "register_value": list(bytes.fromhex(pcr0))}
    assert payload == cbor2.dumps({"register_index": 0, "register_value": list(bytes.fromhex(pcr0))})
    assert len(signature) == 2 * n
    r, s = int.from_bytes(signature[:n], "big"), int.from_bytes(signature[n:], "big")
    to_sign = cbor2.dumps(["Signature1", protected, b"", payload])
    key.verify(encode_dss_signature(r, s), to_sign, ec.ECDSA(digest))  # raises if it does not verify
    return raw


@pytest.mark.parametrize("curve", list(CURVES))
def test_sign_describe_and_verify(nitrovm, inputs, tmp_path, curve):
    eif = tmp_path / "x.eif"
    before = build_eif(inputs, eif)
    cert, key = make_signer(tmp_path, "k", curve)

    p = sign(eif, cert, key)
    assert p.returncode == 0, p.stderr.decode()
    assert p.stderr.decode().splitlines() == ["Start signing the Enclave Image...",
                                              "Enclave Image successfully signed."]
    m = json.loads(p.stdout)["Measurements"]
    assert list(m) == ["HashAlgorithm", "PCR0", "PCR1", "PCR2", "PCR8"]
    for k in ("HashAlgorithm", "PCR0", "PCR1", "PCR2"):
        assert m[k] == before[k]
    assert m["PCR8"] == pcr8_of(cert)
    p8 = run("pcr", "--signing-certificate", cert, check=True)
    assert json.loads(p8.stdout) == {"PCR8": m["PCR8"]}

    d = describe(eif)
    assert d["IsSigned"] is True
    assert d["SignatureCheck"] is True
    assert d["CheckCRC"] is True
    assert d["Measurements"] == m
    info = d["SigningCertificate"]
    c = x509.load_pem_x509_certificate(cert.read_bytes())
    assert info["IssuerName"] == {"commonName": "signer", "countryName": "US", "organizationName": "nitrovm tests"}
    assert info["Algorithm"] == "ecdsa-with-SHA384"
    assert info["NotBefore"] == openssl("x509", "-in", cert, "-noout", "-startdate").decode().strip()[10:]
    assert info["NotAfter"] == openssl("x509", "-in", cert, "-noout", "-enddate").decode().strip()[9:]
    assert info["Signature"] == ":".join(f"{b:02X}" for b in c.signature)

    verify_independently(eif, cert, m["PCR0"])
    p = run("validate-eif", "--eif-path", eif)
    assert p.returncode == 0, p.stderr.decode()


def test_sign_keeps_sections_and_resign_replaces(nitrovm, inputs, tmp_path):
    eif = tmp_path / "x.eif"
    before = build_eif(inputs, eif)
    original = eiflib.read_sections(eif.read_bytes())
    cert_a, key_a = make_signer(tmp_path, "a", "secp384r1")
    cert_b, key_b = make_signer(tmp_path, "b", "prime256v1", subj="/CN=second signer")

    assert sign(eif, cert_a, key_a).returncode == 0
    signed_a = eiflib.read_sections(eif.read_bytes())
    assert len(signed_a) == len(original) + 1
    assert [(s.type, s.data) for s in signed_a[:-1]] == [(s.type, s.data) for s in original]
    assert signed_a[-1].type == eiflib.SIGNATURE
    section_a = signed_a[-1].data

    p = sign(eif, cert_b, key_b)
    assert p.returncode == 0, p.stderr.decode()
    buf = eif.read_bytes()
    signed_b = eiflib.read_sections(buf)
    assert len(signed_b) == len(signed_a)
    assert [s.type for s in signed_b].count(eiflib.SIGNATURE) == 1
    assert [(s.type, s.data) for s in signed_b[:-1]] == [(s.type, s.data) for s in original]
    assert signed_b[-1].data != section_a
    assert eiflib.crc_of(buf) == int.from_bytes(buf[eiflib.CRC_OFFSET:eiflib.CRC_OFFSET + 4], "big")

    d = describe(eif)
    assert d["SignatureCheck"] is True
    assert d["Measurements"]["PCR0"] == before["PCR0"]
    assert d["Measurements"]["PCR8"] == pcr8_of(cert_b)
    assert d["SigningCertificate"]["IssuerName"] == {"commonName": "second signer"}
    verify_independently(eif, cert_b, before["PCR0"])


def test_sign_image_with_signature_elsewhere(nitrovm, inputs, tmp_path):
    """An image whose signature is not last (the order is not fixed) gets the new one in nitro-cli's place."""
    cert, key = make_signer(tmp_path, "k")
    first = tmp_path / "first.eif"
    build_eif(inputs, first)
    assert sign(first, cert, key).returncode == 0
    secs = eiflib.read_sections(first.read_bytes())
    sig = secs.pop()
    secs.insert(2, sig)  # kernel, cmdline, signature, metadata, ramdisks
    odd = tmp_path / "odd.eif"
    odd.write_bytes(eiflib.Image(secs).pack())
    assert describe(odd)["SignatureCheck"] is True

    assert sign(odd, cert, key).returncode == 0
    types = [s.type for s in eiflib.read_sections(odd.read_bytes())]
    assert types == [eiflib.KERNEL, eiflib.CMDLINE, eiflib.METADATA, eiflib.RAMDISK, eiflib.RAMDISK,
                     eiflib.SIGNATURE]
    assert describe(odd)["SignatureCheck"] is True


def test_sign_through_symlink_keeps_link_and_mode(nitrovm, inputs, tmp_path):
    real = tmp_path / "real.eif"
    build_eif(inputs, real)
    os.chmod(real, 0o640)
    link = tmp_path / "link.eif"
    link.symlink_to(real)
    cert, key = make_signer(tmp_path, "k")
    p = sign(link, cert, key)
    assert p.returncode == 0, p.stderr.decode()
    assert link.is_symlink()
    assert os.stat(real).st_mode & 0o7777 == 0o640
    assert describe(real)["SignatureCheck"] is True
    assert sorted(x.name for x in tmp_path.iterdir() if x.suffix == ".eif" or ".eif." in x.name) == \
        ["link.eif", "real.eif"]


def snapshot(d):
    return {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()}


@pytest.fixture
def signed_setup(inputs, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    eif = work / "x.eif"
    build_eif(inputs, eif)
    keys = tmp_path / "keys"
    keys.mkdir()
    cert, key = make_signer(keys, "k")
    return eif, cert, key, keys


def test_rsa_key_rejected(nitrovm, signed_setup):
    eif, cert, key, keys = signed_setup
    rsa = keys / "rsa.key"
    openssl("genrsa", "-out", rsa, "2048")
    before = snapshot(eif.parent)
    line = one_error(sign(eif, cert, rsa), 60)
    assert "the private key is an RSA key (2048 bits); EIF signatures need an EC key on P-256, P-384 or P-521" \
        in line
    assert snapshot(eif.parent) == before


def test_secp256k1_key_rejected(nitrovm, signed_setup):
    eif, cert, key, keys = signed_setup
    k1 = keys / "k1.key"
    openssl("ecparam", "-name", "secp256k1", "-genkey", "-noout", "-out", k1)
    before = snapshot(eif.parent)
    one_error(sign(eif, cert, k1), 60, "the private key is an EC key on curve secp256k1")
    assert snapshot(eif.parent) == before


def test_key_of_another_certificate_rejected(nitrovm, signed_setup):
    eif, cert, key, keys = signed_setup
    other_cert, other_key = make_signer(keys, "other")
    before = snapshot(eif.parent)
    one_error(sign(eif, cert, other_key), 60, "does not belong to the signing certificate")
    assert snapshot(eif.parent) == before


@pytest.mark.parametrize("which", ["eif", "cert", "key"])
def test_missing_file(nitrovm, signed_setup, which):
    eif, cert, key, keys = signed_setup
    missing = keys / "nonexistent"
    args = {"eif": eif, "cert": cert, "key": key}
    args[which] = missing
    before = snapshot(eif.parent)
    one_error(sign(args["eif"], args["cert"], args["key"]), 19, f"cannot open {missing}")
    assert snapshot(eif.parent) == before


def test_not_an_eif(nitrovm, signed_setup):
    eif, cert, key, keys = signed_setup
    eif.write_bytes(b"not an enclave image" * 100)
    before = snapshot(eif.parent)
    one_error(sign(eif, cert, key), 35, "is not a valid EIF")
    assert snapshot(eif.parent) == before


def test_bad_crc_refused(nitrovm, signed_setup):
    eif, cert, key, keys = signed_setup
    buf = bytearray(eif.read_bytes())
    buf[-1] ^= 0xFF
    eif.write_bytes(bytes(buf))
    before = snapshot(eif.parent)
    one_error(sign(eif, cert, key), 35, "fails its CRC check")
    assert snapshot(eif.parent) == before


def test_certificate_file_is_not_a_certificate(nitrovm, signed_setup):
    eif, cert, key, keys = signed_setup
    one_error(sign(eif, key, key), 60, "the certificate file holds a private key, not a certificate")


def _can_create_in(d):
    probe = d / ".probe"
    try:
        probe.write_bytes(b"")
    except OSError:
        return False
    probe.unlink()
    return True


def test_unwritable_directory(nitrovm, signed_setup):
    """The image cannot be replaced: one E19 line, the original untouched, no temporary file left behind."""
    eif, cert, key, keys = signed_setup
    d = eif.parent
    before = snapshot(d)
    os.chmod(d, 0o555)
    immutable = False
    try:
        if _can_create_in(d):  # root ignores permissions; the immutable attribute stops it too
            immutable = subprocess.run(["chattr", "+i", str(d)], capture_output=True).returncode == 0
            if not immutable or _can_create_in(d):
                pytest.skip("cannot make a directory unwritable on this machine")
        one_error(sign(eif, cert, key), 19, "cannot create")
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(d)], check=True)
        os.chmod(d, 0o755)
    assert snapshot(d) == before
    assert sorted(p.name for p in d.iterdir()) == ["x.eif"]


def test_options(nitrovm, signed_setup):
    eif, cert, key, keys = signed_setup
    p = run("sign-eif", "--help")
    assert p.returncode == 0
    out = p.stdout.decode()
    for opt in ("--eif-path", "--signing-certificate", "--private-key"):
        assert opt in out
    p = run("sign-eif", "--eif-path", eif, "--private-key", key)
    assert p.returncode == 1 and "--signing-certificate" in p.stderr.decode()
    p = run("sign-eif", "--eif-path", eif, "--signing-certificate", cert, "--private-key", key, "--bogus")
    assert p.returncode == 3
    p = run("sign-eif", "--eif-path", eif, "--signing-certificate", cert, "--private-key", key, "extra")
    assert p.returncode == 3
