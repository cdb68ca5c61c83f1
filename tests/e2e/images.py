"""Test images of the e2e tier: the static hello /init and EIFs of Debian's kernels around it, and the pieces
of a `build-enclave --rootfs` image (the kernel's modules, a busybox root filesystem)."""

import os
import shutil
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
HELLO_SOURCE = os.path.join(HERE, "hello_init.c")
BUSYBOX = os.environ.get("NITROVM_BUSYBOX", "/bin/busybox")

# Like the command line nitro-cli's blobs carry (reboot=k: the i8042 reset ends the enclave), without the
# options a 6.12 kernel does not know ("nomodules"). No "quiet": the tests look for the kernel banner.
CMDLINE = "console=ttyS0 reboot=k panic=30 pci=off random.trust_cpu=on"


def build_hello_init(ramdisk_dir):
    """Compile hello_init.c statically as ramdisk_dir/init; return ramdisk_dir."""
    os.makedirs(ramdisk_dir, exist_ok=True)
    out = os.path.join(ramdisk_dir, "init")
    proc = subprocess.run(["gcc", "-static", "-O2", "-Wall", "-Wextra", "-o", out, HELLO_SOURCE],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"cannot compile {HELLO_SOURCE} statically (is libc6-dev there?):\n{proc.stdout}")
    return ramdisk_dir


def build_enclave(nitrovm, *args):
    """Run nitrovm build-enclave with args, reproducibly (SOURCE_DATE_EPOCH)."""
    env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000")
    proc = subprocess.run([nitrovm, "build-enclave", *map(str, args)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"nitrovm build-enclave {' '.join(map(str, args))} failed ({proc.returncode}):\n"
                           f"{proc.stdout}")


def build_eif(nitrovm, kernel, ramdisk_dir, output, cmdline=CMDLINE, name="hello"):
    """Pack kernel + the ramdisk directory into an EIF with nitrovm build-enclave; return output."""
    build_enclave(nitrovm, "--kernel", kernel, "--cmdline", cmdline, "--ramdisk-dir", ramdisk_dir, "--name", name,
                  "--output-file", output)
    return output


def kernel_modules(kernel, out):
    """Gather the modules an enclave image needs from kernel's Debian package into out (scripts/kernel-modules);
    return out."""
    package = os.path.dirname(os.path.dirname(kernel))  # …/cloud/boot/vmlinuz → …/cloud
    proc = subprocess.run([os.path.join(REPO, "scripts", "kernel-modules"), package, str(out)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"scripts/kernel-modules failed:\n{proc.stderr}")
    return out


def build_vsock_echo(out):
    """Compile tests/e2e/vsock_echo.c statically to out (the enclave's and the hosts' test tool); return out."""
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vsock_echo.c")
    p = subprocess.run(["gcc", "-static", "-O2", "-Wall", "-Wextra", "-o", str(out), src],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"cannot build vsock_echo.c statically:\n{p.stderr}")
    return out


def busybox_rootfs(root, tools):
    """A root filesystem of the static busybox alone: root/bin/busybox and a link to it per tool; return root."""
    os.makedirs(os.path.join(root, "bin"))
    shutil.copy(BUSYBOX, os.path.join(root, "bin", "busybox"))
    for tool in tools:
        os.symlink("busybox", os.path.join(root, "bin", tool))
    return root
