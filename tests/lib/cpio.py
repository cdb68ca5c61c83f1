"""A newc cpio writer for tests and the nested tier's initramfs: what the kernel unpacks as an initramfs, written
independently of nitrovm's own (src/eif/cpio.c), so each can check the other; and a reader of the ramdisks
nitrovm packs (the image tests')."""
import io


class Writer:
    """Entries in the order they are added, inode numbers from 1, owner root, mtime 0."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.ino = 1

    def _entry(self, name, mode, data=b"", nlink=1):
        name_b = name.encode() + b"\0"
        hdr = "070701" + "".join(
            f"{v:08X}" for v in (self.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(name_b), 0))
        self.ino += 1
        self.buf.write(hdr.encode() + name_b)
        self.buf.write(b"\0" * (-(110 + len(name_b)) % 4))
        self.buf.write(data)
        self.buf.write(b"\0" * (-len(data) % 4))

    def dir(self, name):
        self._entry(name, 0o040755, nlink=2)

    def file(self, name, data, mode=0o644):
        self._entry(name, 0o100000 | mode, data)

    def symlink(self, name, target):
        self._entry(name, 0o120777, target.encode())

    def finish(self, pad=512):
        """The archive: the entries, the trailer, and zeros up to a multiple of pad bytes."""
        self._entry("TRAILER!!!", 0)
        self.buf.write(b"\0" * (-self.buf.tell() % pad))
        return self.buf.getvalue()


def read(data):
    """{name: entry} of a newc archive; entry has ino, mode, uid, gid, nlink, mtime, rdev and data."""
    entries, off = {}, 0
    while True:
        if data[off:off + 6] != b"070701":
            raise ValueError(f"no newc header at {off}")
        f = [int(data[off + 6 + 8 * i:off + 14 + 8 * i], 16) for i in range(13)]
        namesize = f[11]
        name = data[off + 110:off + 110 + namesize - 1].decode("utf-8", "surrogateescape")
        off = (off + 110 + namesize + 3) & ~3
        body = data[off:off + f[6]]
        off = (off + f[6] + 3) & ~3
        if name == "TRAILER!!!":
            if off != len(data):
                raise ValueError("data after the trailer")
            return entries
        entries[name] = {"ino": f[0], "mode": f[1], "uid": f[2], "gid": f[3], "nlink": f[4], "mtime": f[5],
                         "rdev": (f[9], f[10]), "data": body}
