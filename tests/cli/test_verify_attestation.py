# SPDX-License-Identifier: MIT
"""Process-level tests of `nitrovm verify-attestation`.

Documents and chains are made here the way AWS makes them (AWS's attestation_process.md) with python3-cryptography and
python3-cbor2, which share nothing with nitrovm's C code: root → regional (pathlen 2) → zonal (pathlen 1) →
instance (pathlen 0) → leaf (CA:FALSE), P-384 and ecdsa-with-SHA384 throughout, CA key usage critical
digitalSignature+keyCertSign+cRLSign (0x86), the leaf's digitalSignature+nonRepudiation; the payload in the
observed field order as a definite (A9) or indefinite (BF … FF) map; the COSE_Sign1 untagged or tagged 18.
"""
import base64
import datetime
import hashlib
import json

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from conftest import run

E_VERIFY = 70
INSTANCE_ID = "i-0a9f2a8b8dd31c7c8"
# Reference B.3: PCR4 of that instance id, as a real AWS document carries it.
PCR4 = "f8e8fc387257438667dc453ccde507690656c27e1abd42f5b6746a609697b0b227fdbd345b5133b9eac8248d718ad75b"
NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
HOUR = datetime.timedelta(hours=1)
DAY = datetime.timedelta(days=1)


def name(cn, local=False):
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "US")]
    if local:
        attrs += [x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "WA"),
                  x509.NameAttribute(NameOID.LOCALITY_NAME, "Seattle")]
    attrs += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Amazon"),
              x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "AWS"),
              x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    return x509.Name(attrs)


CA_USAGE = dict(digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False)
LEAF_USAGE = dict(CA_USAGE, key_cert_sign=False, crl_sign=False, content_commitment=True)


def make_cert(subject, key, issuer, issuer_key, ca, pathlen, lifetime, usage):
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer.subject if issuer else subject)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(NOW - HOUR).not_valid_after(NOW + lifetime)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=pathlen), critical=True)
         .add_extension(x509.KeyUsage(**usage), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if issuer:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                            critical=False)
    return b.sign(issuer_key, hashes.SHA384())


class Chain:
    """An AWS-shaped chain; certs[0] is the root, certs[-1] the leaf."""

    def __init__(self, zonal_pathlen=1, leaf_lifetime=3 * HOUR, instance_usage=CA_USAGE):
        self.keys = [ec.generate_private_key(ec.SECP384R1()) for _ in range(5)]
        specs = [
            (name("aws.nitro-enclaves"), True, None, 30 * 365 * DAY, CA_USAGE),
            (name("1f2e3d4c5b6a7988.us-east-1.aws.nitro-enclaves"), True, 2, 20 * DAY, CA_USAGE),
            (name("0a1b2c3d4e5f6a7b.zonal.us-east-1.aws.nitro-enclaves", True), True, zonal_pathlen, 5 * DAY,
             CA_USAGE),
            (name(f"{INSTANCE_ID}.us-east-1.aws.nitro-enclaves", True), True, 0, DAY, instance_usage),
            (name(f"{INSTANCE_ID}-enc019802a541b75725.us-east-1.aws", True), False, None, leaf_lifetime,
             LEAF_USAGE),
        ]
        self.certs = []
        for i, (subj, ca, pathlen, life, usage) in enumerate(specs):
            issuer = self.certs[i - 1] if i else None
            self.certs.append(make_cert(subj, self.keys[i], issuer, self.keys[i - 1] if i else self.keys[0],
                                        ca, pathlen, life, usage))
        self.der = [c.public_bytes(serialization.Encoding.DER) for c in self.certs]

    def write_root(self, path, der=False):
        enc = serialization.Encoding.DER if der else serialization.Encoding.PEM
        path.write_bytes(self.certs[0].public_bytes(enc))
        return path


def pcrs():
    out = {i: hashlib.sha384(bytes([i])).digest() for i in range(16)}
    out[4] = bytes.fromhex(PCR4)
    out[3] = bytes(48)
    return out


