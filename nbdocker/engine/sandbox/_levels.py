"""Isolation levels: which way of running a step this machine allows, strongest first.

1. ``namespaces``: mount, PID, UTS, IPC (and network) namespaces on an overlay (or copy) of the
   layers, as root or in a user namespace. Where the runtime masks ``/proc`` and a fresh proc
   is refused (a user namespace in a container), the existing ``/proc`` is bound instead.
2. ``chroot``: root without CAP_SYS_ADMIN and without user namespaces (a container's root with
   Docker's or Kubernetes' default capabilities): ``chroot(2)`` into a copy of the layers.
3. ``ptrace``: no root and no user namespaces (uid 1000 in a default container): PRoot's fake
   root (``proot -0``) over a copy of the layers; owners kept in extended attributes, and
   fakeroot (when installed) records what the step's programs chown, chmod and mknod.

:func:`select` probes (once per process) and picks; ``--isolation`` or ``NBDOCKER_ISOLATION``
asks for one, and a level the machine cannot give is an :class:`UnsupportedError` saying why.
The level chosen is also the *layer form* the engine's file work uses (:func:`current`): at
``chroot`` and ``ptrace`` what the kernel refuses (whiteout devices, ``trusted.*`` xattrs,
owners) is emulated with extended attributes (:mod:`nbdocker.engine.layer.emulated`), so those
layers live in their own cache directory.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

from ..errors import UsageError
from ..interpreter import helper_argv
from ..lazy import lazy_dataclass
from ..userns.ids import subids
from ._errors import SandboxError, UnsupportedError

if TYPE_CHECKING:
    import subprocess

Level = Literal["namespaces", "chroot", "ptrace"]
LEVELS: tuple[Level, ...] = ("namespaces", "chroot", "ptrace")
ISOLATION_ENV = "NBDOCKER_ISOLATION"
CHOICES = ("auto", *LEVELS)

_CAP_SYS_ADMIN = 21


@lazy_dataclass(frozen=True)
class LevelStatus:
    """One level on this machine: available or not, and ``detail``: why not, or a note."""

    level: Level
    available: bool
    detail: str = ""
    root_only: bool = False  # namespaces that could map container root alone (asked for: used)


@lazy_dataclass(frozen=True)
class Isolation:
    """The level a container or step runs at, and what was found about the stronger ones."""

    level: Level
    statuses: tuple[LevelStatus, ...]
    requested: str = "auto"
    bound_proc: bool = False
    root_only: bool = False  # rootless namespaces without the sub-id range

    @property
    def weaker(self) -> bool:
        """Weaker than namespaces: the notebook and the CLI say so."""
        return self.level != "namespaces"

    @property
    def emulated(self) -> bool:
        """Layers keep what the kernel refuses in extended attributes
        (:mod:`nbdocker.engine.layer.emulated`)."""
        return self.level != "namespaces"

    def explanation(self) -> str:
        """One line for people: the level, and why not a stronger one."""
        why = "; ".join(
            f"{s.level}: {s.detail}"
            for s in self.statuses
            if not s.available and LEVELS.index(s.level) < LEVELS.index(self.level)
        )
        what = {
            "namespaces": "namespaces",
            "chroot": "chroot (no PID, mount or network isolation; steps run as the "
            "container's root)",
            "ptrace": "ptrace (PRoot fake root: steps can see the host's processes and "
            "network; slower)",
        }[self.level]
        if self.requested != "auto":
            return f"{what}, as asked"
        return what + (f" — {why}" if why else "")


def _caps() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return 0


def run_module(module: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``main()`` of ``module`` (of this package, e.g. ``_probe``) in a fresh interpreter."""
    import subprocess  # only a probe runs one

    return subprocess.run(
        helper_argv(f"{__package__}.{module}", *args),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


@functools.lru_cache(maxsize=4)
def _kernel_probe(where: str) -> dict[str, object]:
    ranges: list[str] = []
    if os.geteuid() != 0:
        ids = subids()
        if ids is not None:
            ranges = [str(v) for v in (ids.uid_start, ids.uid_count, ids.gid_start, ids.gid_count)]
    import subprocess

    try:
        done = run_module("_probe", where, *ranges)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"error": f"cannot run the probe: {exc}"}
    try:
        result = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        return {"error": f"the probe failed: {tail[0]}"}
    result["ranges"] = bool(ranges)
    return cast(dict[str, object], result)


def proot_path() -> str | None:
    return shutil.which("proot")


def fakeroot_paths() -> tuple[str, str] | None:
    """(faked-sysv, the directory of libfakeroot-sysv.so), when Debian's fakeroot is here."""
    faked = shutil.which("faked-sysv")
    libs = sorted(glob.glob("/usr/lib/*/libfakeroot/libfakeroot-sysv.so"))
    libs += sorted(glob.glob("/usr/lib*/libfakeroot/libfakeroot-sysv.so"))
    if faked is None or not libs:
        return None
    return faked, str(Path(libs[0]).parent)


