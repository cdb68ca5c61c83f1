"""Linux kernel modules from an unpacked Debian kernel package: find them, decompress them, and order them with
their dependencies first (each module's own .modinfo "depends="; the package has no modules.dep, depmod runs at
install).  Used by scripts/kernel-modules (modules for an enclave image) and nested.py (the outer guest's)."""
import gzip
import lzma
import os
import struct
import subprocess

SUFFIXES = (".ko.xz", ".ko.zst", ".ko.gz", ".ko")


class Error(Exception):
    pass


def norm(name):
    """Module names treat '-' and '_' alike; the kernel reports them with '_'."""
    return name.replace("-", "_")


def module_dir(kernel):
    """The lib/modules/<version> directory of an unpacked package, or kernel itself when it is one."""
    if os.path.isdir(os.path.join(kernel, "kernel")):
        return kernel
    base = os.path.join(kernel, "lib", "modules")
    versions = sorted(os.listdir(base)) if os.path.isdir(base) else []
    if len(versions) != 1:
        raise Error(f"{kernel} is not an unpacked kernel package with one lib/modules/<version> directory "
                    f"(found: {', '.join(versions) or 'none'})")
    return os.path.join(base, versions[0])


def index_modules(moddir):
    """{module name: path} of every module file under moddir/kernel."""
    index = {}
    for root, _, files in os.walk(os.path.join(moddir, "kernel")):
        for f in files:
            for suffix in SUFFIXES:
                if f.endswith(suffix):
                    index[norm(f[:-len(suffix)])] = os.path.join(root, f)
                    break
    return index


def builtin_modules(moddir):
    try:
        with open(os.path.join(moddir, "modules.builtin")) as f:
            return {norm(os.path.basename(line.strip()).split(".ko")[0]) for line in f if line.strip()}
    except FileNotFoundError:
        return set()


def read_module(path):
    """The uncompressed ELF bytes of a module file."""
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".xz"):
        return lzma.decompress(data)
    if path.endswith(".gz"):
        return gzip.decompress(data)
    if path.endswith(".zst"):
        try:
            return subprocess.run(["zstd", "-dc", path], stdout=subprocess.PIPE, check=True).stdout
        except (OSError, subprocess.CalledProcessError) as e:
            raise Error(f"cannot decompress {path} (is zstd installed?): {e}")
    return data


def modinfo_depends(elf, path):
    """The module names in the .modinfo "depends=" entry of an ELF64 little-endian module."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        raise Error(f"{path} is not an ELF64 little-endian kernel module")
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)

    def section(i):
        name, _, _, _, off, size = struct.unpack_from("<IIQQQQ", elf, shoff + i * shentsize)
        return name, off, size

    _, stroff, _ = section(shstrndx)
    for i in range(shnum):
        name, off, size = section(i)
        end = elf.index(b"\0", stroff + name)
        if elf[stroff + name:end] == b".modinfo":
            for item in elf[off:off + size].split(b"\0"):
                if item.startswith(b"depends="):
                    return [norm(d) for d in item[len(b"depends="):].decode().split(",") if d]
            return []
    return []


def resolve(moddir, wanted, missing_ok=False):
    """[(name, path, uncompressed bytes)], every module after the ones it depends on.  Modules built into the
    kernel are left out; one the kernel has neither way is an error, or left out too with missing_ok."""
    index, builtin = index_modules(moddir), builtin_modules(moddir)
    order, done = [], set()

    def visit(name, chain):
        if name in done or name in builtin:
            return
        if name in chain:
            raise Error("module dependency cycle: " + " -> ".join(chain + [name]))
        if name not in index:
            if missing_ok:
                return
            raise Error(f"{moddir} has no module {name}, and the kernel does not build it in")
        data = read_module(index[name])
        for dep in modinfo_depends(data, index[name]):
            visit(dep, chain + [name])
        done.add(name)
        order.append((name, index[name], data))

    for name in wanted:
        visit(norm(name), [])
    return order