def payload_fields(chain, nonce=b"\x01\x02\x03\x04", user_data=b"user data", public_key=None, **over):
    fields = {
        "module_id": f"{INSTANCE_ID}-enc019802a541b75725",
        "digest": "SHA384",
        "timestamp": int(NOW.timestamp() * 1000),
        "pcrs": pcrs(),
        "certificate": chain.der[4],
        "cabundle": chain.der[:4],
        "public_key": public_key,
        "user_data": user_data,
        "nonce": nonce,
    }
    fields.update(over)
    return fields


def encode_payload(fields, indefinite):
    if not indefinite:
        return cbor2.dumps(fields)
    # cbor2 writes definite maps only: assemble the indefinite one (BF key value ... FF) by hand.
    return b"\xbf" + b"".join(cbor2.dumps(k) + cbor2.dumps(v) for k, v in fields.items()) + b"\xff"


def sign(key, protected, payload):
    tbs = cbor2.dumps(["Signature1", protected, b"", payload])
    r, s = decode_dss_signature(key.sign(tbs, ec.ECDSA(hashes.SHA384())))
    return r.to_bytes(48, "big") + s.to_bytes(48, "big")


def make_document(chain, indefinite=False, tagged=False, signer=None, **over):
    protected = cbor2.dumps({1: -35})
    payload = encode_payload(payload_fields(chain, **over), indefinite)
    sig = sign(signer or chain.keys[4], protected, payload)
    cose = [protected, {}, payload, sig]
    return cbor2.dumps(cbor2.CBORTag(18, cose) if tagged else cose)


@pytest.fixture(scope="module")
def chain():
    return Chain()


@pytest.fixture
def files(tmp_path, chain):
    return {"root": chain.write_root(tmp_path / "root.pem"), "doc": tmp_path / "doc.cbor", "dir": tmp_path}


def verify(files, doc, *args, root=None):
    files["doc"].write_bytes(doc)
    return run("verify-attestation", "--document", files["doc"], "--root", root or files["root"], *args)


def one_error(p, code, fragment):
    err = p.stderr.decode()
    assert p.returncode == code, (p.returncode, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"[ E{code:02d} ] "), err
    assert p.stdout == b""
    assert fragment in lines[0], err


@pytest.mark.parametrize("indefinite", [False, True])
@pytest.mark.parametrize("tagged", [False, True])
def test_accepts_aws_shaped_documents(files, chain, indefinite, tagged):
    doc = make_document(chain, indefinite=indefinite, tagged=tagged)
    assert doc[0] == (0xD2 if tagged else 0x84)
    p = verify(files, doc)
    assert p.returncode == 0, p.stderr.decode()
    out = json.loads(p.stdout)
    assert list(out) == ["module_id", "digest", "timestamp", "pcrs", "certificate", "cabundle", "public_key",
                         "user_data", "nonce"]
    assert out["module_id"] == f"{INSTANCE_ID}-enc019802a541b75725"
    assert out["digest"] == "SHA384"
    assert out["timestamp"] == int(NOW.timestamp() * 1000)
    assert out["pcrs"] == {str(i): v.hex() for i, v in pcrs().items()}
    assert base64.b64decode(out["certificate"]) == chain.der[4]
    assert [base64.b64decode(c) for c in out["cabundle"]] == chain.der[:4]
    assert out["public_key"] is None
    assert out["user_data"] == b"user data".hex()
    assert out["nonce"] == "01020304"
    # serde_json's pretty layout, like every other command.
    assert p.stdout.decode().startswith('{\n  "module_id": ')


def test_expected_values(files, chain):
    doc = make_document(chain, public_key=b"\x04" * 97)
    p = verify(files, doc, "--nonce", "01020304", "--pcr", f"4={PCR4}", "--pcr", f"3={'00' * 48}",
               "--user-data", b"user data".hex(), "--public-key", "04" * 97)
    assert p.returncode == 0, p.stderr.decode()
    assert json.loads(p.stdout)["public_key"] == "04" * 97


def test_root_as_der(files, chain):
    root = chain.write_root(files["dir"] / "root.der", der=True)
    p = verify(files, make_document(chain), root=root)
    assert p.returncode == 0, p.stderr.decode()