@functools.lru_cache(maxsize=1)
def _ptrace_probe() -> str:
    """'' when PRoot runs a program here (ptrace and seccomp allowed), else why not."""
    proot = proot_path()
    if proot is None:
        return "PRoot is not installed (apt-get install proot)"
    true = shutil.which("true") or "/bin/true"
    import subprocess

    try:
        done = run_module("_ptrace", "probe", proot, true, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run PRoot: {exc}"
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        return f"PRoot does not run here: {lines[-1] if lines else done.returncode}"
    return ""


def _status(level: Level, where: str) -> LevelStatus:
    root = os.geteuid() == 0
    if level == "ptrace":
        why = _ptrace_probe()
        if why:
            return LevelStatus(level, False, why)
        note = "" if fakeroot_paths() else "fakeroot is not installed: owners steps set are lost"
        return LevelStatus(level, True, note)
    probe = _kernel_probe(where)
    if "error" in probe:
        return LevelStatus(level, False, str(probe["error"]))
    if level == "namespaces":
        ns = cast(dict[str, str], probe["namespaces"])
        if "why" in ns:
            why = ns["why"]
            if not root:
                why += " (user namespaces are refused: seccomp, a sysctl or a security module)"
            return LevelStatus(level, False, why)
        note = "host /proc bound: a fresh proc is refused" if ns.get("proc") == "bound" else ""
        # Without a sub-id range only container root can be mapped: images with other owners
        # (apt's _apt, a USER) would fail, so a level that keeps every owner is taken unless
        # this one is asked for.
        refused = str(probe.get("subids") or "")
        if refused:
            why = (
                f"the sub-id range cannot be mapped here ({refused}; a container without "
                "CAP_SYS_ADMIN), and with container root alone images with other owners fail"
            )
            return LevelStatus(level, False, why, root_only=True)
        if not root and not probe.get("ranges"):
            why = (
                "this user has no sub-id range (/etc/subuid, /etc/subgid, with newuidmap), and "
                "with container root alone images with other owners fail; add one with "
                "usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER"
            )
            return LevelStatus(level, False, why, root_only=True)
        return LevelStatus(level, True, note)
    if not root:
        return LevelStatus(level, False, "needs root")
    ch = cast(dict[str, str], probe.get("chroot", {"why": "not probed"}))
    if "why" in ch:
        return LevelStatus(level, False, ch["why"])
    return LevelStatus(level, True)


def requested_level(requested: str | None) -> str:
    """``requested``, else ``$NBDOCKER_ISOLATION``, else ``auto``; checked."""
    value = (requested or os.environ.get(ISOLATION_ENV, "") or "auto").strip().lower()
    if value not in CHOICES:
        source = "--isolation" if requested else ISOLATION_ENV
        raise UsageError(f"{source} {value}: choose one of {', '.join(CHOICES)}")
    return value


def rootfs_mode(where: Path) -> tuple[str, str]:
    """("overlay", "") when the namespaces level can mount an overlay with its upper dir in
    ``where``'s file system, else ("copy", why not)."""
    probe = _kernel_probe(str(where))
    ns = cast(dict[str, str], probe.get("namespaces") or {})
    if "error" in probe or "why" in ns:
        return "copy", "no namespaces here"
    why = ns.get("overlay", "")
    return ("copy", why) if why else ("overlay", "")


def probe_all(where: Path) -> tuple[LevelStatus, ...]:
    """Every level's status here (for ``nbdocker info``)."""
    return tuple(_status(level, str(where)) for level in LEVELS)


def _fast_root() -> bool:
    """Root with CAP_SYS_ADMIN (a VM, a privileged container): namespaces without a probe."""
    return os.geteuid() == 0 and bool(_caps() & (1 << _CAP_SYS_ADMIN))


def select(requested: str | None = None, where: Path | None = None) -> Isolation:
    """The level to use: the one asked for, else the strongest available (probed once).

    ``where`` is a directory on the store's file system. Raises UnsupportedError when the
    level asked for, or every level, is unavailable, saying why."""
    wanted = requested_level(requested)
    place = str(where or Path(os.environ.get("TMPDIR", "/tmp")))
    if wanted in ("auto", "namespaces") and _fast_root():
        return Isolation("namespaces", (LevelStatus("namespaces", True),), wanted)
    statuses: list[LevelStatus] = []
    for level in LEVELS:
        if wanted != "auto" and level != wanted:
            continue
        status = _status(level, place)
        statuses.append(status)
        if status.available:
            bound = level == "namespaces" and status.detail.startswith("host /proc")
            return Isolation(level, tuple(statuses), wanted, bound)
        if status.root_only and wanted == "namespaces":
            probe = cast(dict[str, str], _kernel_probe(place)["namespaces"])
            return Isolation(level, tuple(statuses), wanted, probe.get("proc") == "bound", True)
    if wanted != "auto":
        raise UnsupportedError(
            f"isolation {wanted} is not available here: {statuses[0].detail}; "
            "use --isolation auto to take the strongest one that is"
        )
    reasons = "; ".join(f"{s.level}: {s.detail}" for s in statuses)
    raise UnsupportedError(f"cannot run containers here: {reasons}")


_current: list[Isolation] = []


def use(isolation: Isolation) -> None:
    """Make ``isolation`` the level of this process's container and layer work."""
    _current[:] = [isolation]


def current(where: Path | None = None) -> Isolation:
    """The level in use: the last one :func:`use` set, else :func:`select`'s choice."""
    if not _current:
        _current.append(select(None, where))
    return _current[0]


def layer_form(where: Path | None = None) -> Isolation | None:
    """The level in use, as file work on layers sees it (see ``userns.read_form_from``); None
    when no level is available here (then nothing runs in a container)."""
    try:
        return current(where)
    except UnsupportedError:
        return None


def level_for(requested: str | None, where: Path | None = None) -> Isolation:
    """:func:`select` for a verb that asked (or not) for a level, made current."""
    if requested is None and not os.environ.get(ISOLATION_ENV) and _current:
        return _current[0]
    isolation = select(requested, where)
    use(isolation)
    return isolation


__all__ = [
    "CHOICES",
    "ISOLATION_ENV",
    "LEVELS",
    "Isolation",
    "Level",
    "LevelStatus",
    "SandboxError",
    "current",
    "layer_form",
    "level_for",
    "probe_all",
    "rootfs_mode",
    "select",
    "use",
]
