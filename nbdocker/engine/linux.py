"""Thin ctypes wrappers around the Linux system calls Python 3.11 does not expose (for the
sandbox, and for the user-namespace helper's ``unshare``).

Why ctypes and not util-linux: ``unshare(1)``/``nsenter(1)`` would need one process per step and
cannot express "fork after unsharing the PID namespace, then keep running Python code that sets
up mounts and capabilities"; the calls below are a handful of well-defined syscalls, so calling
them directly keeps the whole setup in one process we control. Every wrapper raises ``OSError``
with the real ``errno`` so callers can tell *why* a step failed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import os
import platform
import socket
import struct

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NODEV = 0x4
AT_RECURSIVE = 0x8000

_SYSCALLS = {
    # machine: (pivot_root, capset, mount_setattr)
    "x86_64": (155, 126, 442),
    "aarch64": (41, 91, 442),
    "ppc64le": (203, 184, 442),
    "s390x": (217, 185, 442),
    "riscv64": (41, 91, 442),
}

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.prctl.argtypes = [
    ctypes.c_int,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
]


def _check(result: int, what: str) -> None:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _enc(value: str | os.PathLike[str] | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def _nr(index: int) -> int:
    table = _SYSCALLS.get(platform.machine())
    if table is None:
        raise OSError(errno.ENOSYS, f"unsupported architecture {platform.machine()}")
    return table[index]


def unshare(flags: int) -> None:
    """unshare(2)."""
    _check(_libc.unshare(flags), "unshare")


def mount(
    source: str | os.PathLike[str] | None,
    target: str | os.PathLike[str],
    fstype: str | None,
    flags: int = 0,
    data: str | None = None,
) -> None:
    """mount(2); the error names the target and file system type."""
    res = _libc.mount(_enc(source), _enc(target), _enc(fstype), flags, _enc(data))
    _check(res, f"mount {fstype or 'bind'} on {os.fsdecode(target)}")


def umount(target: str | os.PathLike[str], flags: int = 0) -> None:
    """umount2(2)."""
    _check(_libc.umount2(_enc(target), flags), f"umount {os.fsdecode(target)}")


def pivot_root(new_root: str, put_old: str) -> None:
    """pivot_root(2) (glibc has no stable wrapper, so the raw syscall)."""
    res = _libc.syscall(_nr(0), _enc(new_root), _enc(put_old))
    _check(res, "pivot_root")


def prctl(option: int, arg2: int = 0, arg3: int = 0) -> None:
    """prctl(2) for the integer-argument options we use."""
    _check(_libc.prctl(option, arg2, arg3, 0, 0), f"prctl({option})")


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """capset(2) with the 64-bit (version 3) header for the calling thread."""
    header = struct.pack("Ii", 0x20080522, 0)
    data = struct.pack(
        "IIIIII",
        effective & 0xFFFFFFFF,
        permitted & 0xFFFFFFFF,
        inheritable & 0xFFFFFFFF,
        effective >> 32,
        permitted >> 32,
        inheritable >> 32,
    )
    hbuf = ctypes.create_string_buffer(header)
    dbuf = ctypes.create_string_buffer(data)
    _check(_libc.syscall(_nr(1), hbuf, dbuf), "capset")


def mount_setattr_recursive(path: str, attr_set: int) -> None:
    """Set the ``MOUNT_ATTR_*`` flags ``attr_set`` on the mount at ``path`` and every mount
    below it (mount_setattr(2), Linux 5.12); other flags stay as they are."""
    # struct mount_attr { u64 attr_set, attr_clr, propagation, userns_fd; }
    attr = ctypes.create_string_buffer(struct.pack("QQQQ", attr_set, 0, 0, 0))
    at_fdcwd = -100
    res = _libc.syscall(
        _nr(2),
        ctypes.c_int(at_fdcwd),
        _enc(path),
        ctypes.c_uint(AT_RECURSIVE),
        attr,
        ctypes.c_size_t(32),
    )
    _check(res, f"mount_setattr {path}")


def locked_flags(path: str) -> int:
    """The per-mount flags of ``path`` that a remount inside a user namespace must keep."""
    flag = os.statvfs(path).f_flag
    out = 0
    for st_bit, ms_bit in (
        (os.ST_NOSUID, MS_NOSUID),
        (os.ST_NODEV, MS_NODEV),
        (os.ST_NOEXEC, MS_NOEXEC),
        (os.ST_NOATIME, MS_NOATIME),
        (os.ST_NODIRATIME, MS_NODIRATIME),
        (os.ST_RELATIME, MS_RELATIME),
    ):
        if flag & st_bit:
            out |= ms_bit
    return out


def remount_bind(path: str, flags: int) -> None:
    """Add ``flags`` (``MS_RDONLY``, ``MS_NODEV`` …) to the bind mount at ``path`` alone,
    keeping the flags it has (those a remount inside a user namespace must keep)."""
    mount(None, path, None, MS_REMOUNT | MS_BIND | flags | locked_flags(path))


def loopback_up() -> None:
    """Bring ``lo`` up in the current network namespace (SIOCGIFFLAGS / SIOCSIFFLAGS)."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        req = struct.pack("16sh22x", b"lo", 0)
        res = fcntl.ioctl(sock.fileno(), siocgifflags, req)
        flags = struct.unpack("16sh", res[:18])[1]
        fcntl.ioctl(sock.fileno(), siocsifflags, struct.pack("16sh22x", b"lo", flags | iff_up))
