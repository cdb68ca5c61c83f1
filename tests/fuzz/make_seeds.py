#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Write a seed corpus for a fuzz target:  make_seeds.py TARGET DIR [--nitrovm PATH]

Seeds are small (libFuzzer's default -max_len is the largest seed), cover every section type and EIF version,
and include a few broken images so mutations start on both sides of each check.  With --nitrovm, a genuinely
signed image (openssl-made P-384 key and certificate, signed by `nitrovm build-enclave`) is added, so the
signature decoder's deep paths are reachable.  `make_seeds.py --list` prints the targets it knows.
"""

import argparse
import gzip
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
import eiflib  # noqa: E402
import oci_images  # noqa: E402
from eiflib import CMDLINE, KERNEL, METADATA, RAMDISK, SIGNATURE, Image, Section  # noqa: E402


# ---- a minimal CBOR encoder, for signature sections shaped like nitro-cli's (aws-nitro-enclaves-image-format's COSE_Sign1) ----

def cbor_head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    for ai, fmt in ((24, ">B"), (25, ">H"), (26, ">I"), (27, ">Q")):
        if n < 1 << (8 * struct.calcsize(fmt)):
            return bytes([major << 5 | ai]) + struct.pack(fmt, n)
    raise ValueError(n)


def cbor(v):
    if isinstance(v, bool):
        return bytes([0xF5 if v else 0xF4])
    if isinstance(v, int):
        return cbor_head(0, v) if v >= 0 else cbor_head(1, -1 - v)
    if isinstance(v, bytes):
        return cbor_head(2, len(v)) + v
    if isinstance(v, str):
        return cbor_head(3, len(v.encode())) + v.encode()
    if isinstance(v, list):
        return cbor_head(4, len(v)) + b"".join(cbor(x) for x in v)
    if isinstance(v, dict):
        return cbor_head(5, len(v)) + b"".join(cbor(k) + cbor(x) for k, x in v.items())
    raise TypeError(v)


def uint8_array(b):
    """serde_cbor's encoding of a Vec<u8>: an array of unsigned ints, not a byte string."""
    return list(b)


def fake_signature_section(pcr0_hex):
    payload = cbor({"register_index": 0, "register_value": uint8_array(bytes.fromhex(pcr0_hex))})
    cose = cbor([cbor({1: -35}), {}, payload, b"\x01" * 96])
    pem = b"-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
    return cbor([{"signing_certificate": uint8_array(pem), "signature": uint8_array(cose)}])


# ---- EIF seeds ----

def small_sections(nramdisks=2):
    return [Section(KERNEL, eiflib.fake_kernel(0x240)), Section(CMDLINE, b"console=ttyS0 reboot=k"),
            Section(METADATA, eiflib.metadata_json())] + \
        [Section(RAMDISK, eiflib.pseudo_random(40 + 13 * i, i)) for i in range(nramdisks)]


def eif_seeds(nitrovm=None):
    seeds = {}
    base = small_sections()
    seeds["valid-2-ramdisks"] = Image(base).pack()
    seeds["valid-1-ramdisk"] = Image(small_sections(1)).pack()
    seeds["valid-5-ramdisks"] = Image(small_sections(5)).pack()
    seeds["valid-arm64"] = Image(base, flags=1).pack()
    v3 = [s for s in base if s.type != METADATA]
    seeds["valid-v2"] = Image(v3, version=2).pack()
    seeds["valid-v3"] = Image(v3, version=3).pack()
    pcr0 = eiflib.measurements(base)["PCR0"]
    seeds["fake-signature"] = Image(base + [Section(SIGNATURE, fake_signature_section(pcr0))]).pack()
    # Broken on purpose, one rule each.
    good = seeds["valid-2-ramdisks"]
    seeds["bad-crc"] = good[:eiflib.CRC_OFFSET] + b"\0\0\0\0" + good[eiflib.CRC_OFFSET + 4:]
    seeds["bad-trailing"] = Image(base, trailing=b"\0" * 12).pack()
    seeds["bad-truncated"] = eiflib.fix_crc(good[:-7])
    seeds["bad-no-ramdisk"] = Image(base[:3]).pack()
    seeds["bad-type-6"] = Image(base[:3] + [Section(6, b"?")] + base[3:]).pack()
    seeds["bad-33-sections"] = Image(base, num_sections=33).pack()
    seeds["header-only"] = good[:eiflib.HEADER_SIZE]
    if nitrovm:
        signed = signed_seed(nitrovm)
        if signed:
            seeds["valid-signed"] = signed
    return seeds


def signed_seed(nitrovm):
    """A real signature from nitrovm, or None when openssl or the binary is not usable."""
    if not shutil.which("openssl") or not os.access(nitrovm, os.X_OK):
        return None
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        key, cert, kernel, rd, out = (d / n for n in ("key.pem", "cert.pem", "kernel", "rd", "out.eif"))
        kernel.write_bytes(eiflib.fake_kernel(0x240))
        rd.write_bytes(eiflib.pseudo_random(64, 9))
        cmds = [
            ["openssl", "ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", str(key)],
            ["openssl", "req", "-new", "-x509", "-key", str(key), "-out", str(cert), "-days", "3650",
             "-subj", "/CN=nitrovm fuzz seed/O=nitrovm"],
            [nitrovm, "build-enclave", "--kernel", str(kernel), "--cmdline", "console=ttyS0",
             "--ramdisk", str(rd), "--output-file", str(out), "--signing-certificate", str(cert),
             "--private-key", str(key)],
        ]
        env = dict(os.environ, SOURCE_DATE_EPOCH="0", ASAN_OPTIONS="detect_leaks=0")
        for c in cmds:
            if subprocess.run(c, capture_output=True, env=env).returncode != 0:
                print(f"make_seeds: skipping the signed seed ({c[0]} {c[1]} failed)", file=sys.stderr)
                return None
        return out.read_bytes()


# ---- attestation document seeds: the shapes att_parse accepts, with stand-in certificates ----

def attestation_payload(indefinite=False):
    fields = [("module_id", "i-0123456789abcdef0-enc0123456789abcdef"), ("digest", "SHA384"),
              ("timestamp", 1700000000000), ("pcrs", {i: bytes([i]) * 48 for i in range(4)}),
              ("certificate", b"\x30" * 64), ("cabundle", [b"\x30" * 48, b"\x30" * 40]),
              ("public_key", None), ("user_data", b"user"), ("nonce", b"\x01\x02")]
    body = b"".join(cbor(k) + (b"\xf6" if v is None else cbor(v)) for k, v in fields)
    # Real NSM hardware writes the payload as an indefinite-length map; nitrovm writes a definite one.
    return b"\xbf" + body + b"\xff" if indefinite else cbor_head(5, len(fields)) + body


def attestation_seeds(nitrovm=None):
    del nitrovm
    protected = cbor({1: -35})
    seeds = {}
    for name, indefinite in (("definite", False), ("indefinite", True)):
        cose = cbor([protected, {}, attestation_payload(indefinite), b"\x01" * 96])
        seeds[f"untagged-{name}"] = cose
        seeds[f"tagged-{name}"] = b"\xd2" + cose
    seeds["bad-empty"] = b""
    seeds["bad-truncated"] = seeds["untagged-definite"][:-10]
    return seeds


# ---- kernel images (fuzz_kernel_image: first byte 0 bzImage, 1 vmlinux, 2 KASLR input) ----

KERNEL_MAP, PREF = 0xFFFFFFFF80000000, 0x1000000


def tiny_vmlinux():
    """An x86_64 ELF with a text and a data segment (bss after it), then the three relocation tables."""
    def phdr(off, image_off, filesz, memsz):
        return struct.pack("<IIQQQQQQ", 1, 7, off, KERNEL_MAP + PREF + image_off, PREF + image_off, filesz, memsz,
                           0x200000)

    def va(image_off):
        return (KERNEL_MAP + PREF + image_off) & 0xFFFFFFFF

    ehdr = (b"\x7fELF" + bytes([2, 1, 1]) + bytes(9) + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, PREF + 0x40, 64, 0,
                                                                    0, 64, 56, 2, 64, 0, 0))
    img = bytearray(0x600)
    img[:len(ehdr)] = ehdr
    img[64:64 + 112] = phdr(0x200, 0, 0x200, 0x200) + phdr(0x400, 0x200000, 0x200, 0x1000)
    img[0x200:0x400] = b"\x90" * 0x200
    struct.pack_into("<Q", img, 0x410, KERNEL_MAP + PREF + 0x40)
    struct.pack_into("<I", img, 0x420, va(0x80))
    struct.pack_into("<I", img, 0x430, 0x1000)
    relocs = struct.pack("<IIIIII", 0, va(0x200010), 0, va(0x200030), 0, va(0x200020))
    return bytes(img) + relocs


