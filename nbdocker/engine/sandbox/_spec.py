"""The sandbox's value types: what to run (:class:`SandboxSpec`) and what happened."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

RootfsMode = Literal["overlay", "copy"]


@dataclass(frozen=True)
class BindMount:
    """A host path made visible at ``target`` (an absolute path inside the container)."""

    source: Path
    target: str
    readonly: bool = False


@dataclass(frozen=True)
class SandboxSpec:
    """Everything :func:`run` needs.

    ``layers`` are unpacked layer directories, bottom-most first (image order), never written.
    ``upper`` receives the container's changes in overlayfs form (whiteouts are 0:0 character
    devices, opaque directories carry ``trusted.overlay.opaque`` or, rootless,
    ``user.overlay.opaque``). ``work`` is the sandbox's scratch directory on the same file system
    as ``upper``: the overlay workdir, generated ``/etc`` files and, in copy mode, the rootfs copy
    live below it during a run and are removed afterwards.
    """

    layers: tuple[Path, ...]
    upper: Path
    work: Path
    argv: tuple[str, ...]
    env: tuple[str, ...] = ()
    cwd: str = "/"
    user: str = ""
    hostname: str = ""
    network: Literal["host", "none"] = "host"
    mounts: tuple[BindMount, ...] = ()
    tty: bool = False
    stdin: bool = False
    trash: Path | None = None  # where the copy levels move scratch files to remove them later
    # The chroot and ptrace levels start from a root copy kept there (see ``_kept``) when one
    # holds the first of ``layers``; with ``keep_root`` this run's root is parked there for the
    # caller to name with ``name_kept_root`` once ``upper`` is stored as a layer.
    kept_roots: Path | None = None
    keep_root: bool = False


@dataclass(frozen=True)
class Started:
    """Reported (through ``run(..., on_start=)``) once the container's root is set up.

    ``rootfs`` says whether the root is an overlay mount or a copy (the fallback when overlay
    cannot be mounted); ``rootless`` whether a user namespace maps container root to the caller;
    ``subids`` whether uids/gids 1..65536 are mapped to the caller's subordinate range;
    ``isolation`` the level it runs at (see :mod:`._levels`) and ``proc`` whether its ``/proc``
    is a fresh one or the host's bound (where a fresh one is refused).
    """

    rootfs: RootfsMode
    rootless: bool
    subids: bool
    pid: int
    isolation: str = "namespaces"
    proc: str = "fresh"
