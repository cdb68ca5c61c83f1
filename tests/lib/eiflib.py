# SPDX-License-Identifier: MIT
"""A small, independent EIF writer and measurer for tests (aws-nitro-enclaves-image-format's header, sections and metadata; PCR0/1/2).

It shares no code with nitrovm, so a test that builds an image here and reads it with nitrovm (or the other way
round) checks the format against a second reading of the spec.  It can also write images that break one rule at a
time: every knob below defaults to what a correct writer does.

Layout: a 548-byte big-endian header (magic ".eif", version, flags, default_mem, default_cpus, reserved,
num_sections, section_offsets[32], section_sizes[32], unused, crc32), then each section as a 12-byte header
(type u16, flags u16, size u64) followed by its data, with no padding.  The CRC (zlib's crc32) covers every byte
of the file except its own four at 0x220.
"""

import hashlib
import json
import struct
import zlib
from dataclasses import dataclass, field
from typing import List, Optional

MAGIC = b".eif"
HEADER_SIZE = 548
SECTION_HEADER_SIZE = 12
MAX_SECTIONS = 32
CRC_OFFSET = 0x220
VERSION = 4
DEFAULT_MEM = 1 << 30
DEFAULT_CPUS = 2

KERNEL, CMDLINE, RAMDISK, SIGNATURE, METADATA = 1, 2, 3, 4, 5
SECTION_NAMES = {0: "invalid", 1: "kernel", 2: "cmdline", 3: "ramdisk", 4: "signature", 5: "metadata"}

EMPTY_PCR = ("21b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c"
             "10edb30948c90ba67310f7b964fc500a")


@dataclass
class Section:
    type: int
    data: bytes
    flags: int = 0
    # The size written in the section's own 12-byte header; None = len(data).
    header_size: Optional[int] = None


@dataclass
class Image:
    sections: List[Section]
    version: int = VERSION
    flags: int = 0
    default_mem: int = DEFAULT_MEM
    default_cpus: int = DEFAULT_CPUS
    # Header overrides: None = the truth.
    num_sections: Optional[int] = None
    offsets: Optional[List[int]] = None
    sizes: Optional[List[int]] = None
    # Bytes inserted before section i's header (breaks contiguity; offsets follow unless overridden).
    gaps: dict = field(default_factory=dict)
    trailing: bytes = b""
    crc: Optional[int] = None

    def pack(self) -> bytes:
        body = bytearray()
        offsets, sizes = [], []
        pos = HEADER_SIZE
        for i, s in enumerate(self.sections):
            gap = self.gaps.get(i, b"")
            body += gap
            pos += len(gap)
            offsets.append(pos)
            sizes.append(len(s.data))
            size = len(s.data) if s.header_size is None else s.header_size
            body += struct.pack(">HHQ", s.type, s.flags, size) + s.data
            pos += SECTION_HEADER_SIZE + len(s.data)
        body += self.trailing
        if self.offsets is not None:
            offsets = self.offsets
        if self.sizes is not None:
            sizes = self.sizes
        # The table has 32 slots; more sections than that cannot be described (the reader must refuse first).
        table_off = (list(offsets) + [0] * MAX_SECTIONS)[:MAX_SECTIONS]
        table_size = (list(sizes) + [0] * MAX_SECTIONS)[:MAX_SECTIONS]
        nsec = len(self.sections) if self.num_sections is None else self.num_sections
        hdr = MAGIC + struct.pack(">HHQQHH", self.version, self.flags, self.default_mem, self.default_cpus, 0, nsec)
        hdr += struct.pack(">32Q", *table_off) + struct.pack(">32Q", *table_size) + struct.pack(">I", 0)
        assert len(hdr) == CRC_OFFSET
        crc = zlib.crc32(bytes(body), zlib.crc32(hdr)) if self.crc is None else self.crc
        out = hdr + struct.pack(">I", crc) + bytes(body)
        assert self.trailing or self.gaps or len(self.sections) > MAX_SECTIONS or \
            len(out) == HEADER_SIZE + sum(SECTION_HEADER_SIZE + len(s.data) for s in self.sections)
        return out


