"""Live events for the lab: a hub that fans JSON messages out to the websockets, and the
watcher that notices when the store changed, whoever changed it.

Kernels and the CLI are other processes: they tell no one when they tag, build, commit or
remove. The store itself tells: ``index.json`` is replaced (a new inode) on every change of
names, and each container's ``container.json`` is rewritten when it is created, starts, exits
or goes. :class:`StoreWatcher` stats those few files every :data:`POLL_SECONDS` and, when their
signature moved, the hub sends ``{"type": "store"}``; the panel then reloads. Stat calls only —
no reading, no locking — so a watcher never slows or blocks a writer.

Messages (JSON objects, each with ``type``):

- ``hello`` — on connect: ``tasks`` (every task this server knows, with logs);
- ``store`` — the store's images or containers changed;
- ``task`` — ``task``: a build or push this server runs changed (progress, log, end);
- ``activity`` — ``activity``: the builds and transfers running now on the store, in any
  process (a kernel, the CLI, this server), each with its progress and ``where`` it runs; sent
  on connect too. The engine keeps one record per piece of work in the store's ``activity/``
  folder (:mod:`nbdocker.engine.activity`); :class:`ActivityWatcher` reads them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tornado.websocket import WebSocketClosedError

from ..engine import activity

if TYPE_CHECKING:
    from ..engine.activity import Activity

__all__ = ["ActivityWatcher", "Hub", "StoreWatcher", "public_record", "store_signature"]

POLL_SECONDS = 0.5


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def store_signature(home: Path) -> tuple[Any, ...]:
    """What changes whenever the store's names or containers change (see the module doc)."""
    parts: list[Any] = [_stat(home / "index.json")]
    containers = home / "containers"
    try:
        names = sorted(os.listdir(containers))
    except OSError:
        names = []
    for name in names:
        parts.append((name, _stat(containers / name / "container.json")))
    return tuple(parts)


class Hub:
    """The open event sockets; ``send`` writes a message to each (on the event loop)."""

    def __init__(self) -> None:
        self.sockets: set[Any] = set()

    def send(self, message: dict[str, Any]) -> None:
        text = json.dumps(message)
        for socket in list(self.sockets):
            try:
                socket.write_message(text)
            except WebSocketClosedError:  # closing under us: it leaves on its own close too
                self.sockets.discard(socket)


class StoreWatcher:
    """Calls ``changed()`` when the store's signature moves (checked by ``poll``)."""

    def __init__(self, home: Path, changed: Callable[[], None]) -> None:
        self.home = home
        self.changed = changed
        self.signature = store_signature(home)

    def poll(self) -> None:
        signature = store_signature(self.home)
        if signature != self.signature:
            self.signature = signature
            self.changed()


# What of an activity record the browser gets (the rest says which process, for liveness).
_PUBLIC = (
    "id",
    "kind",
    "title",
    "step",
    "steps",
    "instruction",
    "done_bytes",
    "total_bytes",
    "started",
    "pid",
    "program",
)


def public_record(record: Activity) -> dict[str, Any]:
    return {key: record.get(key) for key in _PUBLIC}


class ActivityWatcher:
    """Calls ``changed(records)`` when the work running on the store changes: a record
    appears, moves on or goes — or its process died without removing it, which a signature
    cannot show, so while any record exists every ``poll`` reads them (a few small files) and
    checks their processes."""

    def __init__(self, home: Path, changed: Callable[[list[dict[str, Any]]], None]) -> None:
        self.home = home
        self.changed = changed
        self.records: list[dict[str, Any]] = []

    def poll(self) -> None:
        if not activity.signature(self.home) and not self.records:
            return
        records = [public_record(r) for r in activity.running(self.home)]
        if records != self.records:
            self.records = records
            self.changed(records)
