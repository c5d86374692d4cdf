"""The sandbox's seccomp filters: Docker's default profile, and PRoot's untranslated calls.

**Docker's default profile** (:class:`DefaultProfile`), on every level: the command cannot make
namespaces, mount, load kernel modules or BPF programs, use the kernel keyring, set the clock,
open files by handle, reboot, swap and so on, even as root and even where unprivileged user
namespaces would give it a root of its own (which is how root in a container could make user
and mount namespaces and mount a tmpfs). Docker's profile (moby's ``default.json``) is an
allowlist of about 350 calls, refusing the rest with EPERM and opening some again for the
capabilities a container was given. Here it is the same decision written the other way round:
every call allowed except the ones Docker refuses a container with its default capabilities,
listed below, which fail with EPERM; ``clone`` with a namespace flag fails with EPERM and
``clone3`` with ENOSYS (its flags sit in memory a filter cannot read; the C library then falls
back on ``clone``), both as in Docker. Why this form: an allowlist must know every call the
command's programs, PRoot and the C library may use on every kernel, and a call added to Linux
after the list was written would break builds that Docker runs; the refused calls are the ones
that matter against an attacker, and each can be checked (the tests do). What differs: calls
newer than the system's libseccomp knows are not listed (the capabilities still guard them),
and ``personality`` is not narrowed to Docker's few values. ``ptrace`` is allowed, as Docker
allows it on Linux 4.8 and later (``strace`` and ``gdb`` work; without CAP_SYS_PTRACE only the
command's own processes can be traced), and the ptrace level needs it for PRoot. 32-bit calls
(x86 and x32 on x86_64, arm on aarch64) are filtered the same way.

The filter is made with libseccomp (``pyseccomp``, a ctypes binding to Debian's
``libseccomp2``) before the container's root replaces the host's, while the library can still be
loaded, and installed just before ``execve`` of the command (after ``no_new_privs``), so the
sandbox's own mounts are done first and everything the command starts inherits it.

**PRoot's untranslated calls** (:func:`hide_untranslated_calls`, ptrace level only): PRoot runs
a step in a fake root by rewriting the paths of the system calls it knows. Debian
12's PRoot 5.1.0 predates ``statx``, ``openat2``, ``faccessat2``, ``renameat2`` and the newer
``*at`` calls: their paths would reach the kernel untranslated, so a step calling ``stat /etc``
(coreutils uses ``statx``) would see the host's ``/etc``. Making them fail with ``ENOSYS``
before PRoot ever sees them sends the C library and coreutils back to the older calls, which
PRoot does translate (glibc and gnulib fall back on ENOSYS as they do on old kernels).
Installed in the process that then executes PRoot (``no_new_privs`` first, as seccomp
requires); the filter is inherited by PRoot and everything the step starts. Stdlib only.

Either filter is an addition: the kernel runs every filter a process has and the strictest
answer wins, so the ptrace level's filters and :mod:`._chowns`' listener work together.
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


# What Docker's default profile refuses a container with the default capabilities (moby's
# profiles/seccomp/default.json: calls not on its list, and those it opens only for
# CAP_SYS_ADMIN, CAP_SYS_MODULE, CAP_SYS_BOOT, CAP_SYS_TIME, CAP_SYS_PACCT, CAP_SYS_RAWIO,
# CAP_SYS_NICE, CAP_SYS_PTRACE, CAP_SYSLOG, CAP_DAC_READ_SEARCH, CAP_BPF or CAP_PERFMON).
DENIED = (
    # namespaces and mounts
    "unshare",
    "setns",
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "open_tree",
    "move_mount",
    "mount_setattr",
    # the kernel keyring
    "keyctl",
    "add_key",
    "request_key",
    # the kernel itself: modules, kexec, BPF, tracing, reboot, swap, accounting, quotas
    "init_module",
    "finit_module",
    "delete_module",
    "create_module",
    "get_kernel_syms",
    "query_module",
    "kexec_load",
    "kexec_file_load",
    "bpf",
    "perf_event_open",
    "lookup_dcookie",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
    "quotactl_fd",
    "syslog",
    "nfsservctl",
    "_sysctl",
    "sysfs",
    "ustat",
    "uselib",
    "vm86",
    "vm86old",
    "iopl",
    "ioperm",
    # the clock
    "settimeofday",
    "stime",
    "clock_settime",
    "clock_settime64",
    "clock_adjtime",
    "clock_adjtime64",
    # files by handle (the "shocker" escape), memory of other processes and NUMA policy
    "open_by_handle_at",
    "name_to_handle_at",
    "userfaultfd",
    "kcmp",
    "mbind",
    "set_mempolicy",
    "get_mempolicy",
    "move_pages",
    "migrate_pages",
    # io_uring (refused by Docker since 25.0: it bypasses the filter for the calls it runs)
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
)

# clone(2) flags that make namespaces (CLONE_NEWNS … CLONE_NEWNET, CLONE_NEWCGROUP)
CLONE_NAMESPACE_FLAGS = (
    0x00020000,
    0x02000000,
    0x04000000,
    0x08000000,
    0x10000000,
    0x20000000,
    0x40000000,
)


class DefaultProfile:
    """Docker's default profile (see the module docstring), made now and installed by
    :meth:`install`. Making it loads libseccomp: do it while the host's root is ``/``.

    Raises :class:`OSError` with a one-line reason when libseccomp is missing or refuses."""

    def __init__(self) -> None:
        try:
            import pyseccomp  # noqa: PLC0415 - loading libseccomp runs ldconfig: only when needed
        except (ImportError, RuntimeError) as exc:  # RuntimeError: no libseccomp.so.2
            raise OSError(
                errno.ENOSYS,
                f"seccomp: libseccomp cannot be loaded ({exc}); "
                "install it (apt-get install libseccomp2) and the pyseccomp package",
            ) from None
        self._filter = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
        for arch in _SECONDARY_ARCHES.get(platform.machine(), ()):
            self._filter.add_arch(getattr(pyseccomp.Arch, arch))
        eperm, native = pyseccomp.ERRNO(errno.EPERM), pyseccomp.Arch.NATIVE
        for name in DENIED:
            number = pyseccomp.resolve_syscall(native, name)
            if number == -1:  # a call newer than this libseccomp (see the module docstring)
                continue
            self._filter.add_rule(eperm, number)
        flags_arg = 1 if platform.machine() == "s390x" else 0
        for flag in CLONE_NAMESPACE_FLAGS:
            clone_flag = pyseccomp.Arg(flags_arg, pyseccomp.MASKED_EQ, flag, flag)
            self._filter.add_rule(eperm, "clone", clone_flag)
        self._filter.add_rule(pyseccomp.ERRNO(errno.ENOSYS), "clone3")

    def install(self) -> None:
        """Install it on the calling thread (it sets ``no_new_privs`` too); OSError if the
        kernel refuses."""
        try:
            self._filter.load()
        except OSError as exc:
            raise OSError(exc.errno, f"installing the seccomp filter: {exc.strerror}") from None


# The other instruction sets a process of that machine can call the kernel with.
_SECONDARY_ARCHES = {"x86_64": ("X86", "X32"), "aarch64": ("ARM",)}
