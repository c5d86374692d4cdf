"""What this machine allows: root, user namespaces, overlay inside a user namespace, sub-ids.

:func:`check_support` never raises; it explains in ``Support.reason`` why something is missing
and what to enable. :func:`require` turns a missing capability into an :class:`UnsupportedError`.
"""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ._errors import UnsupportedError
from ._spec import RootfsMode

ROOTFS_ENV = "NBDOCKER_SANDBOX_ROOTFS"
SUBID_COUNT = 65536


@dataclass(frozen=True)
class SubIds:
    """The caller's subordinate uid and gid ranges (from /etc/subuid and /etc/subgid)."""

    uid_start: int
    uid_count: int
    gid_start: int
    gid_count: int


@dataclass(frozen=True)
class Support:
    """What :func:`run` can do here. ``reason`` explains any ``False`` in one line."""

    root: bool
    userns: bool
    overlay_in_userns: bool
    subids: bool
    rootfs: RootfsMode
    reason: str = ""

    @property
    def usable(self) -> bool:
        return self.root or self.userns


def _read_int(path: str) -> int | None:
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None


def _kernel_at_least(major: int, minor: int) -> bool:
    release = os.uname().release.split("-")[0].split(".")
    try:
        return (int(release[0]), int(release[1])) >= (major, minor)
    except (IndexError, ValueError):
        return False


@functools.lru_cache(maxsize=1)
def _userns_probe() -> str:
    """'' if an unprivileged user namespace can be created, else the reason why not."""
    if _read_int("/proc/sys/user/max_user_namespaces") == 0:
        return (
            "user namespaces are disabled (user.max_user_namespaces=0); enable them with "
            "`sysctl -w user.max_user_namespaces=15000`"
        )
    if _read_int("/proc/sys/kernel/unprivileged_userns_clone") == 0:
        return (
            "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone=0); "
            "enable them with `sysctl -w kernel.unprivileged_userns_clone=1`"
        )
    code = "import ctypes,sys;l=ctypes.CDLL(None,use_errno=True);sys.exit(l.unshare(0x10000000)!=0)"
    try:
        failed = subprocess.run([sys.executable, "-I", "-S", "-c", code], check=False).returncode
    except OSError as exc:
        return f"cannot start {sys.executable} to probe user namespaces: {exc.strerror}"
    if failed:
        if _read_int("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1:
            return (
                "AppArmor forbids unprivileged user namespaces "
                "(kernel.apparmor_restrict_unprivileged_userns=1); allow them with "
                "`sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` or an AppArmor profile"
            )
        return "creating a user namespace was refused (seccomp or a security module forbids it)"
    return ""


def _ranges(path: str, user: str, uid: int) -> tuple[int, int] | None:
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[0] in (user, str(uid)):
            try:
                return int(parts[1]), int(parts[2])
            except ValueError:
                continue
    return None


def subids() -> SubIds | None:
    """The caller's sub-id ranges, when both files list them and newuidmap/newgidmap exist."""
    if not (shutil.which("newuidmap") and shutil.which("newgidmap")):
        return None
    uid = os.getuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    u = _ranges("/etc/subuid", name, uid)
    g = _ranges("/etc/subgid", name, uid)
    if u is None or g is None:
        return None
    return SubIds(u[0], min(u[1], SUBID_COUNT), g[0], min(g[1], SUBID_COUNT))


def forced_rootfs() -> RootfsMode | None:
    value = os.environ.get(ROOTFS_ENV, "").strip().lower()
    if value in ("overlay", "copy"):
        return value  # type: ignore[return-value]
    return None


def check_support() -> Support:
    """Report what this machine allows the calling user, with the reason for any limit."""
    root = os.geteuid() == 0
    overlay_fs = "overlay" in Path("/proc/filesystems").read_text()
    if root:
        mode: RootfsMode = forced_rootfs() or ("overlay" if overlay_fs else "copy")
        reason = "" if overlay_fs else "the kernel has no overlay file system; rootfs is copied"
        return Support(True, True, overlay_fs, False, mode, reason)
    why = _userns_probe()
    if why:
        return Support(False, False, False, False, "copy", why)
    ovl = overlay_fs and _kernel_at_least(5, 11)
    reason = "" if ovl else "overlay needs kernel >= 5.11 in a user namespace; rootfs is copied"
    ids = subids() is not None
    if not ids:
        reason = (reason + "; " if reason else "") + (
            "no /etc/subuid and /etc/subgid range (or no newuidmap/newgidmap): "
            "only container root is mapped"
        )
    return Support(False, True, ovl, ids, forced_rootfs() or ("overlay" if ovl else "copy"), reason)


def require(support: Support) -> None:
    """Raise :class:`UnsupportedError` when ``support`` says containers cannot run."""
    if not support.usable:
        raise UnsupportedError(
            f"cannot run a rootless container: {support.reason}; or run nbdocker as root"
        )
