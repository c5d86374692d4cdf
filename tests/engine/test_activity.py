"""The store's activity records: what a build or transfer in any process looks like while it
runs, gone when it ends, and never kept for a process that died without removing it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nbdocker.engine import Engine, NbdockerError, activity
from nbdocker.engine.activity import ActivityRecord, running
from nbdocker.engine.events import Event, Progress


def test_an_import_is_on_record_with_its_bytes_while_it_runs(
    nbdocker_home: Path, busybox_tarball: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(activity, "WRITE_INTERVAL", 0)  # every chunk on record, to see them
    seen: list[list[dict[str, Any]]] = []

    def look(event: Event) -> None:
        if isinstance(event, Progress):
            seen.append(running(nbdocker_home))

    Engine(nbdocker_home, on_event=look).import_image(busybox_tarball, "base:1")
    assert seen and all(len(records) == 1 for records in seen)
    first, last = seen[0][0], seen[-1][0]
    assert (first["kind"], first["title"], first["pid"]) == (
        "import",
        busybox_tarball.name,
        os.getpid(),
    )
    assert last["total_bytes"] == busybox_tarball.stat().st_size
    assert 0 < last["done_bytes"] <= last["total_bytes"]
    assert [r[0]["done_bytes"] for r in seen] == sorted(r[0]["done_bytes"] for r in seen)
    assert running(nbdocker_home) == []
    assert [p.name for p in (nbdocker_home / "activity").iterdir()] == []


def test_a_failed_build_leaves_no_record(nbdocker_home: Path, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM no/such:image\n")
    with pytest.raises(NbdockerError):
        Engine(nbdocker_home).build(str(tmp_path))
    assert running(nbdocker_home) == []
    assert list((nbdocker_home / "activity").iterdir()) == []


def _record_of(pid: int, home: Path) -> Path:
    """A record as this process writes it, but naming ``pid``: as if that process had left it."""
    record = ActivityRecord(home, "pull", "busybox").begin()
    data = json.loads(record.path.read_text())
    record.end()
    data["pid"] = pid
    path = home / "activity" / f"{pid}-1.json"
    path.write_text(json.dumps(data))
    return path


def test_the_record_of_a_process_that_died_is_removed(nbdocker_home: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # its PID names no process now
    stale = _record_of(child.pid, nbdocker_home)
    assert running(nbdocker_home) == []
    assert not stale.exists()


def test_a_reused_pid_does_not_keep_a_dead_record(nbdocker_home: Path) -> None:
    """PID 1 is alive, but started long before this record's process: not the writer."""
    stale = _record_of(1, nbdocker_home)
    assert running(nbdocker_home) == []
    assert not stale.exists()


def test_a_new_record_sweeps_the_dead_ones(nbdocker_home: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    stale = _record_of(child.pid, nbdocker_home)
    record = ActivityRecord(nbdocker_home, "build", "web:1").begin()
    try:
        assert not stale.exists()
        assert [r["title"] for r in running(nbdocker_home)] == ["web:1"]
    finally:
        record.end()
