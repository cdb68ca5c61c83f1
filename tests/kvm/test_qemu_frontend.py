# SPDX-License-Identifier: MIT
"""The QEMU-style front end: nitrovm -M nitro-enclave -kernel (EIF | bzImage) ..."""
import os
import zlib

from conftest import run
from guests import mini_bzimage, write_eif, empty_cpio


def test_eif_with_append(nitrovm, probe, tmp_path):
    eif = write_eif(str(tmp_path / "p.eif"), open(probe, "rb").read(), cmdline="console=ttyS0",
                    ramdisks=[empty_cpio()])
    r = run([nitrovm, "-M", "nitro-enclave,rng=on", "-kernel", eif, "-m", "64M", "-smp", "2", "-nographic",
             "-append", "probe.virtio=0xd0002000:7 probe.cpus=2"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'probe: cmdline: info "console=ttyS0 probe.virtio=0xd0002000:7 probe.cpus=2"' in r.stdout
    assert "probe: result PASS" in r.stdout
    assert not r.stdout.lstrip().startswith("{")  # no run-enclave JSON in QEMU mode


def test_bzimage_with_initrd(nitrovm, probe, tmp_path):
    initrd = tmp_path / "initrd.bin"
    data = bytes(range(256)) * 40
    initrd.write_bytes(data)
    crc = zlib.crc32(data)
    r = run([nitrovm, "-M", "nitro-enclave,rng=on", "-kernel", probe, "-initrd", str(initrd), "-m", "128M",
             "-smp", "1", "-append",
             f"console=ttyS0 probe.virtio=0xd0002000:7 probe.initrd_crc={crc:#x} probe.initrd_size={len(data)}"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"probe: initrd: ok {len(data)} bytes" in r.stdout
    assert "probe: result PASS" in r.stdout


def test_acpi_off(nitrovm, probe):
    r = run([nitrovm, "-M", "nitro-enclave,acpi=off,rng=on", "-kernel", probe, "-smp", "2", "-append",
             "console=ttyS0 probe.acpi=0 probe.virtio=0xd0002000:7"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6" in r.stdout
    assert "probe: acpi: skip" in r.stdout and "probe: mptable: ok" in r.stdout
    assert "probe: result PASS" in r.stdout


def test_exit_status_and_console(nitrovm, tmp_path):
    k = tmp_path / "mini.bzImage"
    k.write_bytes(mini_bzimage("exit", message="qemu front end\n", code=3))
    r = run([nitrovm, "-M", "nitro-enclave", "-kernel", str(k), "-nographic"])
    assert r.returncode == 3
    assert r.stdout == "qemu front end\n"


def test_source_document_001_line_runs_as_written(nitrovm, probe_eif):
    """The line of QEMU's nitro-enclave.rst (first version) with nitrovm's name: -M nitro-enclave,guest-cid=8 -enable-kvm -cpu host -m 512m
    -kernel hello.eif -nographic.  The guest reads CID 8 from its vsock device and answers through it."""
    eif = probe_eif("hello", "probe.vsock=1")
    r = run([nitrovm, "-M", "nitro-enclave,guest-cid=8", "-enable-kvm", "-cpu", "host", "-m", "512m", "-kernel", eif,
             "-nographic"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "device ready, guest CID 8," in r.stdout, r.stdout
    assert "(CID 8)" in r.stdout, r.stdout  # the heartbeat, answered by nitrovm as the parent
    assert "probe: result PASS" in r.stdout, r.stdout


def initrd_eif(path, probe, cmdline, ramdisks):
    joined = b""
    for rd in ramdisks:
        joined += b"\0" * (-len(joined) % 4) + rd  # as the kernel's unpacker takes them: 4-byte aligned, zeros between
    return write_eif(path, open(probe, "rb").read(), cmdline=cmdline, ramdisks=ramdisks), joined


def test_initrd_left_in_place_whatever_its_alignment(nitrovm, probe, tmp_path):
    """Two ramdisks, the first of an odd size: with four command lines of lengths 13 to 16 the last ramdisk starts
    at each of the four byte alignments in the file, and every time the initrd the probe sees is the two joined
    (size and CRC-32, after the zeros up to the page boundary below, which Linux skips too) and nitrovm left the
    last one where the image put it."""
    rd = [bytes(range(251)) * 17, os.urandom(3 << 20)]
    for pad in range(4):
        eif, joined = initrd_eif(str(tmp_path / f"p{pad}.eif"), probe, "console=ttyS0" + " " * pad, rd)
        r = run([nitrovm, "-M", "nitro-enclave", "-kernel", eif, "-m", "64M", "-nographic", "-append",
                 f"probe.initrd_crc={zlib.crc32(joined):#x} probe.initrd_size={len(joined)}"],
                env={"NITROVM_TRACE_BOOT": "1"})
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"probe: initrd: ok {len(joined)} bytes" in r.stdout, r.stdout
        assert "probe: result PASS" in r.stdout, r.stdout
        assert "trace-boot: initrd left in place at" in r.stderr, r.stderr

