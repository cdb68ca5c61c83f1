# SPDX-License-Identifier: MIT
"""Files that pass for kernels and inits where the tests only build images and never boot them."""
import struct


def fake_bzimage(path, size=8192, version=b"6.12.0-test (nobody@nowhere) #1"):
    """A file that carries a bzImage setup header's magic and a version string: enough for the EIF tools."""
    data = bytearray((i * 7) & 0xFF for i in range(size))
    data[0x202:0x206] = b"HdrS"
    off = 0x600
    data[0x20E:0x210] = (off - 0x200).to_bytes(2, "little")
    data[off:off + len(version) + 1] = version + b"\0"
    with open(path, "wb") as f:
        f.write(bytes(data))
    return path


def fake_arm64_image(path, size=8192):
    """A file with the arm64 Image header's magic ("ARM\\x64" at 0x38)."""
    data = bytearray(size)
    data[0x38:0x3c] = b"ARM\x64"
    with open(path, "wb") as f:
        f.write(bytes(data))
    return path


def fake_static_elf(path, machine=183):
    """An ELF header with no program headers, for a machine (183: aarch64): what build-enclave checks of
    an init it cannot run."""
    header = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    header += struct.pack("<HHIQQQIHHHHHH", 2, machine, 1, 0, 64, 0, 0, 64, 56, 0, 64, 0, 0)
    with open(path, "wb") as f:
        f.write(header)
    return path
