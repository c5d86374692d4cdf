"""File metadata a process may not set, kept in extended attributes (chroot and ptrace levels).

Where nbdocker cannot mount or enter a user namespace, it still has to unpack layers with their
owners, device nodes, whiteouts and opaque directories, and read a step's changes back with
them. What the kernel refuses is recorded beside the file instead, in ``user.*`` extended
attributes that travel with the inode through renames and copies:

- ``user.rootlesscontainers``: the owner, in the interoperable format of rootlesscontainers.io
  (a protobuf ``{uid, gid}``; umoci reads and writes it too). Absent means "the owner on disk",
  where the caller's own ids stand for container root: as uid 1000 a file on disk owned by 1000
  is root's in the image. Symlinks, FIFOs and sockets cannot carry ``user.*`` attributes; their
  owner goes on the parent directory as ``user.nbdocker.own.<name>``.
- ``user.nbdocker.mode``: ``"<st_mode> <rdev> <mode on disk>"`` (octal, decimal, octal) for an
  entry whose type or permissions the disk does not hold: a device node or whiteout (0:0
  character device) is an empty regular file there; an unprivileged caller keeps files
  readable and writable and directories enterable by their owner (as fakeroot does), so that
  it can still copy, change and remove them. A later native ``chmod`` (the disk mode no longer
  matches the recorded one) wins over the record.
- ``user.nbdocker.x.<name>``: a ``trusted.*`` or ``security.*`` attribute the kernel refused.

:func:`install` makes a *helper process* see that emulation through ``os`` itself (``lstat``,
``chown``, ``mknod``, ``setxattr`` …), the way fakeroot's preloaded library does for a C
program: the layer code (unpack, views, diff) then runs unchanged. It is meant for the
single-purpose helper interpreters the engine starts, never for the caller's process. The
engine itself reads such layers with :func:`recorded_whiteout` (in :mod:`.overlay`) only.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

OWNER_XATTR = "user.rootlesscontainers"
MODE_XATTR = "user.nbdocker.mode"
XATTR_PREFIX = "user.nbdocker.x."
OWN_PREFIX = "user.nbdocker.own."
_INTERNAL = (OWNER_XATTR, "user.nbdocker.")
_MAX_XATTR_NAME = 255
_NO_ATTR = (errno.ENODATA, errno.ENOTSUP, errno.EPERM)

_real: dict[str, Callable[..., Any]] = {}
_installed: list[Emulation] = []


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_owner(uid: int, gid: int) -> bytes:
    """``rootlesscontainers.Resource{uid, gid}`` (proto3: zero fields are left out)."""
    out = b""
    if uid:
        out += b"\x08" + _varint(uid)
    if gid:
        out += b"\x10" + _varint(gid)
    return out


def decode_owner(data: bytes) -> tuple[int, int]:
    """The (uid, gid) of a ``user.rootlesscontainers`` value; unknown fields are skipped."""
    fields = {1: 0, 2: 0}
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        kind = key & 7
        if kind == 0:
            value, pos = _read_varint(data, pos)
            fields[key >> 3] = value
        elif kind == 2:
            length, pos = _read_varint(data, pos)
            pos += length
        elif kind == 5:
            pos += 4
        elif kind == 1:
            pos += 8
        else:
            raise ValueError(f"malformed {OWNER_XATTR} value")
    return fields[1] & 0xFFFFFFFF, fields[2] & 0xFFFFFFFF


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError(f"malformed {OWNER_XATTR} value")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _own_key(name: str) -> str:
    key = OWN_PREFIX + name
    if len(key.encode("utf-8", "surrogateescape")) <= _MAX_XATTR_NAME:
        return key
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:40]
    return f"{OWN_PREFIX}#{digest}"


def _xattr_capable(mode: int) -> bool:
    return stat.S_ISREG(mode) or stat.S_ISDIR(mode)


class Emulation:
    """The emulated view of the file system for this process.

    ``emulate_owners``: record owners in xattrs rather than calling ``chown`` (a caller without
    CAP_CHOWN, the ptrace level). Device nodes, whiteouts and privileged xattrs fall back to
    emulation only when the kernel refuses them, so a root caller keeps everything it can
    natively.
    """

    def __init__(self, emulate_owners: bool) -> None:
        self.emulate_owners = emulate_owners
        self.uid, self.gid = (os.getuid(), os.getgid()) if emulate_owners else (0, 0)

    # -- reading ----------------------------------------------------------------------------

    def _get(self, path: Any, name: str, follow: bool = False) -> bytes | None:
        try:
            value: bytes = _granted(
                path, follow, lambda: _real["getxattr"](path, name, follow_symlinks=follow)
            )
            return value
        except OSError as exc:
            if exc.errno in _NO_ATTR or exc.errno == errno.ENOENT:
                return None
            raise

    def owner(self, path: Any, st: os.stat_result, follow: bool = False) -> tuple[int, int]:
        """The emulated owner of ``path`` (whose real stat is ``st``)."""
        data: bytes | None
        if _xattr_capable(st.st_mode):
            data = self._get(path, OWNER_XATTR, follow)
        else:
            parent, name = os.path.split(os.fspath(path))
            data = self._get(parent or ".", _own_key(name), True)
        if data is not None:
            return decode_owner(data)
        return self.disk_owner(st)

    def disk_owner(self, st: os.stat_result) -> tuple[int, int]:
        """The owner an entry has without a record: the caller's ids stand for root."""
        if not self.emulate_owners:
            return st.st_uid, st.st_gid
        return (
            0 if st.st_uid == self.uid else st.st_uid,
            0 if st.st_gid == self.gid else st.st_gid,
        )

    def fake_stat(self, path: Any, st: os.stat_result, follow: bool = False) -> os.stat_result:
        mode, rdev = st.st_mode, st.st_rdev
        if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
            record = self._get(path, MODE_XATTR, follow)
            if record is not None:
                true_mode, rdev, on_disk = _parse_mode(record)
                perms = true_mode if stat.S_IMODE(st.st_mode) == on_disk else st.st_mode
                mode = stat.S_IFMT(true_mode) | stat.S_IMODE(perms)
        uid, gid = self.owner(path, st, follow)
        if (mode, rdev, uid, gid) == (st.st_mode, st.st_rdev, st.st_uid, st.st_gid):
            return st
        size = 0 if stat.S_IFMT(mode) != stat.S_IFMT(st.st_mode) else st.st_size
        extra = {
            "st_atime": st.st_atime,
            "st_mtime": st.st_mtime,
            "st_ctime": st.st_ctime,
            "st_atime_ns": st.st_atime_ns,
            "st_mtime_ns": st.st_mtime_ns,
            "st_ctime_ns": st.st_ctime_ns,
            "st_blksize": st.st_blksize,
            "st_blocks": st.st_blocks,
            "st_rdev": rdev,
        }
        head = (mode, st.st_ino, st.st_dev, st.st_nlink, uid, gid, size)
        return os.stat_result((*head, *tuple(st)[7:10]), extra)

    def stat(self, path: Any, *, dir_fd: int | None = None, follow_symlinks: bool = True) -> Any:
        st = _real["stat"](path, dir_fd=dir_fd, follow_symlinks=follow_symlinks)
        if dir_fd is not None or isinstance(path, int):
            return st
        return self.fake_stat(path, st, follow_symlinks)

    def lstat(self, path: Any, *, dir_fd: int | None = None) -> Any:
        return self.stat(path, dir_fd=dir_fd, follow_symlinks=False)

    # -- writing ----------------------------------------------------------------------------

    def _set(self, path: Any, name: str, value: bytes | None, follow: bool = False) -> None:
        if value is None:
            with contextlib.suppress(OSError):
                _granted(
                    path, follow, lambda: _real["removexattr"](path, name, follow_symlinks=follow)
                )
        else:
            _granted(
                path, follow, lambda: _real["setxattr"](path, name, value, follow_symlinks=follow)
            )

    def chown(
        self,
        path: Any,
        uid: int,
        gid: int,
        *,
        dir_fd: int | None = None,
        follow_symlinks: bool = True,
    ) -> None:
        if not self.emulate_owners or dir_fd is not None or isinstance(path, int):
            _real["chown"](path, uid, gid, dir_fd=dir_fd, follow_symlinks=follow_symlinks)
            return
        st = _real["stat"](path, follow_symlinks=follow_symlinks)
        old = self.owner(path, st, follow_symlinks)
        uid = old[0] if uid == -1 else uid
        gid = old[1] if gid == -1 else gid
        value = None if (uid, gid) == self.disk_owner(st) else encode_owner(uid, gid)
        if _xattr_capable(st.st_mode):
            self._set(path, OWNER_XATTR, value, follow_symlinks)
        else:
            parent, name = os.path.split(os.fspath(path))
            self._set(parent or ".", _own_key(name), value, True)

    def lchown(self, path: Any, uid: int, gid: int) -> None:
        self.chown(path, uid, gid, follow_symlinks=False)

    def chmod(
        self, path: Any, mode: int, *, dir_fd: int | None = None, follow_symlinks: bool = True
    ) -> None:
        if dir_fd is not None or isinstance(path, int):
            _real["chmod"](path, mode, dir_fd=dir_fd, follow_symlinks=follow_symlinks)
            return
        current = self.stat(path, follow_symlinks=follow_symlinks)
        real = _real["stat"](path, follow_symlinks=follow_symlinks)
        if not _xattr_capable(real.st_mode):
            _real["chmod"](path, mode, follow_symlinks=follow_symlinks)
            return
        perms = stat.S_IMODE(mode)
        on_disk = perms | self._widen(real.st_mode)
        _real["chmod"](path, on_disk, follow_symlinks=follow_symlinks)
        true_mode = stat.S_IFMT(current.st_mode) | perms
        emulated_type = stat.S_IFMT(current.st_mode) != stat.S_IFMT(real.st_mode)
        if on_disk == perms and not emulated_type:
            self._set(path, MODE_XATTR, None, follow_symlinks)
        else:
            record = f"{true_mode:o} {current.st_rdev} {on_disk:o}".encode()
            self._set(path, MODE_XATTR, record, follow_symlinks)

    def _widen(self, disk_mode: int) -> int:
        """Permission bits the owner keeps on disk when it is not root (as fakeroot)."""
        if not self.emulate_owners or self.uid == 0:
            return 0
        return 0o700 if stat.S_ISDIR(disk_mode) else 0o600

    def mknod(
        self, path: Any, mode: int = 0o600, device: int = 0, *, dir_fd: int | None = None
    ) -> None:
        try:
            _real["mknod"](path, mode, device, dir_fd=dir_fd)
            return
        except PermissionError:
            if dir_fd is not None:
                raise
        kind = stat.S_IFMT(mode) or stat.S_IFREG
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        os.close(fd)
        _real["chmod"](path, 0o600)
        record = f"{kind | stat.S_IMODE(mode):o} {device} 600".encode()
        self._set(path, MODE_XATTR, record)

    def setxattr(
        self,
        path: Any,
        attribute: str,
        value: bytes,
        flags: int = 0,
        *,
        follow_symlinks: bool = True,
    ) -> None:
        if attribute.startswith(_INTERNAL):
            raise OSError(errno.EPERM, os.strerror(errno.EPERM), path)
        try:
            _real["setxattr"](path, attribute, value, flags, follow_symlinks=follow_symlinks)
        except OSError as exc:
            if attribute.startswith("user.") or exc.errno not in (errno.EPERM, errno.ENOTSUP):
                raise
            _real["setxattr"](
                path, XATTR_PREFIX + attribute, value, flags, follow_symlinks=follow_symlinks
            )

    def getxattr(self, path: Any, attribute: str, *, follow_symlinks: bool = True) -> bytes:
        if attribute.startswith(_INTERNAL):
            raise OSError(errno.ENODATA, os.strerror(errno.ENODATA), path)
        try:
            value: bytes = _real["getxattr"](path, attribute, follow_symlinks=follow_symlinks)
            return value
        except OSError as exc:
            if attribute.startswith("user.") or exc.errno not in _NO_ATTR:
                raise
            stored: bytes = _real["getxattr"](
                path, XATTR_PREFIX + attribute, follow_symlinks=follow_symlinks
            )
            return stored

    def listxattr(self, path: Any = None, *, follow_symlinks: bool = True) -> list[str]:
        names: list[str] = _real["listxattr"](path, follow_symlinks=follow_symlinks)
        out = [n for n in names if not n.startswith(_INTERNAL)]
        out += [n[len(XATTR_PREFIX) :] for n in names if n.startswith(XATTR_PREFIX)]
        return out

    def removexattr(self, path: Any, attribute: str, *, follow_symlinks: bool = True) -> None:
        try:
            _real["removexattr"](path, attribute, follow_symlinks=follow_symlinks)
        except OSError as exc:
            if attribute.startswith("user.") or exc.errno not in _NO_ATTR:
                raise
            _real["removexattr"](path, XATTR_PREFIX + attribute, follow_symlinks=follow_symlinks)

    def rename(
        self, src: Any, dst: Any, *, src_dir_fd: int | None = None, dst_dir_fd: int | None = None
    ) -> None:
        """Rename, carrying the owner record of a symlink, FIFO or socket (kept on its parent
        directory) to the new parent."""
        self._move("rename", src, dst, src_dir_fd, dst_dir_fd)

    def replace(
        self, src: Any, dst: Any, *, src_dir_fd: int | None = None, dst_dir_fd: int | None = None
    ) -> None:
        self._move("replace", src, dst, src_dir_fd, dst_dir_fd)

    def _move(self, how: str, src: Any, dst: Any, src_fd: int | None, dst_fd: int | None) -> None:
        record = None
        if src_fd is None and dst_fd is None:
            try:
                st = _real["stat"](src, follow_symlinks=False)
            except OSError:
                st = None
            if st is not None and not _xattr_capable(st.st_mode):
                parent, name = os.path.split(os.fspath(src))
                record = self._get(parent or ".", _own_key(name), True)
                if record is not None:
                    self._set(parent or ".", _own_key(name), None, True)
        _real[how](src, dst, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
        if record is not None:
            parent, name = os.path.split(os.fspath(dst))
            self._set(parent or ".", _own_key(name), record, True)


def _granted(path: Any, follow: bool, action: Callable[[], Any]) -> Any:
    """``action()`` on ``path``'s ``user.*`` attributes, which need read (get) or write (set)
    permission: for a file of the caller's that has neither for the moment (a program made it
    mode 000, as ``useradd`` does ``/etc/shadow+``), with owner read and write lent meanwhile."""
    try:
        return action()
    except PermissionError:
        st = _real["stat"](path, follow_symlinks=follow)
        if st.st_uid != os.geteuid() or not _xattr_capable(st.st_mode):
            raise
        lend = 0o700 if stat.S_ISDIR(st.st_mode) else 0o600
        _real["chmod"](path, stat.S_IMODE(st.st_mode) | lend, follow_symlinks=follow)
        try:
            return action()
        finally:
            _real["chmod"](path, stat.S_IMODE(st.st_mode), follow_symlinks=follow)


def _parse_mode(record: bytes) -> tuple[int, int, int]:
    true_mode, rdev, on_disk = record.decode().split()
    return int(true_mode, 8), int(rdev), int(on_disk, 8)


_PATCHED = (
    "stat",
    "lstat",
    "chown",
    "lchown",
    "chmod",
    "mknod",
    "setxattr",
    "getxattr",
    "listxattr",
    "removexattr",
    "rename",
    "replace",
)


def install(emulate_owners: bool) -> Emulation:
    """Make ``os`` of this (helper) process show and record the emulated metadata."""
    for name in _PATCHED:
        _real.setdefault(name, getattr(os, name))
    emulation = Emulation(emulate_owners)
    for name in _PATCHED:
        setattr(os, name, getattr(emulation, name))
    _installed[:] = [emulation]
    return emulation


def recorded_whiteout(path: Any, st: os.stat_result) -> bool:
    """Whether ``path`` (whose real lstat is ``st``) is a whiteout kept as an empty file with
    its type recorded: how a layer of these levels reads to a process without :func:`install`
    (the engine itself, looking into the layer cache)."""
    if not stat.S_ISREG(st.st_mode) or st.st_size != 0:
        return False
    try:
        record = real("getxattr")(path, MODE_XATTR, follow_symlinks=False)
    except OSError:
        return False
    true_mode, rdev, _on_disk = _parse_mode(record)
    return stat.S_ISCHR(true_mode) and rdev == 0


def real(name: str) -> Callable[..., Any]:
    """The unpatched ``os`` function ``name``."""
    return _real.get(name) or getattr(os, name)


def real_entries(root: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """Every entry below ``root`` with its real ``lstat`` (not the emulated one), parents
    before their children; symbolic links are not followed."""
    lstat = real("lstat")
    stack = [root]
    while stack:
        directory = stack.pop()
        for name in os.listdir(directory):
            path = directory / name
            st = lstat(path)
            yield path, st
            if stat.S_ISDIR(st.st_mode):
                stack.append(path)


def emulated_entries(root: Path) -> Iterator[tuple[Path, os.stat_result, os.stat_result]]:
    """Every entry below ``root`` whose emulated stat differs from the real one:
    (path, real stat, emulated stat). Needs :func:`install` first."""
    emulation = _installed[0]
    for path, st in real_entries(root):
        fake = emulation.fake_stat(path, st)
        if fake is not st:
            yield path, st, fake