def test_pcr_mismatch(files, chain):
    want = "9f3c" * 24
    p = verify(files, make_document(chain), "--pcr", f"4={want}")
    one_error(p, E_VERIFY, f"PCR4 is {PCR4} but {want} was expected")
    p = verify(files, make_document(chain), "--pcr", f"17={want}")
    one_error(p, E_VERIFY, "PCR17 is not in the document")


def test_nonce_and_user_data_mismatch(files, chain):
    one_error(verify(files, make_document(chain), "--nonce", "01020305"), E_VERIFY,
              "the document's nonce is 01020304 but 01020305 was expected")
    one_error(verify(files, make_document(chain, nonce=None), "--nonce", "01020304"), E_VERIFY,
              "the document has no nonce")
    one_error(verify(files, make_document(chain), "--user-data", "00"), E_VERIFY, "the document's user_data is")


def test_wrong_root(files, chain):
    other = Chain().write_root(files["dir"] / "other.pem")
    one_error(verify(files, make_document(chain), root=other), E_VERIFY,
              "the certificate chain does not lead to the pinned root")


def test_flipped_bytes(files, chain):
    doc = bytearray(make_document(chain, indefinite=True))
    i = doc.index(b"enc0198")
    doc[i] ^= 1
    one_error(verify(files, bytes(doc)), E_VERIFY,
              "the COSE signature does not verify with the leaf certificate's key")
    doc = bytearray(make_document(chain))
    doc[-1] ^= 0x80
    one_error(verify(files, bytes(doc)), E_VERIFY,
              "the COSE signature does not verify with the leaf certificate's key")
    # The last byte of the leaf's DER: its issuer's signature.
    doc = bytearray(make_document(chain))
    i = doc.index(chain.der[4]) + len(chain.der[4]) - 1
    doc[i] ^= 0x01
    one_error(verify(files, bytes(doc)), E_VERIFY, "the signature on the leaf certificate")


def test_signed_by_another_key(files, chain):
    one_error(verify(files, make_document(chain, signer=chain.keys[3])), E_VERIFY,
              "the COSE signature does not verify with the leaf certificate's key")


def test_validity_time(files, chain):
    doc = make_document(chain)
    later = (NOW + 4 * HOUR).strftime("%Y-%m-%dT%H:%M:%SZ")
    one_error(verify(files, doc, "--at", later), E_VERIFY, "the leaf certificate (CN=")
    one_error(verify(files, doc, "--at", later), E_VERIFY, "expired at")
    one_error(verify(files, doc, "--at", str(int((NOW + 4 * HOUR).timestamp()))), E_VERIFY, "expired at")
    # Two hours on, with an offset: still valid.
    soon = (NOW + 2 * HOUR).astimezone(datetime.timezone(datetime.timedelta(hours=-5)))
    p = verify(files, doc, "--at", soon.isoformat())
    assert p.returncode == 0, p.stderr.decode()
    # --at document: the document's own time, here before the chain was issued.
    old = make_document(chain, timestamp=int((NOW - 2 * HOUR).timestamp() * 1000))
    one_error(verify(files, old, "--at", "document"), E_VERIFY, "is not valid before")


def test_pathlen_and_key_usage(files):
    c = Chain(zonal_pathlen=0)
    one_error(verify(files, make_document(c), root=c.write_root(files["dir"] / "p.pem")), E_VERIFY,
              "path length constraint of cabundle[2]")
    c = Chain(instance_usage=dict(CA_USAGE, key_cert_sign=False))
    one_error(verify(files, make_document(c), root=c.write_root(files["dir"] / "k.pem")), E_VERIFY,
              "cabundle[3] (CN=i-0a9f2a8b8dd31c7c8.us-east-1.aws.nitro-enclaves) is a CA certificate without the "
              "keyCertSign key usage")


