"""Assemble the container's root inside its mount namespace, then pivot into it.

Order (all before ``pivot_root``, with every target inside the new root resolved by
:func:`secure_join`, so an image's symlink can never point a mount at a host path):
root mount (overlay or copy) → ``/proc`` (+ Docker's masked and read-only paths) → ``/dev``
(tmpfs, host device nodes, devpts ``newinstance``, ``/dev/shm``, ``/dev/mqueue``) → ``/sys``
read-only → generated ``/etc/hosts``, ``/etc/hostname``, ``/etc/resolv.conf`` → user binds →
``pivot_root(".", ".")`` and a lazy unmount of the old root, so no host path stays reachable.

Devices, as Docker's device policy has them: only the standard nodes open. Docker lets root
``mknod`` any node and its device cgroup refuses to open all but ``null``, ``zero``, ``full``,
``random``, ``urandom``, ``tty`` and the terminals; a cgroup device filter needs a delegated
cgroup and BPF, which a rootless or nested nbdocker does not have, so here every mount the
container can write to is ``nodev`` instead: the root (overlay or copy), ``/dev`` (a tmpfs
holding bind mounts of the host's standard nodes, each its own mount and so still usable), the
volumes and ``/dev/shm``; devpts stays as it is (its terminals are made by the kernel, never by
``mknod``). ``mknod`` itself still succeeds where CAP_MKNOD allows it, as in Docker, and the
node lands in the image when committed; opening it fails with EACCES. Unlike Docker, a node
made for a standard device (``mknod /tmp/null c 1 3``) does not open either.

The mountpoints those mounts need (``/proc``, ``/etc/hosts`` …) come from a small read-only
*init layer* placed between the image layers and the upper dir, the way Docker's ``-init``
layer works, so they never show up in the container's changes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

from .. import linux
from ..layer.view import LinkLoop, LowerView, lstat, resolve_under
from ._files import copy_meta

DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")
MASKED = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
READONLY = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
ETC_FILES = ("hosts", "hostname", "resolv.conf")
NOSUID_NODEV_NOEXEC = linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC


class SetupError(Exception):
    """A one-line reason the root could not be assembled."""


def secure_join(root: Path, unsafe_path: str) -> Path:
    """:func:`~nbdocker.engine.layer.view.resolve_under`, a link loop being a SetupError."""
    try:
        return resolve_under(root, unsafe_path)
    except LinkLoop:
        raise SetupError(f"too many levels of symbolic links in {unsafe_path}") from None


def build_init_layer(init: Path, view: LowerView, dirs: list[str], files: list[str]) -> None:
    """Create mountpoints that the image lacks inside ``init`` (a fresh empty directory).

    A parent that exists in the image is mirrored with the image's owner, mode and times, so the
    init layer changes nothing the container can see; paths through a symlink are skipped (the
    runtime then creates them in the container root, after resolving the link).
    """
    made: list[tuple[Path, Path]] = []
    for path, is_dir in [(d, True) for d in dirs] + [(f, False) for f in files]:
        parts = [p for p in path.split("/") if p]
        for depth in range(len(parts)):
            rel = "/".join(parts[: depth + 1])
            last = depth == len(parts) - 1
            lower = view.lookup(rel)
            lst = lstat(lower) if lower is not None else None
            dst = init / rel
            if lst is not None:
                if last or not stat.S_ISDIR(lst.st_mode):
                    break
                if not dst.exists():
                    dst.mkdir()
                    made.append((lower, dst))  # type: ignore[arg-type]
                continue
            if last and not is_dir:
                dst.touch(0o644)
            elif not dst.exists():
                dst.mkdir(0o755)
    for lower, dst in reversed(made):
        copy_meta(os.lstat(lower), dst)


def _ensure(root: Path, target: str, is_dir: bool) -> Path:
    path = secure_join(root, target)
    if lstat(path) is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if is_dir:
            path.mkdir()
        else:
            path.touch(0o644)
    return path


def _bind(source: str, target: Path, readonly: bool) -> None:
    """Bind ``source`` (with the mounts below it) on ``target``, ``nodev`` throughout (see the
    module docstring), and read-only with ``readonly``."""
    linux.mount(source, target, None, linux.MS_BIND | linux.MS_REC)
    try:
        attrs = linux.MOUNT_ATTR_NODEV | (linux.MOUNT_ATTR_RDONLY if readonly else 0)
        linux.mount_setattr_recursive(str(target), attrs)
    except OSError as exc:
        if exc.errno not in (errno.ENOSYS, errno.EINVAL):
            raise
        # before Linux 5.12: the top mount only (a host mount below a volume keeps its flags)
        linux.remount_bind(str(target), linux.MS_NODEV | (linux.MS_RDONLY if readonly else 0))


def _mask(root: Path) -> None:
    for path in MASKED:
        target = secure_join(root, path)
        st = lstat(target)
        if st is None:
            continue
        if stat.S_ISDIR(st.st_mode):
            with contextlib.suppress(OSError):
                linux.mount(
                    "tmpfs", target, "tmpfs", linux.MS_RDONLY | NOSUID_NODEV_NOEXEC, "size=0"
                )
        else:
            with contextlib.suppress(OSError):
                linux.mount("/dev/null", target, None, linux.MS_BIND)
    for path in READONLY:
        target = secure_join(root, path)
        if lstat(target) is not None:
            linux.mount(target, target, None, linux.MS_BIND | linux.MS_REC)
            linux.remount_bind(str(target), linux.MS_RDONLY)


def _dev(root: Path, devpts_gid: int | None) -> None:
    dev = _ensure(root, "/dev", True)
    flags = linux.MS_NOSUID | linux.MS_NODEV | linux.MS_STRICTATIME
    linux.mount("tmpfs", dev, "tmpfs", flags, "mode=755,size=65536k")
    for name in DEV_NODES:
        (dev / name).touch(0o666)
        linux.mount(f"/dev/{name}", dev / name, None, linux.MS_BIND)
    (dev / "pts").mkdir()
    opts = "newinstance,ptmxmode=0666,mode=0620" + (f",gid={devpts_gid}" if devpts_gid else "")
    linux.mount("devpts", dev / "pts", "devpts", linux.MS_NOSUID | linux.MS_NOEXEC, opts)
    os.symlink("pts/ptmx", dev / "ptmx")
    (dev / "shm").mkdir()
    linux.mount("shm", dev / "shm", "tmpfs", NOSUID_NODEV_NOEXEC, "mode=1777,size=65536k")
    (dev / "mqueue").mkdir()
    with contextlib.suppress(OSError):
        linux.mount("mqueue", dev / "mqueue", "mqueue", NOSUID_NODEV_NOEXEC)
    for name, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("core", "/proc/kcore"),
    ):
        os.symlink(target, dev / name)


def _sys_ro(root: Path) -> None:
    target = _ensure(root, "/sys", True)
    flags = linux.MS_RDONLY | NOSUID_NODEV_NOEXEC
    try:
        linux.mount("sysfs", target, "sysfs", flags)
    except OSError:
        # In a user namespace sysfs mounts only in a network namespace that namespace owns;
        # with the host's network, bind the host's /sys read-only instead.
        _bind("/sys", target, readonly=True)


def assemble(
    root: Path,
    etc_dir: Path,
    binds: list[tuple[str, str, bool]],
    devpts_gid: int | None,
) -> str:
    """Mount everything under ``root`` (already a mount point); return how ``/proc`` was made
    (``fresh``, or ``bound`` where a fresh proc is refused). Raises OSError/SetupError."""
    proc = _ensure(root, "/proc", True)
    proc_kind = "fresh"
    try:
        linux.mount("proc", proc, "proc", NOSUID_NODEV_NOEXEC)
    except PermissionError:
        # In a user namespace, a runtime that masks parts of /proc (Docker, Kubernetes) makes
        # the kernel refuse a fresh proc ("too revealing"); bind the existing one with what
        # is mounted on it, as crun and podman do. It shows the outer PID namespace.
        _bind("/proc", proc, readonly=False)
        proc_kind = "bound"
    _dev(root, devpts_gid)
    _sys_ro(root)
    _mask(root)
    for name in ETC_FILES:
        target = _ensure(root, f"/etc/{name}", False)
        if not stat.S_ISREG(os.lstat(target).st_mode):
            raise SetupError(f"/etc/{name} in the image is not a regular file")
        linux.mount(str(etc_dir / name), target, None, linux.MS_BIND)
    for source, target_path, readonly in binds:
        is_dir = os.path.isdir(source)
        target = _ensure(root, target_path, is_dir)
        if os.path.isdir(target) != is_dir:
            kind = "a directory" if is_dir else "a file"
            raise SetupError(f"cannot mount {source} on {target_path}: the target is not {kind}")
        _bind(source, target, readonly)
    return proc_kind


def pivot(root: Path) -> None:
    """Make ``root`` the process's ``/`` and detach the old root entirely."""
    os.chdir(root)
    linux.pivot_root(".", ".")
    linux.umount(".", linux.MNT_DETACH)
    os.chdir("/")
