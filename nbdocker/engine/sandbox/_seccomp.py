"""A seccomp filter that hides the system calls PRoot cannot translate (ptrace level).

PRoot runs a step in a fake root by rewriting the paths of the system calls it knows. Debian
12's PRoot 5.1.0 predates ``statx``, ``openat2``, ``faccessat2``, ``renameat2`` and the newer
``*at`` calls: their paths would reach the kernel untranslated, so a step calling ``stat /etc``
(coreutils uses ``statx``) would see the host's ``/etc``. Making them fail with ``ENOSYS``
before PRoot ever sees them sends the C library and coreutils back to the older calls, which
PRoot does translate (glibc and gnulib fall back on ENOSYS as they do on old kernels).

Installed in the process that then executes PRoot (``no_new_privs`` first, as seccomp
requires); the filter is inherited by PRoot and everything the step starts. Stdlib only.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000

# The architecture each table is for (AUDIT_ARCH_*), and the calls with path arguments that
# PRoot 5.1.0 does not know. Numbers from 424 on are the same on every architecture.
_UNIFIED = (
    428,  # open_tree
    429,  # move_mount
    433,  # fspick
    435,  # clone3 (PRoot follows clone's flags; glibc falls back to clone)
    437,  # openat2
    439,  # faccessat2
    442,  # mount_setattr
    452,  # fchmodat2
    463,  # setxattrat
    464,  # getxattrat
    465,  # listxattrat
    466,  # removexattrat
    467,  # open_tree_attr
    468,  # file_getattr
    469,  # file_setattr
)
_TABLES = {
    # statx, execveat, renameat2, name_to_handle_at
    "x86_64": (0xC000003E, (332, 322, 316, 303, *_UNIFIED)),
    "aarch64": (0xC00000B7, (291, 281, 276, 264, *_UNIFIED)),
}


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def supported() -> bool:
    return platform.machine() in _TABLES


def hide_untranslated_calls() -> None:
    """Install the filter on the calling thread; OSError when the kernel refuses it."""
    arch, numbers = _TABLES[platform.machine()]
    ld_abs, jeq, ret = 0x20, 0x15, 0x06
    program = [
        _insn(ld_abs, 4),  # seccomp_data.arch
        _insn(jeq, arch, 1, 0),
        _insn(ret, SECCOMP_RET_ALLOW),
        _insn(ld_abs, 0),  # seccomp_data.nr
    ]
    for index, number in enumerate(numbers):
        program.append(_insn(jeq, number, len(numbers) - index, 0))
    program.append(_insn(ret, SECCOMP_RET_ALLOW))
    program.append(_insn(ret, SECCOMP_RET_ERRNO | errno.ENOSYS))
    code = ctypes.create_string_buffer(b"".join(program))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(program), ctypes.addressof(code))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [
        ctypes.c_int,
        ctypes.c_ulong,
        ctypes.c_void_p,
        ctypes.c_ulong,
        ctypes.c_ulong,
    ]
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(no_new_privs): {errno.errorcode.get(err, err)}")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"installing a seccomp filter: {errno.errorcode.get(err, err)}")