@pytest.mark.parametrize("over,fragment", [
    ({"module_id": ""}, "the payload's module_id is empty"),
    ({"digest": "SHA256"}, "the payload's digest is \"SHA256\", not \"SHA384\""),
    ({"timestamp": 0}, "the payload's timestamp is 0"),
    ({"pcrs": {}}, "the payload's pcrs is empty"),
    ({"pcrs": {32: bytes(48)}}, "the payload's pcrs has index 32"),
    ({"pcrs": {0: bytes(20)}}, "PCR0 in the payload is 20 bytes long"),
    ({"certificate": b""}, "the payload's certificate is 0 bytes long"),
    ({"certificate": bytes(1025)}, "the payload's certificate is 1025 bytes long"),
    ({"cabundle": []}, "the payload's cabundle is empty"),
    ({"cabundle": [bytes(1025)]}, "the payload's cabundle[0] is 1025 bytes long"),
    ({"public_key": b""}, "the payload's public_key is 0 bytes long"),
    ({"user_data": bytes(1025)}, "the payload's user_data is 1025 bytes long"),
    ({"nonce": bytes(1025)}, "the payload's nonce is 1025 bytes long"),
    ({"nonce": "text"}, "the payload's nonce is a text string, not a byte string or null"),
    ({"timestamp": -1}, "the payload's timestamp is a negative integer"),
])
def test_limits(files, chain, over, fragment):
    one_error(verify(files, make_document(chain, **over)), E_VERIFY, fragment)


def test_missing_field(files, chain):
    fields = payload_fields(chain)
    del fields["cabundle"]
    protected = cbor2.dumps({1: -35})
    payload = cbor2.dumps(fields)
    doc = cbor2.dumps([protected, {}, payload, sign(chain.keys[4], protected, payload)])
    one_error(verify(files, doc), E_VERIFY, "the document's payload has no cabundle")


def test_not_cbor(files, chain):
    doc = make_document(chain)
    one_error(verify(files, doc[:-10]), E_VERIFY, "the document is not valid CBOR at byte")
    one_error(verify(files, b"hello"), E_VERIFY, "the document is")


def test_wrong_algorithm(files, chain):
    protected = cbor2.dumps({1: -7})
    payload = cbor2.dumps(payload_fields(chain))
    doc = cbor2.dumps([protected, {}, payload, bytes(96)])
    one_error(verify(files, doc), E_VERIFY, "the COSE algorithm is -7, not ES384 (-35)")


def test_default_root_is_the_local_ca(files, chain):
    """Without --root: <state dir>/ca/root.pem, read as it is (a verifier never creates a CA)."""
    files["doc"].write_bytes(make_document(chain))
    state = files["dir"] / "state"
    env = {"NITROVM_STATE_DIR": str(state)}
    one_error(run("verify-attestation", "--document", files["doc"], env=env), 19,
              f"no --root given and the local CA has no root at {state}/ca/root.pem yet")
    assert not state.exists()
    (state / "ca").mkdir(parents=True)
    chain.write_root(state / "ca" / "root.pem")
    p = run("verify-attestation", "--document", files["doc"], env=env)
    assert p.returncode == 0, p.stderr.decode()
    other = files["dir"] / "other-state"
    (other / "ca").mkdir(parents=True)
    Chain().write_root(other / "ca" / "root.pem")
    one_error(run("verify-attestation", "--document", files["doc"], "--state-dir", other, env=env), E_VERIFY,
              "does not lead to the pinned root")
    one_error(run("verify-attestation", "--document", files["doc"], "--state-dir", other, "--root",
                  files["root"]), 2, "give one")


def test_arguments(files, chain):
    files["doc"].write_bytes(make_document(chain))
    one_error(run("verify-attestation", "--root", files["root"]), 1, "needs --document")
    one_error(run("verify-attestation", "--document", files["dir"] / "nope", "--root", files["root"]), 19,
              "nope")
    one_error(verify(files, make_document(chain), "--pcr", "4"), 3, "--pcr takes N=HEX")
    one_error(verify(files, make_document(chain), "--pcr", "32=" + "00" * 48), 3, "the index must be 0 to 31")
    one_error(verify(files, make_document(chain), "--pcr", "1=abc"), 3, "32, 48 or 64 bytes")
    one_error(verify(files, make_document(chain), "--nonce", "xyz1"), 3, "--nonce is not hex")
    one_error(verify(files, make_document(chain), "--at", "yesterday"), 3, "--at 'yesterday' is not a time")
    one_error(verify(files, make_document(chain), root=files["doc"]), 3, "--root")
    p = run("verify-attestation", "--help")
    assert p.returncode == 0 and b"--document FILE" in p.stdout
