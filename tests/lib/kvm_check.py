#!/usr/bin/python3
"""Prove /dev/kvm runs a guest: create a VM and a vCPU, run 5 bytes of real-mode code, see its exits.

The guest does `mov al, 0x42; out 0x10, al; hlt`; we expect KVM_EXIT_IO on port 0x10 with 0x42, then
KVM_EXIT_HLT (no in-kernel irqchip, so hlt comes out to us). Prints "KVM-CHECK OK" and exits 0 on success,
one line saying what failed and exits 1 otherwise. Used by the nested tier (inside the QEMU guest) and
usable on any host.
"""

import ctypes
import fcntl
import mmap
import os
import struct
import sys

KVM_GET_API_VERSION = 0xAE00
KVM_CREATE_VM = 0xAE01
KVM_GET_VCPU_MMAP_SIZE = 0xAE04
KVM_CREATE_VCPU = 0xAE41
KVM_SET_USER_MEMORY_REGION = 0x4020AE46
KVM_RUN = 0xAE80
KVM_SET_REGS = 0x4090AE82
KVM_GET_SREGS = 0x8138AE83
KVM_SET_SREGS = 0x4138AE84
KVM_EXIT_IO = 2
KVM_EXIT_HLT = 5

CODE = bytes([0xB0, 0x42, 0xE6, 0x10, 0xF4])  # mov al,0x42; out 0x10,al; hlt


def fail(msg):
    print(f"KVM-CHECK FAILED: {msg}")
    sys.exit(1)


def main():
    try:
        kvm = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        fail(f"cannot open /dev/kvm: {e.strerror}")
    api = fcntl.ioctl(kvm, KVM_GET_API_VERSION, 0)
    if api != 12:
        fail(f"KVM API version {api}, expected 12")
    vm = fcntl.ioctl(kvm, KVM_CREATE_VM, 0)

    mem = mmap.mmap(-1, 0x1000, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    mem[0:len(CODE)] = CODE
    addr = ctypes.addressof(ctypes.c_char.from_buffer(mem))
    fcntl.ioctl(vm, KVM_SET_USER_MEMORY_REGION, struct.pack("<IIQQQ", 0, 0, 0, 0x1000, addr))

    vcpu = fcntl.ioctl(vm, KVM_CREATE_VCPU, 0)
    run_size = fcntl.ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0)
    run = mmap.mmap(vcpu, run_size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)

    sregs = bytearray(0x138)
    fcntl.ioctl(vcpu, KVM_GET_SREGS, sregs)
    struct.pack_into("<Q", sregs, 0, 0)  # cs.base
    struct.pack_into("<H", sregs, 12, 0)  # cs.selector
    fcntl.ioctl(vcpu, KVM_SET_SREGS, bytes(sregs))
    regs = [0] * 18
    regs[16] = 0  # rip
    regs[17] = 2  # rflags (bit 1 is always set)
    fcntl.ioctl(vcpu, KVM_SET_REGS, struct.pack("<18Q", *regs))

    fcntl.ioctl(vcpu, KVM_RUN, 0)
    reason, = struct.unpack_from("<I", run, 8)
    if reason != KVM_EXIT_IO:
        fail(f"first exit reason {reason}, expected KVM_EXIT_IO ({KVM_EXIT_IO})")
    direction, size, port, count, data_off = struct.unpack_from("<BBHIQ", run, 32)
    value = run[data_off]
    if (direction, size, port, count, value) != (1, 1, 0x10, 1, 0x42):
        fail(f"unexpected I/O exit: dir {direction} size {size} port {port:#x} count {count} value {value:#x}")
    fcntl.ioctl(vcpu, KVM_RUN, 0)
    reason, = struct.unpack_from("<I", run, 8)
    if reason != KVM_EXIT_HLT:
        fail(f"second exit reason {reason}, expected KVM_EXIT_HLT ({KVM_EXIT_HLT})")
    print("KVM-CHECK OK: created a VM and a vCPU, saw out 0x42 on port 0x10 and hlt")


if __name__ == "__main__":
    main()
