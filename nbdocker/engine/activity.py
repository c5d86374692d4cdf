"""What every process is doing on a store right now: one small record per running build or
transfer, in ``<store>/activity/``.

Kernels, the CLI and a Jupyter server are separate processes on one store; nothing else tells
one of them what the others are doing. So while :class:`~nbdocker.engine.Engine` builds, pulls,
pushes, imports or loads, it keeps ``activity/<pid>-<n>.json`` up to date with what that work
looks like so far (kind, title, step of steps, bytes done of total) and removes it when the work
ends, however it ends. A reader (the JupyterLab status bar, through the server extension) lists
the folder: each record is one piece of work running somewhere.

Guarantees:

- A record is replaced whole (temp file + rename in the same folder): a reader never sees half
  of one. It is not fsync'd: it describes a process, and means nothing after a crash or reboot.
- Writes are throttled: a writer thread rewrites a record at most every
  :data:`WRITE_INTERVAL` seconds, and only when it changed, so a fast transfer costs a few
  small writes a second, not one per chunk, and work over within that time (a fully cached
  build) writes nothing at all.
- A process that dies without removing its record (killed, crashed) leaves it behind, so each
  record names its process by PID, that process's start time and the machine's boot ID; a reader
  (:func:`running`) and every new record's writer remove records whose process is gone.
- Keeping the record never fails the work: an error writing or removing it (a full disk) is
  swallowed; the build or transfer goes on, and only the status elsewhere lacks it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, NotRequired, TypedDict, cast

from .events import BuildStarted, Event, Progress, StepStarted, TaskDone, TaskStarted

__all__ = [
    "FOLDER",
    "Activity",
    "WRITE_INTERVAL",
    "ActivityRecord",
    "process_alive",
    "running",
    "signature",
]

FOLDER = "activity"
WRITE_INTERVAL = 0.25  # seconds between two writes of one record
_STALE_TEMP = 60.0  # seconds after which a temp file left by a killed writer is removed
_serial = itertools.count(1)


if TYPE_CHECKING:

    class Activity(TypedDict):
        """One record as stored (JSON) and as :func:`running` returns it."""

        kind: str  # build | pull | push | import | load
        title: str
        pid: int
        process_start: int | None  # filled in by the first write
        boot_id: str
        program: str
        started: float
        step: int
        steps: int
        instruction: str
        done_bytes: int
        total_bytes: int
        id: NotRequired[str]  # the file's stem, added by running()


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _start_ticks(pid: int) -> int | None:
    """The process's start time (clock ticks after boot, /proc/PID/stat field 22), or None
    when there is no such process. With the PID it names one process across PID reuse."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    try:
        return int(stat[stat.rindex(b")") + 2 :].split()[19])
    except (ValueError, IndexError):
        return None


def _program() -> str:
    """The running program's name: ``nbdocker`` (also for ``python -m nbdocker``),
    ``ipykernel_launcher``, … — so a reader can say where the work runs."""
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path("python")
    if argv0.name == "__main__.py":
        return argv0.parent.name
    return argv0.stem if argv0.suffix == ".py" else argv0.name


def process_alive(record: Activity) -> bool:
    """Whether the process that wrote ``record`` still runs (same boot, same PID, same start)."""
    pid = record.get("pid")
    if not isinstance(pid, int):
        return False
    if record.get("boot_id") != _boot_id():
        return False
    return _start_ticks(pid) == record.get("process_start")


