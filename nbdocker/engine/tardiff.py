"""Layer tars to overlay directories and back (stdlib only, so it also runs in a sandbox helper).

An *overlay directory* is one layer unpacked the way overlayfs wants a lower or upper dir: a
deleted path is a 0:0 character device (a whiteout) and a directory that hides everything below
it carries the ``<ns>.overlay.opaque = y`` xattr (``trusted.`` as root, ``user.`` in a user
namespace). A *layer tar* says the same with OCI whiteout entries (``.wh.<name>`` and
``.wh..wh..opq``).

:func:`unpack` turns a layer tar into an overlay directory; :func:`write_diff` turns an overlay
upper dir (a container's changes) into a layer tar. Paths from a tar are untrusted: every entry is
placed under the destination without following symlinks, and a name that climbs out is refused.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .tarstream import TarReader, TarWriter

__all__ = [
    "OPAQUE_XATTRS",
    "WHITEOUT_OPAQUE",
    "WHITEOUT_PREFIX",
    "UnsafeLayer",
    "clean_name",
    "parent_dir",
    "unpack",
    "write_diff",
]

WHITEOUT_PREFIX = ".wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")
_XATTR_PAX = "SCHILY.xattr."
_CHUNK = 1 << 20


class UnsafeLayer(ValueError):
    """A layer entry that would be written outside its directory or through a symlink."""


def clean_name(name: str, within: str = "the layer") -> str:
    """A tar member's name as a clean relative path (``""`` for the root itself); UnsafeLayer
    for a name that climbs out of ``within``."""
    norm = posixpath.normpath(name.lstrip("/")) if name.strip("/") else "."
    if norm == ".." or norm.startswith("../"):
        raise UnsafeLayer(f"entry {name!r} points outside {within}")
    return "" if norm == "." else norm


def parent_dir(dest: Path, rel: str) -> Path:
    """The real directory that will hold ``rel``: parents are created, never followed if links."""
    current = dest
    for part in rel.split("/")[:-1]:
        current = current / part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            os.mkdir(current, 0o755)
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafeLayer(f"entry {rel!r} goes through {part!r}, which is not a directory")
    return current


def _remove(path: Path) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        for child in os.listdir(path):
            _remove(path / child)
        os.rmdir(path)
    else:
        os.unlink(path)


def unpack(
    stream: IO[bytes],
    dest: Path,
    *,
    opaque_xattr: str = "trusted.overlay.opaque",
    same_owner: bool | None = None,
) -> int:
    """Unpack a (plain) layer tar into the empty directory ``dest`` in overlay form; return
    the size of its files.

    ``same_owner`` (default: when running as root) sets owners from the tar. Raises
    :class:`UnsafeLayer` or :class:`tarfile.TarError`; the caller removes ``dest`` on error.
    """
    owner = os.geteuid() == 0 if same_owner is None else same_owner
    dir_times: list[tuple[Path, float]] = []
    content = 0
    for member, data in TarReader(stream):
        rel = clean_name(member.name)
        if not rel:
            continue
        base = posixpath.basename(rel)
        parent = parent_dir(dest, rel)
        if base == WHITEOUT_OPAQUE:
            os.setxattr(parent, opaque_xattr, b"y")
            continue
        if base.startswith(WHITEOUT_PREFIX):
            target = parent / base[len(WHITEOUT_PREFIX) :]
            _remove(target)
            os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0))
            continue
        path = parent / base
        existing = None
        with contextlib.suppress(FileNotFoundError):
            existing = os.lstat(path)
        if existing is not None and not (member.isdir() and stat.S_ISDIR(existing.st_mode)):
            _remove(path)
        mode = member.mode & 0o7777
        if member.isdir():
            if existing is None or not stat.S_ISDIR(existing.st_mode):
                os.mkdir(path, 0o700)
        elif member.isreg():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                for chunk in data.chunks():
                    out.write(chunk)
            content += member.size
        elif member.issym():
            os.symlink(member.linkname, path)
        elif member.islnk():
            target_rel = clean_name(member.linkname)
            target = parent_dir(dest, target_rel) / posixpath.basename(target_rel)
            os.link(target, path, follow_symlinks=False)
            continue  # a hard link shares its target's metadata
        elif member.ischr() or member.isblk():
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(path, kind | mode, os.makedev(member.devmajor, member.devminor))
        elif member.isfifo():
            os.mkfifo(path, mode)
        else:
            continue
        if owner:
            os.lchown(path, member.uid, member.gid)
        set_xattrs(path, member)
        if not member.issym():
            os.chmod(path, mode)
            if member.isdir():
                dir_times.append((path, member.mtime))
            else:
                os.utime(path, (member.mtime, member.mtime))
        else:
            with contextlib.suppress(OSError):
                os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)
    for path, mtime in reversed(dir_times):
        os.utime(path, (mtime, mtime))
    return content


def set_xattrs(path: Path, member: tarfile.TarInfo) -> None:
    """Apply the extended attributes a tar member carries (PAX ``SCHILY.xattr.*``); those the
    file system refuses are left out, as Docker leaves them."""
    for key, value in member.pax_headers.items():
        if key.startswith(_XATTR_PAX):
            with contextlib.suppress(OSError):
                os.setxattr(
                    path,
                    key[len(_XATTR_PAX) :],
                    value.encode("utf-8", "surrogateescape"),
                    follow_symlinks=False,
                )


def _walk(root: Path, rel: str = "") -> Iterator[tuple[str, os.stat_result]]:
    """Entries of ``root`` depth-first in name order, parents before children."""
    for name in sorted(os.listdir(root / rel) if rel else os.listdir(root)):
        child = f"{rel}/{name}" if rel else name
        st = os.lstat(root / child)
        yield child, st
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(root, child)


def xattr_records(path: Path | str) -> dict[str, str]:
    """The extended attributes of ``path`` as PAX records (``SCHILY.xattr.NAME``), without
    overlayfs' own."""
    out: dict[str, str] = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return out
    for name in names:
        if ".overlay." in name:
            continue  # overlayfs' own bookkeeping, never part of an image
        with contextlib.suppress(OSError):
            value = os.getxattr(path, name, follow_symlinks=False)
            out[_XATTR_PAX + name] = value.decode("utf-8", "surrogateescape")
    return out