def tiny_bzimage(payload, decompressed_len):
    """A setup header (protocol 2.15) around a compressed payload with its size appended, and a KASLR string."""
    k = bytearray(0x800)
    k[0x1F1] = 3
    struct.pack_into("<H", k, 0x1FE, 0xAA55)
    struct.pack_into("<IH", k, 0x202, 0x53726448, 0x020F)
    struct.pack_into("<IBBH", k, 0x230, 0x200000, 1, 21, 0x7F)
    struct.pack_into("<II", k, 0x248, 0x100, len(payload) + 4)
    struct.pack_into("<QI", k, 0x258, PREF, 0x400000)
    pm = bytearray(0x100) + payload + struct.pack("<I", decompressed_len) + b"KASLR"
    return bytes(k) + bytes(pm)


def kernel_seeds(nitrovm=None):
    import gzip
    import lzma
    v = tiny_vmlinux()
    seeds = {
        "bzimage-gzip": b"\0" + tiny_bzimage(gzip.compress(v, mtime=0), len(v)),
        "bzimage-xz": b"\0" + tiny_bzimage(lzma.compress(v, check=lzma.CHECK_CRC32), len(v)),
        "bzimage-lzma": b"\0" + tiny_bzimage(lzma.compress(v, format=lzma.FORMAT_ALONE), len(v)),
        "bzimage-no-payload": b"\0" + tiny_bzimage(b"", 0),
        "vmlinux": b"\1" + v,
        "vmlinux-unterminated": b"\1" + v[:-24] + bytes(4),
        "kaslr": b"\2" + struct.pack("<7Q", 12345, 0, 7, 55 << 20, 256 << 20, 1, 0x100000) +
                 struct.pack("<3Q", 255 << 20, 200 << 20, 40 << 20),
    }
    try:
        zstd = subprocess.run(["zstd", "-q", "-c"], input=v, capture_output=True, check=True).stdout
        seeds["bzimage-zstd"] = b"\0" + tiny_bzimage(zstd, len(v))
    except (OSError, subprocess.CalledProcessError):
        pass
    return seeds


