"""``nbdocker info``: where the store is, how containers run here, and the versions in play.

Docker's ``docker info`` answers "what will my containers get on this machine"; so does this,
for nbdocker: the isolation level in use and, one line each, why the stronger ones are not
available; overlay or copy; rootless or not and the sub-id range; the layer compression; the
versions of nbdocker, Python, the kernel and the helpers the weaker levels use.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from .lazy_dataclasses import lazy_dataclass

if TYPE_CHECKING:
    from .engine import Engine
    from .sandbox._levels import LevelStatus

__all__ = ["SystemInfo", "system_info"]


@lazy_dataclass(frozen=True)
class SystemInfo:
    """What ``info`` reports. ``levels`` lists every level, strongest first; ``isolation`` is
    the one in use (or ``""`` when none is available)."""

    store: Path
    store_size: int
    images: int
    containers: int
    running: int
    isolation: str
    levels: tuple[LevelStatus, ...]
    rootfs: str  # overlay | copy
    rootfs_note: str
    rootless: bool
    subids: str  # "100000-165535", or "" when none
    compression: str
    versions: tuple[tuple[str, str], ...]


def _size(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
            except OSError:
                continue
    return total


def _version(argv: list[str], pattern: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    found = re.search(pattern, done.stdout + done.stderr)
    return found.group(1) if found else ""


def _versions() -> tuple[tuple[str, str], ...]:
    from .. import __version__
    from .sandbox._levels import fakeroot_paths, proot_path

    out = [
        ("nbdocker", __version__),
        ("python", platform.python_version()),
        ("kernel", platform.release()),
    ]
    proot = proot_path()
    if proot:
        out.append(("proot", _version([proot, "--version"], r"(\d+\.\d+(?:\.\d+)?)") or "?"))
    fake = fakeroot_paths()
    if fake:
        out.append(("fakeroot", _version([fake[0], "--version"], r"(\d+\.\d+(?:\.\d+)?)") or "?"))
    return tuple(out)


def system_info(engine: Engine) -> SystemInfo:
    """Probe and count; never raises for a missing level (it is reported instead)."""
    from .sandbox._errors import UnsupportedError
    from .sandbox._levels import current, probe_all, rootfs_mode
    from .sandbox._support import subids

    root = engine.store.root
    levels = probe_all(root)
    isolation: str
    try:
        isolation = current(root).level
    except UnsupportedError:
        isolation = ""
    mode, note = rootfs_mode(root) if isolation == "namespaces" else ("copy", "")
    if isolation and isolation != "namespaces":
        note = (
            f"the {isolation} level copies the layers; a build step starts from the root "
            "the step before it left"
        )
    rootless = os.geteuid() != 0
    ids = subids() if rootless else None
    span = f"{ids.uid_start}-{ids.uid_start + ids.uid_count - 1}" if ids else ""
    containers = engine.ps(all=True)
    return SystemInfo(
        store=root,
        store_size=_size(root) if root.exists() else 0,
        images=len({row.id for row in engine.images(all=True)}),
        containers=len(containers),
        running=sum(1 for c in containers if c.state == "running"),
        isolation=isolation,
        levels=levels,
        rootfs=mode,
        rootfs_note=note,
        rootless=rootless,
        subids=span,
        compression=engine.compression,
        versions=_versions(),
    )
