"""Test images of the e2e tier: the static hello /init and EIFs of Debian's kernels around it."""

import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
HELLO_SOURCE = os.path.join(HERE, "hello_init.c")

# Like the command line nitro-cli's blobs carry (reboot=k: the i8042 reset ends the enclave), without the
# options a 6.12 kernel does not know ("nomodules"). No "quiet": the tests look for the kernel banner.
HELLO_CMDLINE = "console=ttyS0 reboot=k panic=30 pci=off random.trust_cpu=on"


def build_hello_init(ramdisk_dir):
    """Compile hello_init.c statically as ramdisk_dir/init; return ramdisk_dir."""
    os.makedirs(ramdisk_dir, exist_ok=True)
    out = os.path.join(ramdisk_dir, "init")
    proc = subprocess.run(["gcc", "-static", "-O2", "-Wall", "-Wextra", "-o", out, HELLO_SOURCE],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"cannot compile {HELLO_SOURCE} statically (is libc6-dev there?):\n{proc.stdout}")
    return ramdisk_dir


def build_eif(nitrovm, kernel, ramdisk_dir, output, cmdline=HELLO_CMDLINE, name="hello"):
    """Pack kernel + the ramdisk directory into an EIF with nitrovm build-enclave; return output."""
    env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000")
    proc = subprocess.run([nitrovm, "build-enclave", "--kernel", kernel, "--cmdline", cmdline,
                           "--ramdisk-dir", ramdisk_dir, "--name", name, "--output-file", output],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"nitrovm build-enclave failed ({proc.returncode}):\n{proc.stdout}")
    return output
