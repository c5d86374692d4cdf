"""A tiny root filesystem from Debian's busybox-static, and deterministic tarballs of one.

``make_busybox_rootfs(dest)`` lays out ``bin/busybox`` with one symlink per applet, a minimal
``etc/passwd`` and ``etc/group`` (root and nobody), ``tmp`` (1777) and ``root`` (0700): enough
for ``docker run IMG echo ok`` or ``sh -c …`` once imported.

``make_rootfs_tarball(dir, out, compression)`` writes it as ``tar -C dir .`` would (entries
``./``, ``./bin``, ``./bin/busybox`` …), but reproducibly: sorted entries, fixed mtime, owner
0:0 (root/root), and compressed without timestamps or file names in the stream.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import shutil
import stat
import struct
import subprocess
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Literal, cast

BUSYBOX = "/bin/busybox"

Compression = Literal["none", "gzip", "bzip2", "xz", "zstd"]
COMPRESSIONS: tuple[Compression, ...] = ("none", "gzip", "bzip2", "xz", "zstd")
SUFFIXES: dict[Compression, str] = {
    "none": ".tar",
    "gzip": ".tar.gz",
    "bzip2": ".tar.bz2",
    "xz": ".tar.xz",
    "zstd": ".tar.zst",
}

PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = "root:x:0:\nnobody:x:65534:\n"


def is_static_elf(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is an ELF executable without a program interpreter (statically linked).

    Debian's dynamic ``busybox`` package also installs /bin/busybox; only busybox-static's
    runs in a root filesystem that has no libc.
    """
    with open(path, "rb") as f:
        header = f.read(64)
        if len(header) < 64 or header[:4] != b"\x7fELF":
            return False
        is64 = header[4] == 2
        endian = "<" if header[5] == 1 else ">"
        if is64:
            phoff, phentsize, phnum = (
                struct.unpack_from(endian + "Q", header, 0x20)[0],
                struct.unpack_from(endian + "H", header, 0x36)[0],
                struct.unpack_from(endian + "H", header, 0x38)[0],
            )
        else:
            phoff, phentsize, phnum = (
                struct.unpack_from(endian + "I", header, 0x1C)[0],
                struct.unpack_from(endian + "H", header, 0x2A)[0],
                struct.unpack_from(endian + "H", header, 0x2C)[0],
            )
        for index in range(phnum):
            f.seek(phoff + index * phentsize)
            (p_type,) = struct.unpack(endian + "I", f.read(4))
            if p_type == 3:  # PT_INTERP
                return False
    return True


def busybox_applets(busybox: str = BUSYBOX) -> list[str]:
    """The applet names `busybox --list` prints (without busybox itself)."""
    out = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout
    names = {line.strip() for line in out.splitlines()}
    return sorted(n for n in names if n and n != "busybox" and "/" not in n)


def make_busybox_rootfs(dest_dir: str | os.PathLike[str], busybox: str = BUSYBOX) -> Path:
    """Build the busybox root filesystem in `dest_dir` (created; must be empty) and return it.

    Raises FileNotFoundError if busybox is missing and ValueError if it is not static.
    """
    if not os.path.exists(busybox):
        raise FileNotFoundError(f"{busybox} not found (apt-get install busybox-static)")
    if not is_static_elf(busybox):
        raise ValueError(f"{busybox} is dynamically linked (apt-get install busybox-static)")
    root = Path(dest_dir)
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty")
    root.chmod(0o755)
    for name, mode in (("bin", 0o755), ("etc", 0o755), ("root", 0o700), ("tmp", 0o1777)):
        (root / name).mkdir()
        (root / name).chmod(mode)  # chmod: mkdir's mode is filtered by the umask
    shutil.copyfile(busybox, root / "bin" / "busybox")
    (root / "bin" / "busybox").chmod(0o755)
    for applet in busybox_applets(busybox):
        (root / "bin" / applet).symlink_to("busybox")
    (root / "etc" / "passwd").write_text(PASSWD)
    (root / "etc" / "group").write_text(GROUP)
    for name in ("passwd", "group"):
        (root / "etc" / name).chmod(0o644)
    return root


def _walk_sorted(root: Path, arcname: str = ".") -> Iterator[tuple[Path, str]]:
    """(path, archive name) for `root` and everything under it, in the order of
    ``tar --sort=name -C root .``: each directory, then its entries sorted bytewise, each
    subdirectory's tree right after its own entry. Symlinks are not followed."""
    yield root, arcname
    if root.is_dir() and not root.is_symlink():
        for name in sorted(os.listdir(root), key=os.fsencode):
            yield from _walk_sorted(root / name, f"{arcname}/{name}")


@contextmanager
def _compressed_writer(out_path: Path, compression: Compression) -> Iterator[IO[bytes]]:
    if compression == "none":
        with open(out_path, "wb") as raw:
            yield raw
    elif compression == "gzip":
        with (
            open(out_path, "wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
        ):
            yield cast(IO[bytes], gz)
    elif compression == "bzip2":
        with bz2.open(out_path, "wb") as bz:
            yield bz
    elif compression == "xz":
        with lzma.open(out_path, "wb", format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64) as xz:
            yield xz
    elif compression == "zstd":
        try:
            import zstandard
        except ImportError:  # fall back on Debian's zstd command
            tmp = out_path.with_name(out_path.name + ".tmp-tar")
            with open(tmp, "wb") as raw:
                yield raw
            subprocess.run(["zstd", "-q", "-f", "--rm", str(tmp), "-o", str(out_path)], check=True)
        else:
            with (
                open(out_path, "wb") as raw,
                zstandard.ZstdCompressor(
                    level=3, write_checksum=True, write_content_size=False
                ).stream_writer(raw, closefd=False) as zst,
            ):
                yield zst
    else:
        raise ValueError(f"unknown compression {compression!r}; one of {COMPRESSIONS}")


def make_rootfs_tarball(
    rootfs_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    compression: Compression = "gzip",
    *,
    mtime: int = 0,
) -> Path:
    """Write `rootfs_dir` as a deterministic tarball at `out_path` and return that path.

    Same tree in, same bytes out: entries in sorted order, every mtime `mtime`, owner 0:0
    (root/root), GNU format; hard links inside the tree are kept as hard links.
    """
    if compression not in COMPRESSIONS:
        raise ValueError(f"unknown compression {compression!r}; one of {COMPRESSIONS}")
    root = Path(rootfs_dir)
    out = Path(out_path)
    with (
        _compressed_writer(out, compression) as stream,
        tarfile.open(fileobj=stream, mode="w|", format=tarfile.GNU_FORMAT) as tar,
    ):
        for path, arcname in _walk_sorted(root):
            info = tar.gettarinfo(str(path), arcname=arcname)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = mtime
            info.mode = stat.S_IMODE(os.lstat(path).st_mode)
            if info.isreg():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    return out