def _is_opaque(path: Path) -> bool:
    for name in OPAQUE_XATTRS:
        with contextlib.suppress(OSError):
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
    return False


def write_diff(
    upper: Path,
    out: Any,
    *,
    uid_map: Any = None,
    skip: frozenset[str] = frozenset(),
    source_date_epoch: int | None = None,
) -> int:
    """Write overlay dir ``upper`` to ``out`` as a layer tar with OCI whiteouts; return the
    size of the files written (what ``images`` counts).

    ``skip`` holds relative paths left out (with what is below them). ``uid_map`` maps host ids
    back to container ids (a callable), when the upper dir was written in a user namespace.
    ``source_date_epoch`` clamps every mtime to it, for reproducible layers.
    """
    seen_inodes: dict[tuple[int, int], str] = {}
    content = 0
    tar = TarWriter(out)
    for rel, st in _walk(upper):
        if any(rel == s or rel.startswith(s + "/") for s in skip):
            continue
        path = upper / rel
        mtime = st.st_mtime
        if source_date_epoch is not None:
            mtime = min(mtime, source_date_epoch)
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            parent, name = posixpath.split(rel)
            info = tarfile.TarInfo(posixpath.join(parent, WHITEOUT_PREFIX + name))
            info.mtime = int(mtime)
            tar.add(info)
            continue
        info = tarfile.TarInfo(rel)
        info.mode = stat.S_IMODE(st.st_mode)
        uid, gid = (st.st_uid, st.st_gid) if uid_map is None else uid_map(st.st_uid, st.st_gid)
        info.uid, info.gid = uid, gid
        info.mtime = int(mtime)
        info.pax_headers = xattr_records(path)
        key = (st.st_dev, st.st_ino)
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1 and key in seen_inodes:
            info.type = tarfile.LNKTYPE
            info.linkname = seen_inodes[key]
            tar.add(info)
            continue
        if stat.S_ISDIR(st.st_mode):
            info.type = tarfile.DIRTYPE
            tar.add(info)
            if _is_opaque(path):
                opq = tarfile.TarInfo(posixpath.join(rel, WHITEOUT_OPAQUE))
                opq.mtime = int(mtime)
                tar.add(opq)
        elif stat.S_ISREG(st.st_mode):
            seen_inodes[key] = rel
            info.size = st.st_size
            content += st.st_size
            with open(path, "rb") as f:
                tar.add(info, f)
        elif stat.S_ISLNK(st.st_mode):
            info.type = tarfile.SYMTYPE
            info.linkname = os.readlink(path)
            tar.add(info)
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            info.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            tar.add(info)
        elif stat.S_ISFIFO(st.st_mode):
            info.type = tarfile.FIFOTYPE
            tar.add(info)
    tar.close()
    return content


def main(argv: list[str]) -> int:
    """``unpack DEST OPAQUE_XATTR`` (layer tar on stdin), ``diff UPPER [EPOCH]`` (tar to stdout) or
    ``remove PATH…``.

    Run by :mod:`.userns` inside a user namespace; errors go to stderr as one line."""
    import sys

    try:
        if argv[0] == "unpack":
            unpack(sys.stdin.buffer, Path(argv[1]), opaque_xattr=argv[2], same_owner=True)
        elif argv[0] == "diff":
            epoch = int(argv[2]) if len(argv) > 2 else None
            size = write_diff(Path(argv[1]), sys.stdout.buffer, source_date_epoch=epoch)
            sys.stdout.flush()
            sys.stderr.write(f"content-size {size}\n")
        elif argv[0] == "remove":
            for path in argv[1:]:
                _remove(Path(path))
        else:
            raise SystemExit(f"unknown command {argv[0]!r}")
    except (UnsafeLayer, tarfile.TarError, OSError) as exc:
        sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
        return 1
    return 0
