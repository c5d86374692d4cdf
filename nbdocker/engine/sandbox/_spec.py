"""The sandbox's value types: what to run (:class:`SandboxSpec`) and what happened
(:class:`Started`); and what the caller, the helper and the container's PID 1 say to each other
(:class:`HelperConfig` and the messages), the seam a new isolation level extends."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal, NotRequired, TypedDict

from ..lazy import lazy_dataclass

RootfsMode = Literal["overlay", "copy"]

if TYPE_CHECKING:

    class HelperConfig(TypedDict):
        """What ``run()`` sends the helper (JSON, on its config fd): the spec with paths
        resolved, and how this machine runs it (``rootless``, ``rootfs``)."""

        layers: list[str]
        upper: str
        work: str
        argv: list[str]
        env: list[str]
        cwd: str
        user: str
        hostname: str
        network: str
        mounts: list[tuple[str, str, bool]]  # (host path, container path, read-only)
        tty: bool
        stdin: bool
        rootless: bool
        rootfs: RootfsMode | Literal["auto"]
        stop_timeout: float
        devpts_gid: int | None
        etc: dict[str, str]  # the generated /etc files by name

    class CopyRootConfig(TypedDict):
        """What ``run()`` sends the copy-root helper (``_copyroot``) at the ``chroot`` and
        ``ptrace`` levels: the spec with paths resolved, and the level's tools."""

        level: str
        layers: list[str]
        upper: str
        work: str
        argv: list[str]
        env: list[str]
        cwd: str
        user: str
        hostname: str
        mounts: list[tuple[str, str, bool]]  # (host path, container path, read-only)
        stop_timeout: float
        etc: dict[str, str]
        proot: str | None
        trash: str | None
        kept: str | None
        keep: bool
        fakeroot: tuple[str, str] | None  # (faked-sysv, libfakeroot's directory)

    class StartedInfo(TypedDict):
        rootfs: RootfsMode
        pid: int
        proc: NotRequired[str]  # "fresh", or "bound" (the host's /proc, see ``_rootfs``)

    class HelperMessage(TypedDict, total=False):
        """One line from the helper to the caller: ``userns`` (map my ids), then ``started``,
        then ``exit`` or ``error``."""

        userns: int
        started: StartedInfo
        exit: int
        error: str

    class ContainerMessage(TypedDict, total=False):
        """One line from the container's PID 1 to the helper, before it execs the command."""

        mode: RootfsMode
        proc: str
        pty: int
        error: str

else:  # at run time these are the dicts json makes: the names cost nothing to import
    HelperConfig = CopyRootConfig = StartedInfo = HelperMessage = ContainerMessage = dict


@lazy_dataclass(frozen=True)
class BindMount:
    """A host path made visible at ``target`` (an absolute path inside the container)."""

    source: Path
    target: str
    readonly: bool = False


@lazy_dataclass(frozen=True)
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


@lazy_dataclass(frozen=True)
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
