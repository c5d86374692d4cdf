"""What killed commands leave in a store, and how to tell it from the work of live ones.

Every file or folder a command makes for the length of its work only — a build's scratch folder
(``builds/``), a blob being written (``ingest/``), a layer being unpacked (``layers/.tmp-…``), a
file being replaced whole (``.tmp-…`` beside it) — carries the ID of the process that made it in
its name (:func:`owned_name`). The command removes it when it ends, however it ends, except when
it is killed (SIGKILL, a power cut). Such a name whose process is gone is a leftover
(:func:`owner_gone`); a name whose process still runs is live work and is never touched.

A PID can be reused by an unrelated process: then a leftover looks live and waits for a later
sweep. The mistake goes that one way only: nothing a live process writes is ever called a
leftover. Names without a PID (made by versions that did not write one) in ``builds/`` are
leftovers too: no command of this version makes them.

Lock files (``layers/.lock-…``) carry no PID: one is a leftover when nobody holds it
(:func:`remove_unheld_lock`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "BUILDS",
    "TEMP",
    "dead_builds",
    "find_leftovers",
    "owned_name",
    "owner_gone",
    "remove_unheld_lock",
]

BUILDS = "builds"  # builds' scratch folders: <pid>-<random> and context-<pid>-<random>
TEMP = ".tmp-"  # files written whole (atomic.py) and layers being unpacked (layer.unpacked)
_CONTEXT = "context-"


def owned_name(prefix: str = "") -> str:
    """A new name for scratch work of this process: ``<prefix><pid>-<random>``."""
    return f"{prefix}{os.getpid()}-{os.urandom(6).hex()}"


def _pid_of(name: str) -> int | None:
    head = name.split("-", 1)[0]
    return int(head) if head.isdigit() else None


def _alive(pid: int) -> bool:
    return pid == os.getpid() or os.path.exists(f"/proc/{pid}")


def owner_gone(name: str, prefix: str = "") -> bool:
    """Whether ``name`` (``<prefix><pid>-…``) was made by a process that no longer runs."""
    if not name.startswith(prefix):
        return False
    pid = _pid_of(name[len(prefix) :])
    return pid is not None and not _alive(pid)


def remove_unheld_lock(path: Path) -> bool:
    """Remove a lock file unless someone holds it (they made it; it goes next time); whether it
    was removed. The holders re-check their file after locking (see ``LayerCache._lock``)."""
    with contextlib.suppress(FileNotFoundError), open(path, "rb") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        path.unlink()
        return True
    return False


def _entries(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []


def _build_leftover(name: str) -> bool:
    rest = name[len(_CONTEXT) :] if name.startswith(_CONTEXT) else name
    pid = _pid_of(rest)
    return pid is None or not _alive(pid)


def dead_builds(root: Path) -> Iterator[Path]:
    """The scratch folders in ``<root>/builds`` of builds that no longer run."""
    for entry in _entries(root / BUILDS):
        if _build_leftover(entry.name):
            yield entry


def find_leftovers(root: Path) -> Iterator[Path]:
    """Every leftover of a killed command in the store at ``root`` (see the module docstring):
    scratch folders of builds that no longer run, ingest files nobody writes, half-unpacked
    layers, temp files of interrupted whole-file writes. Lock files are not listed (a held one
    is not a leftover, and whether it is held changes from one moment to the next)."""
    yield from dead_builds(root)
    for entry in _entries(root / "ingest"):
        if owner_gone(entry.name):
            yield entry
    places = [root, root / "blobs" / "sha256", root / "meta" / "layers", root / "meta" / "cache"]
    places += [root / "layers", root / "layers.emulated"]
    places += [c for c in _entries(root / "containers") if c.is_dir()]
    for folder in places:
        for entry in _entries(folder):
            if owner_gone(entry.name, TEMP):
                yield entry