class _Keeper:
    """The one writer thread of a process: every :data:`WRITE_INTERVAL` seconds it writes the
    records that changed. It runs while records are open and ends with the last one, so an
    idle kernel has no thread waking it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.records: set[ActivityRecord] = set()
        self.thread: threading.Thread | None = None

    def add(self, record: ActivityRecord) -> None:
        with self.lock:
            self.records.add(record)
            if self.thread is None:
                self.thread = threading.Thread(
                    target=self._run, name="nbdocker-activity", daemon=True
                )
                self.thread.start()

    def discard(self, record: ActivityRecord) -> None:
        with self.lock:
            self.records.discard(record)

    def _run(self) -> None:
        while True:
            time.sleep(WRITE_INTERVAL)
            with self.lock:
                records = list(self.records)
                if not records:
                    self.thread = None
                    return
            for record in records:
                record.flush(due_only=True)


_keeper = _Keeper()


class ActivityRecord:
    """The record of one piece of work in this process: :meth:`apply` folds the engine's events
    into it; the process's writer thread puts it in the store every :data:`WRITE_INTERVAL`
    seconds while it changes; :meth:`end` removes it.

    Why a thread rather than writes from :meth:`apply`: a write (temp file, rename over the old
    record) costs about a millisecond, while a fully cached build emits all its events within a
    few milliseconds — it should pay nothing, and is over before anyone could see it. And a step
    that runs for minutes without a word is still on record, its start written within the
    interval, with no event needed to trigger it.
    """

    def __init__(self, home: Path, kind: str, title: str) -> None:
        self.folder = home / FOLDER
        pid = os.getpid()
        self.path = self.folder / f"{pid}-{next(_serial)}.json"
        self.data: Activity = {
            "kind": kind,
            "title": title,
            "pid": pid,
            "process_start": None,
            "boot_id": "",
            "program": _program(),
            "started": time.time(),
            "step": 0,
            "steps": 0,
            "instruction": "",
            "done_bytes": 0,
            "total_bytes": 0,
        }
        self._began = time.monotonic()
        self._items: dict[str, tuple[int, int | None]] = {}
        self._lock = threading.Lock()
        self._changed = True
        self._written = False
        self._ended = False

    def begin(self) -> ActivityRecord:
        """Start keeping the record (first written once it has run :data:`WRITE_INTERVAL`)."""
        _keeper.add(self)
        return self

    def apply(self, event: Event) -> None:
        """Fold one event in (cheap: the writer thread puts it in the store)."""
        with self._lock:
            data = self.data
            if isinstance(event, BuildStarted):
                data["steps"] = event.total
            elif isinstance(event, StepStarted):
                data["step"], data["steps"] = event.step, event.total
                data["instruction"] = event.instruction
            elif isinstance(event, TaskStarted):
                self._items[event.item] = (0, event.total)
            elif isinstance(event, Progress):
                self._items[event.item] = (event.done, event.total)
            elif isinstance(event, TaskDone):
                done, total = self._items.get(event.item, (0, None))
                if total is not None:
                    self._items[event.item] = (total, total)
            else:
                return
            if self._items:
                data["done_bytes"] = sum(done for done, _ in self._items.values())
                data["total_bytes"] = sum(total or 0 for _, total in self._items.values())
            self._changed = True

    def flush(self, *, due_only: bool = False) -> None:
        """Write the record now if it changed since its last write (with ``due_only``, not
        before it has run :data:`WRITE_INTERVAL`). Never after :meth:`end`."""
        with self._lock:
            if self._ended or not self._changed:
                return
            if due_only and time.monotonic() - self._began < WRITE_INTERVAL:
                return
            self._changed = False
            if not self._written:
                self.data["process_start"] = _start_ticks(self.data["pid"])
                self.data["boot_id"] = _boot_id()
                with contextlib.suppress(OSError):
                    self.folder.mkdir(exist_ok=True)
                    _sweep(self.folder)
            tmp = self.folder / f".tmp-{self.path.name}"
            with contextlib.suppress(OSError):
                with open(tmp, "wb") as f:
                    f.write(json.dumps(self.data).encode())
                os.replace(tmp, self.path)
                self._written = True

    def end(self) -> None:
        """The work is over (done, failed or interrupted): the record goes."""
        _keeper.discard(self)
        with self._lock:
            self._ended = True
            if self._written:
                with contextlib.suppress(OSError):
                    self.path.unlink()


def _read(path: Path) -> Activity | None:
    """A record as written by :class:`ActivityRecord`, or None (gone, torn, not ours): a
    reader checks the fields it relies on, the PID by :func:`process_alive`."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return cast("Activity", data) if isinstance(data, dict) else None


def _sweep(folder: Path) -> None:
    """Remove the records of processes that are gone and temp files their writers left."""
    now = time.time()
    for name in os.listdir(folder):
        path = folder / name
        with contextlib.suppress(OSError):
            if name.startswith(".tmp-"):
                if now - path.stat().st_mtime > _STALE_TEMP:
                    path.unlink()
            elif name.endswith(".json"):
                record = _read(path)
                if record is not None and not process_alive(record):
                    path.unlink()


def running(home: Path) -> list[Activity]:
    """Every piece of work running on the store at ``home``, oldest first, each record with its
    ``id`` (the file's stem); the records of dead processes are removed on the way."""
    folder = home / FOLDER
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    out: list[Activity] = []
    for name in names:
        if name.startswith(".") or not name.endswith(".json"):
            continue
        path = folder / name
        record = _read(path)
        if record is None:  # gone since the listing
            continue
        if not process_alive(record):
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        record["id"] = name[: -len(".json")]
        out.append(record)
    out.sort(key=lambda r: float(r.get("started") or 0))
    return out


def signature(home: Path) -> tuple[tuple[str, int, int], ...]:
    """What changes whenever a record appears, changes or goes (stat calls only)."""
    folder = home / FOLDER
    try:
        names = sorted(n for n in os.listdir(folder) if not n.startswith("."))
    except OSError:
        return ()
    parts: list[tuple[str, int, int]] = []
    for name in names:
        try:
            st = os.stat(folder / name)
        except OSError:
            continue
        parts.append((name, st.st_mtime_ns, st.st_ino))
    return tuple(parts)
