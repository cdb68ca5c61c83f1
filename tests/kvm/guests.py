# SPDX-License-Identifier: MIT
"""Tiny test guests for the KVM tier, built at test time.

mini_bzimage() assembles a few 64-bit instructions (GNU as + objcopy) behind a hand-made Linux setup header, so a
test controls exactly how the guest ends (debug exit code, i8042 reset, ACPI poweroff, triple fault, hang, echo)
and can forge what the boot loader checks (the "HdrS" magic, the boot protocol version).  write_eif() packs any
kernel bytes into an EIF without nitrovm's own writer, so bad kernels can be tested too.
"""
import os
import struct
import subprocess
import tempfile

import cpio
import eiflib

BUILD_TIME = "2024-01-01T00:00:00+00:00"
SETUP_SECTS = 1
HDR_END = 0x268  # end of a 2.15 setup header
ENTRY64 = 0x200

PRINT = r"""
.code64
.globl _start
_start:
	lea msg(%rip), %rsi
	mov $0x3f8, %dx
1:	lodsb
	test %al, %al
	jz 2f
	outb %al, %dx
	jmp 1b
2:
"""

HANG = """
9:	cli
	hlt
	jmp 9b
"""

ACTIONS = {
    "exit": "mov $0x501, %dx\n\tmov ${code}, %al\n\toutb %al, %dx\n" + HANG,
    "reset": "mov $0xfe, %al\n\toutb %al, $0x64\n" + HANG,
    "poweroff": "mov $0x600, %dx\n\tmov $0x34, %al\n\toutb %al, %dx\n" + HANG,
    "triple": "ud2\n" + HANG,
    "hang": HANG,
    # Echo console input back until a 'q', then exit 0 through the debug port.
    "echo": r"""
3:	mov $0x3fd, %dx
	inb %dx, %al
	test $1, %al
	jz 3b
	mov $0x3f8, %dx
	inb %dx, %al
	outb %al, %dx
	cmp $'q', %al
	jne 3b
	mov $0x501, %dx
	xor %al, %al
	outb %al, %dx
""" + HANG,
}


def assemble(src: str) -> bytes:
    with tempfile.TemporaryDirectory() as d:
        s, o, b = (os.path.join(d, n) for n in ("g.S", "g.o", "g.bin"))
        with open(s, "w") as f:
            f.write(src)
        subprocess.run(["as", "--64", "-o", o, s], check=True)
        subprocess.run(["objcopy", "-O", "binary", "-j", ".text", o, b], check=True)
        with open(b, "rb") as f:
            return f.read()


def mini_code(action: str, message: str = "mini guest up\n", code: int = 0) -> bytes:
    body = ACTIONS[action].replace("{code}", str(code))
    msg = message.encode().replace(b"\\", b"\\\\").replace(b'"', b'\\"').replace(b"\n", b"\\n")
    return assemble(PRINT + body + '\nmsg:\t.asciz "' + msg.decode() + '"\n')


def mini_bzimage(action: str = "exit", message: str = "mini guest up\n", code: int = 0,
                 version: int = 0x020F, magic: bytes = b"HdrS") -> bytes:
    pm = bytearray(ENTRY64) + mini_code(action, message, code)
    setup = bytearray((SETUP_SECTS + 1) * 512)
    setup[0x1F1] = SETUP_SECTS
    struct.pack_into("<H", setup, 0x1FE, 0xAA55)
    setup[0x200] = 0xEB  # jmp over the header
    setup[0x201] = HDR_END - 0x202
    setup[0x202:0x206] = magic
    struct.pack_into("<H", setup, 0x206, version)
    setup[0x211] = 0x01  # LOADED_HIGH
    struct.pack_into("<I", setup, 0x214, 0x100000)  # code32_start
    struct.pack_into("<I", setup, 0x22C, 0x7FFFFFFF)  # initrd_addr_max
    struct.pack_into("<I", setup, 0x230, 0x200000)  # kernel_alignment
    setup[0x234] = 1  # relocatable
    struct.pack_into("<H", setup, 0x236, 0x1)  # XLF_KERNEL_64
    struct.pack_into("<I", setup, 0x238, 2047)  # cmdline_size
    struct.pack_into("<I", setup, 0x260, len(pm) + 4096)  # init_size
    return bytes(setup + pm)


def write_eif(path: str, kernel: bytes, cmdline: str = "console=ttyS0", ramdisks=(b"",), version: int = 4):
    """A small EIF (kernel, cmdline, metadata, ramdisks; unsigned), CRC as nitro-cli computes it (eiflib)."""
    image = eiflib.Image(eiflib.standard_sections(kernel=kernel, cmdline=cmdline.encode(), ramdisks=list(ramdisks),
                                                  metadata=eiflib.metadata_json(build_time=BUILD_TIME)),
                         version=version)
    with open(path, "wb") as f:
        f.write(image.pack())
    return path


def empty_cpio() -> bytes:
    """A newc archive holding only its trailer."""
    return cpio.Writer().finish(pad=4)