def crc_of(buf: bytes) -> int:
    """The CRC an EIF should carry: every byte but 0x220..0x223."""
    return zlib.crc32(buf[CRC_OFFSET + 4:], zlib.crc32(buf[:CRC_OFFSET]))


def fix_crc(buf: bytes) -> bytes:
    """Rewrite the stored CRC after editing bytes, so that only the intended defect remains."""
    return buf[:CRC_OFFSET] + struct.pack(">I", crc_of(buf)) + buf[CRC_OFFSET + 4:]


def pcr(content: bytes) -> str:
    """A zero PCR extended with SHA-384(content): SHA384(48 zero bytes || SHA384(content)), lowercase hex."""
    return hashlib.sha384(b"\0" * 48 + hashlib.sha384(content).digest()).hexdigest()


def measurements(sections: List[Section]) -> dict:
    """PCR0/1/2 from section data in file order; metadata and signature sections never count."""
    kernel_cmdline = b"".join(s.data for s in sections if s.type in (KERNEL, CMDLINE))
    ramdisks = [s.data for s in sections if s.type == RAMDISK]
    return {
        "PCR0": pcr(kernel_cmdline + b"".join(ramdisks)),
        "PCR1": pcr(kernel_cmdline + (ramdisks[0] if ramdisks else b"")),
        "PCR2": pcr(b"".join(ramdisks[1:])),
    }


def metadata_json(name="test", version="1.0", build_time="1970-01-01T00:00:00+00:00") -> bytes:
    """Compact JSON with nitro-cli's keys in its order (its EifIdentityInfo)."""
    md = {
        "ImageName": name,
        "ImageVersion": version,
        "BuildMetadata": {
            "BuildTime": build_time,
            "BuildTool": "eiflib.py",
            "BuildToolVersion": "0",
            "OperatingSystem": "Linux",
            "KernelVersion": "0.0.0",
        },
        "DockerInfo": None,
        "CustomMetadata": None,
    }
    return json.dumps(md, separators=(",", ":")).encode()


def fake_kernel(size=4096, seed=1) -> bytes:
    """Bytes that look like a bzImage to anything that checks the "HdrS" magic at 0x202."""
    k = bytearray(pseudo_random(size, seed))
    if size >= 0x206:
        k[0x202:0x206] = b"HdrS"
    return bytes(k)


def pseudo_random(size: int, seed: int) -> bytes:
    """Deterministic filler (SHA-256 in counter mode), so images and their PCRs are the same on every run."""
    out = bytearray()
    n = 0
    while len(out) < size:
        out += hashlib.sha256(struct.pack(">QQ", seed, n)).digest()
        n += 1
    return bytes(out[:size])


def standard_sections(kernel=None, cmdline=b"console=ttyS0 reboot=k", ramdisks=None, metadata=None):
    """nitro-cli's order: kernel, cmdline, metadata, ramdisks."""
    kernel = fake_kernel() if kernel is None else kernel
    ramdisks = [pseudo_random(1000, 2), pseudo_random(3001, 3)] if ramdisks is None else ramdisks
    metadata = metadata_json() if metadata is None else metadata
    return [Section(KERNEL, kernel), Section(CMDLINE, cmdline), Section(METADATA, metadata)] + \
        [Section(RAMDISK, r) for r in ramdisks]


def valid_image(**kw) -> Image:
    return Image(standard_sections(**kw))


def read_sections(buf: bytes) -> List[Section]:
    """Walk a well-formed image's sections (for tests that look inside images nitrovm wrote)."""
    assert buf[:4] == MAGIC, "not an EIF"
    nsec = struct.unpack_from(">H", buf, 0x1A)[0]
    offsets = struct.unpack_from(">32Q", buf, 0x1C)
    out = []
    for i in range(nsec):
        t, flags, size = struct.unpack_from(">HHQ", buf, offsets[i])
        start = offsets[i] + SECTION_HEADER_SIZE
        out.append(Section(t, buf[start:start + size], flags))
    return out
