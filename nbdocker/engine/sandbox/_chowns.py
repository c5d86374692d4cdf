"""Owners a ptrace-level step sets, caught by the kernel: seccomp user notifications.

PRoot answers ``chown`` with a success it does not keep, and fakeroot sees only programs that
load its library (not busybox or anything linked statically). So before PRoot starts, a seccomp
filter turns every ``chown``, ``fchown``, ``lchown`` and ``fchownat`` of the step into a
notification to this helper (seccomp's user notifications take precedence over PRoot's
tracing): :class:`ChownTracker` reads the call's path from the caller's memory, finds the file
it names in the root copy (the caller's working directory and descriptors are real paths; a
path PRoot has already translated is one too; other absolute paths are the step's, resolved
inside the copy), records the owner there the way :mod:`..layer.emulated` keeps owners, and
answers success. Paths PRoot binds from the host (``/proc``, ``/dev``, volumes) are answered
without a record. Each record says whether the calling process has fakeroot's library loaded:
fakeroot then holds what the call meant (see :class:`._ptrace._Chowned`).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import platform
import posixpath
import socket
import struct
from collections.abc import Callable
from pathlib import Path

from ._rootfs import SetupError, secure_join

SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_USER_NOTIF = 0x7FC00000
NOTIF_RECV = 0xC0502100  # SECCOMP_IOWR(0, struct seccomp_notif): 80 bytes
NOTIF_SEND = 0xC0182101  # SECCOMP_IOWR(1, struct seccomp_notif_resp): 24 bytes
AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_EMPTY_PATH = 0x1000

# (AUDIT_ARCH, seccomp's number, {call number: name})
_TABLES = {
    "x86_64": (0xC000003E, 317, {92: "chown", 93: "fchown", 94: "lchown", 260: "fchownat"}),
    "aarch64": (0xC00000B7, 277, {55: "fchown", 54: "fchownat"}),
}


def supported() -> bool:
    return platform.machine() in _TABLES


def install_listener(send_to: socket.socket) -> None:
    """In the process about to execute PRoot: route the chown calls to a listener and send its
    descriptor over ``send_to`` (the helper keeps it; this process closes its copy)."""
    arch, seccomp_nr, calls = _TABLES[platform.machine()]

    def insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
        return struct.pack("HBBI", code, jt, jf, k)

    ld_abs, jeq, ret = 0x20, 0x15, 0x06
    numbers = sorted(calls)
    program = [insn(ld_abs, 4), insn(jeq, arch, 1, 0), insn(ret, SECCOMP_RET_ALLOW)]
    program.append(insn(ld_abs, 0))
    for index, number in enumerate(numbers):
        program.append(insn(jeq, number, len(numbers) - index, 0))
    program.append(insn(ret, SECCOMP_RET_ALLOW))
    program.append(insn(ret, SECCOMP_RET_USER_NOTIF))
    code = ctypes.create_string_buffer(b"".join(program))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(program), ctypes.addressof(code))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    fd = libc.syscall(
        ctypes.c_long(seccomp_nr),
        ctypes.c_ulong(SECCOMP_SET_MODE_FILTER),
        ctypes.c_ulong(SECCOMP_FILTER_FLAG_NEW_LISTENER),
        ctypes.byref(fprog),
    )
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp user notifications: {errno.errorcode.get(err, err)}")
    socket.send_fds(send_to, [b"l"], [fd])
    os.close(fd)


def _read_string(pid: int, address: int) -> str:
    """The NUL-terminated string at ``address`` in process ``pid``."""
    out = b""
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        while len(out) < 4096:
            chunk_end = (address // 4096 + 1) * 4096  # never read across an unmapped page
            data = os.pread(mem.fileno(), chunk_end - address, address)
            if not data:
                break
            end = data.find(b"\0")
            if end >= 0:
                return (out + data[:end]).decode("utf-8", "surrogateescape")
            out += data
            address = chunk_end
    return out.decode("utf-8", "surrogateescape")


class ChownTracker:
    """Serves the listener: ``handle()`` answers one notification (call when it is readable).

    ``bound`` are the step's paths PRoot binds from the host (not part of the copy);
    ``record(path, uid, gid, follow, faked)`` keeps an owner (-1: unchanged) for a path in the
    copy; ``faked``: the caller has fakeroot's library loaded (so fakeroot saw the call)."""

    def __init__(
        self,
        listener: int,
        root: Path,
        bound: list[str],
        record: Callable[[Path, int, int, bool, bool], None],
    ) -> None:
        self.listener, self.root, self.record = listener, root, record
        self.bound = [b.rstrip("/") or "/" for b in bound]
        self.calls = _TABLES[platform.machine()][2]
        self.real_root = os.path.realpath(root)

    def fileno(self) -> int:
        return self.listener

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.listener)

    def handle(self) -> None:
        buf = bytearray(80)
        try:
            fcntl.ioctl(self.listener, NOTIF_RECV, buf)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.EINTR):
                return  # the caller went away (killed) before we read it
            raise
        ident, pid, _flags, nr, _arch, _ip = struct.unpack_from("QIIiIQ", buf, 0)
        args = struct.unpack_from("6Q", buf, 32)
        with contextlib.suppress(OSError, SetupError, ValueError):
            self._apply(pid, self.calls.get(nr, ""), args)
        response = struct.pack("QqiI", ident, 0, 0, 0)
        with contextlib.suppress(OSError):  # ENOENT: the caller was killed meanwhile
            fcntl.ioctl(self.listener, NOTIF_SEND, bytearray(response))

    def _apply(self, pid: int, call: str, args: tuple[int, ...]) -> None:
        def one(value: int) -> int:
            value &= 0xFFFFFFFF
            return -1 if value == 0xFFFFFFFF else value

        def ids(a: int, b: int) -> tuple[int, int]:
            return one(a), one(b)

        if call == "fchown":
            target = self._host(pid, _signed(args[0]), "")
            uid, gid = ids(args[1], args[2])
            follow = True
        elif call == "fchownat":
            flags = args[4]
            path = "" if flags & AT_EMPTY_PATH else _read_string(pid, args[1])
            target = self._host(pid, _signed(args[0]), path, not flags & AT_SYMLINK_NOFOLLOW)
            uid, gid = ids(args[2], args[3])
            follow = not flags & AT_SYMLINK_NOFOLLOW
        elif call in ("chown", "lchown"):
            follow = call == "chown"
            target = self._host(pid, AT_FDCWD, _read_string(pid, args[0]), follow)
            uid, gid = ids(args[1], args[2])
        else:
            return
        if target is not None:
            self.record(target, uid, gid, follow, _loads_fakeroot(pid))

    def _host(self, pid: int, dirfd: int, path: str, follow: bool = True) -> Path | None:
        """The file in the root copy that ``path`` (relative to ``dirfd``) names, or None."""
        if not path:
            real = os.readlink(f"/proc/{pid}/fd/{dirfd}")
            return Path(real) if self._inside(real) else None
        if path.startswith("/") and self._inside(path):
            return Path(path)  # PRoot already translated it (it traced the call first)
        if path.startswith("/"):
            guest = path
        else:
            base = os.readlink(
                f"/proc/{pid}/cwd" if dirfd == AT_FDCWD else f"/proc/{pid}/fd/{dirfd}"
            )
            if not self._inside(base):
                return None
            guest = "/" + posixpath.join(os.path.relpath(base, self.real_root), path)
        guest = posixpath.normpath(guest)
        if any(guest == b or guest.startswith(b + "/") for b in self.bound if b != "/"):
            return None
        parent, name = posixpath.split(guest)
        if not name or follow:
            return secure_join(self.root, guest)
        return secure_join(self.root, parent) / name

    def _inside(self, path: str) -> bool:
        return path == self.real_root or path.startswith(self.real_root + "/")


def _loads_fakeroot(pid: int) -> bool:
    """Whether process ``pid`` has fakeroot's library mapped (its calls pass through it)."""
    try:
        with open(f"/proc/{pid}/maps", "rb") as maps:
            return b"libfakeroot" in maps.read()
    except OSError:
        return False


def _signed(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value