# ---- container images: layers (tar, tar+gzip) and the JSON around them ----

def layer_seeds(_nitrovm):
    base = [("etc", "dir", None), ("etc/passwd", "file", b"root:x:0:0::/root:/bin/sh\n"), ("bin", "dir", None),
            ("bin/busybox", "file", b"\x7fELF" + bytes(200)), ("bin/sh", "symlink", "busybox"),
            ("bin/ash", "hardlink", "bin/busybox"), ("d", "dir", None), ("d/old", "file", b"old"),
            ("var/run", "symlink", "../run"), ("lnk", "symlink", "/etc")]
    top = [("d/new", "file", b"n"), ("d/.wh..wh..opq", "file", b""), ("etc/.wh.passwd", "file", b""),
           ("lnk/conf", "file", b"c"), ("var/run/pid", "file", b"1"), ("./x/y/z", "file", b"z")]
    out = {}
    for name, compress in (("plain", lambda t: t), ("gzip", gzip.compress)):
        a, b = compress(oci_images.tar_bytes(base)), compress(oci_images.tar_bytes(top))
        out[f"layers-{name}"] = struct.pack(">H", len(a)) + a + b
    out["one-layer"] = struct.pack(">H", 0xFFFF) + oci_images.tar_bytes(base)
    return out


def manifest_seeds(_nitrovm):
    d = "sha256:" + "ab" * 32
    layer = '{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":10}' % d
    manifest = ('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":'
                '{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":99},"layers":[%s]}'
                % (d, layer))
    index = ('{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",'
             '"digest":"%s","size":7,"platform":{"architecture":"arm64","os":"linux","variant":"v8"},'
             '"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}' % d)
    config = ('{"architecture":"amd64","os":"linux","config":{"User":"app:grp","Env":["A=1"],"Cmd":["x"],'
              '"Entrypoint":null,"WorkingDir":"/w","Labels":{"b":"1","a":"2"}},"rootfs":{"type":"layers",'
              '"diff_ids":["%s"]}}' % d)
    return {
        "manifest": b"\x00\x01" + manifest.encode(),
        "index": b"\x05\x02" + index.encode(),
        "config": b"\x01" + config.encode(),
        "user": b"\x02app:grp\0root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n\0grp:x:5:app\n",
        "challenge": b"\x03Bearer realm=\"https://auth/token\",service=\"reg\",scope=\"repository:a:pull\"",
        "reference": b"\x04localhost:5000/team/app:v1@" + d.encode(),
    }



TARGETS = {"fuzz_eif_reader": eif_seeds, "fuzz_attestation": attestation_seeds, "fuzz_kernel_image": kernel_seeds,
           "fuzz_image_layer": layer_seeds, "fuzz_image_manifest": manifest_seeds}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("target", nargs="?")
    ap.add_argument("dir", nargs="?")
    ap.add_argument("--nitrovm", help="a nitrovm binary, to add a genuinely signed image")
    ap.add_argument("--list", action="store_true", help="print the targets this script has seeds for")
    a = ap.parse_args()
    if a.list:
        print("\n".join(TARGETS))
        return 0
    if not a.target or not a.dir:
        ap.error("TARGET and DIR are required")
    if a.target not in TARGETS:
        print(f"make_seeds: no seeds for {a.target}", file=sys.stderr)
        return 0
    out = Path(a.dir)
    out.mkdir(parents=True, exist_ok=True)
    seeds = TARGETS[a.target](a.nitrovm)
    for name, data in seeds.items():
        (out / name).write_bytes(data)
    print(f"make_seeds: {len(seeds)} seeds for {a.target} in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
