"""``nbdocker info``: where the store is, how containers run here, and the versions in play.

Docker's ``docker info`` answers "what will my containers get on this machine"; so does this,
for nbdocker: the isolation level in use and, one line each, why the stronger ones are not
available; overlay or copy; rootless or not and the sub-id range; the layer compression; the
versions of nbdocker, Python, the kernel and the helpers the weaker levels use.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from . import sandbox, trees
from .lazy import lazy_dataclass
from .userns.ids import subids

if TYPE_CHECKING:
    from .sandbox import LevelStatus

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
    for dirpath, _dirs, files in trees.walk(root):  # os.walk recurses (Python 3.11)
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
            except OSError:
                continue
    return total


def _version(argv: list[str], pattern: str) -> str:
    import subprocess  # only ``info`` asks the helpers' versions

    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    found = re.search(pattern, done.stdout + done.stderr)
    return found.group(1) if found else ""


def _versions() -> tuple[tuple[str, str], ...]:
    import platform
    from importlib import metadata

    try:
        version = metadata.version("nbdocker")
    except metadata.PackageNotFoundError:
        version = "unknown"
    out = [
        ("nbdocker", version),
        ("python", platform.python_version()),
        ("kernel", platform.release()),
    ]
    proot = sandbox.proot_path()
    if proot:
        out.append(("proot", _version([proot, "--version"], r"(\d+\.\d+(?:\.\d+)?)") or "?"))
    fake = sandbox.fakeroot_paths()
    if fake:
        out.append(("fakeroot", _version([fake[0], "--version"], r"(\d+\.\d+(?:\.\d+)?)") or "?"))
    return tuple(out)


def system_info(
    root: Path, compression: str, *, images: int, containers: int, running: int
) -> SystemInfo:
    """What ``info`` says of the store at ``root`` (holding ``images`` images and
    ``containers`` containers, ``running`` of them running) and of this machine: probes every
    level; never raises for a missing level (it is reported instead)."""
    levels = sandbox.probe_all(root)
    form = sandbox.layer_form(root)
    isolation = form.level if form is not None else ""
    mode, note = sandbox.rootfs_mode(root) if isolation == "namespaces" else ("copy", "")
    if isolation and isolation != "namespaces":
        note = (
            f"the {isolation} level copies the layers; a build step starts from the root "
            "the step before it left"
        )
    rootless = os.geteuid() != 0
    ids = subids() if rootless else None
    span = f"{ids.uid_start}-{ids.uid_start + ids.uid_count - 1}" if ids else ""
    return SystemInfo(
        store=root,
        store_size=_size(root) if root.exists() else 0,
        images=images,
        containers=containers,
        running=running,
        isolation=isolation,
        levels=levels,
        rootfs=mode,
        rootfs_note=note,
        rootless=rootless,
        subids=span,
        compression=compression,
        versions=_versions(),
    )
