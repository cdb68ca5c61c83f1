#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Build the probe guest bzImage.

Compiles with its own fixed flags rather than the project's (sanitizers, coverage
or LTO options of the host build must never reach a freestanding guest), links
the protected-mode image as a static PIE and the real-mode setup at 0, and packs
them the way a bzImage is laid out:

    [boot sector + setup header (0x1F1) + real-mode setup] padded to (setup_sects+1)*512
    [protected-mode image: startup_32 at +0, kernel_info at +0x1C0, startup_64 at +0x200]

The header fields that depend on sizes (setup_sects, syssize, init_size) are
patched in here; everything else is written in setup.S.
"""
import argparse
import os
import shlex
import struct
import subprocess
import sys

CFLAGS = [
    '-std=c17', '-O2', '-g0',
    '-ffreestanding', '-fno-builtin-printf',
    # what the PVM hypervisor's instruction emulator can run (notes/platform.md)
    '-mno-sse', '-mno-mmx', '-mno-avx', '-mgeneral-regs-only', '-mno-red-zone',
    # position independent, no GOT: see probe.ld
    '-fpie', '-fvisibility=hidden',
    '-fno-stack-protector', '-fcf-protection=none', '-fno-asynchronous-unwind-tables',
    '-fno-unwind-tables', '-fno-exceptions', '-fno-common',
    '-Wall', '-Wextra', '-Werror', '-Wno-unused-parameter',
]
LDFLAGS_PM = ['-nostdlib', '-static-pie', '-Wl,--no-dynamic-linker', '-Wl,--build-id=none',
              '-Wl,-z,noexecstack', '-Wl,-z,norelro', '-Wl,--hash-style=sysv', '-Wl,--no-warn-rwx-segments']
LDFLAGS_SETUP = ['-nostdlib', '-static', '-Wl,--build-id=none', '-Wl,-z,noexecstack',
                 '-Wl,--no-warn-rwx-segments']

SECTOR = 512
SETUP_SECTS_MIN = 4           # as Linux's tools/build: some loaders assume at least 4
OFF_SETUP_SECTS = 0x1F1
OFF_SYSSIZE = 0x1F4
OFF_HDRS = 0x202
OFF_INIT_SIZE = 0x260
PM_KERNEL_INFO = 0x1C0
PM_INIT_SIZE = 0x1F8


def run(cmd):
    r = subprocess.run(cmd)
    if r.returncode:
        sys.exit('mkprobe: failed: ' + ' '.join(shlex.quote(c) for c in cmd))


def ld_supports(cc, flag):
    r = subprocess.run(cc + ['-nostdlib', '-Wl,' + flag, '-x', 'c', '-', '-o', os.devnull, '-Wl,-e,0'],
                       input=b'', stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return r.returncode == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--cc', required=True, help='C compiler command (may have several words)')
    ap.add_argument('--objcopy', required=True)
    ap.add_argument('--outdir', required=True, help='directory for objects and intermediates')
    ap.add_argument('--out', required=True, help='the bzImage to write')
    ap.add_argument('sources', nargs='+')
    a = ap.parse_args()

    cc = shlex.split(a.cc)
    srcdir = os.path.dirname(os.path.abspath(__file__))
    work = os.path.join(a.outdir, 'probe-objs')
    os.makedirs(work, exist_ok=True)

    ldflags_pm = [f for f in LDFLAGS_PM if f != '-Wl,--no-warn-rwx-segments' or ld_supports(cc, f[4:])]
    ldflags_setup = [f for f in LDFLAGS_SETUP if f != '-Wl,--no-warn-rwx-segments' or ld_supports(cc, f[4:])]

    pm_objs, setup_objs = [], []
    for src in a.sources:
        if not (src.endswith('.c') or src.endswith('.S')):
            continue
        obj = os.path.join(work, os.path.basename(src) + '.o')
        run(cc + CFLAGS + ['-I', srcdir, '-c', src, '-o', obj])
        (setup_objs if os.path.basename(src) == 'setup.S' else pm_objs).append(obj)

    pm_elf = os.path.join(work, 'probe.elf')
    setup_elf = os.path.join(work, 'setup.elf')
    run(cc + ldflags_pm + ['-Wl,-T,' + os.path.join(srcdir, 'probe.ld'), '-o', pm_elf] + pm_objs)
    run(cc + ldflags_setup + ['-Wl,-T,' + os.path.join(srcdir, 'setup.ld'), '-o', setup_elf] + setup_objs)

    pm_bin = os.path.join(work, 'probe.bin')
    setup_bin = os.path.join(work, 'setup.bin')
    run([a.objcopy, '-O', 'binary', pm_elf, pm_bin])
    run([a.objcopy, '-O', 'binary', setup_elf, setup_bin])
    with open(pm_bin, 'rb') as f:
        pm = f.read()
    with open(setup_bin, 'rb') as f:
        setup = bytearray(f.read())

    if pm[PM_KERNEL_INFO:PM_KERNEL_INFO + 4] != b'LToP' or pm[PM_INIT_SIZE + 4:PM_INIT_SIZE + 8] != b'PRBE':
        sys.exit('mkprobe: protected-mode image lacks kernel_info/init_size markers (head.S layout)')
    if setup[OFF_HDRS:OFF_HDRS + 4] != b'HdrS':
        sys.exit('mkprobe: setup lacks the HdrS header')
    init_size = struct.unpack_from('<I', pm, PM_INIT_SIZE)[0] + PM_INIT_SIZE
    if init_size < len(pm):
        sys.exit('mkprobe: init_size 0x%x smaller than the image 0x%x' % (init_size, len(pm)))

    sects = max((len(setup) + SECTOR - 1) // SECTOR, SETUP_SECTS_MIN + 1)
    setup += b'\0' * (sects * SECTOR - len(setup))
    pm = pm + b'\0' * (-len(pm) % 16)
    setup[OFF_SETUP_SECTS] = sects - 1
    struct.pack_into('<I', setup, OFF_SYSSIZE, len(pm) // 16)
    struct.pack_into('<I', setup, OFF_INIT_SIZE, init_size)

    tmp = a.out + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(setup)
        f.write(pm)
    os.replace(tmp, a.out)


if __name__ == '__main__':
    main()
