"""What this machine allows: root, user namespaces, overlay inside a user namespace, sub-ids.

:func:`check_support` never raises; it explains in ``Support.reason`` why something is missing
and what to enable. :func:`require` turns a missing capability into an :class:`UnsupportedError`.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

from ..lazy import lazy_dataclass
from ..userns.ids import subids
from ._errors import UnsupportedError
from ._spec import RootfsMode

ROOTFS_ENV = "NBDOCKER_SANDBOX_ROOTFS"


@lazy_dataclass(frozen=True)
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
