"""The store's activity records: what a build or transfer in any process looks like while it
runs, gone when it ends, and never kept for a process that died without removing it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from nbdocker.engine import Engine, NbdockerError
from nbdocker.engine.activity import ActivityRecord, running
from nbdocker.engine.events import BuildStarted, Progress, StepStarted, TaskDone, TaskStarted


class _Watched(io.RawIOBase):
    """A tarball read by an import that, past its first MiB, waits until the store's activity
    shows the import with bytes done — what another process would see — and keeps it."""

    def __init__(self, path: Path, home: Path) -> None:
        self.file = path.open("rb")
        self.home = home
        self.seen: list[dict[str, Any]] = []

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self.seen and self.file.tell() >= 1 << 20:
            deadline = time.monotonic() + 30
            while not self.seen and time.monotonic() < deadline:
                self.seen = [r for r in running(self.home) if r["done_bytes"] > 0]
                time.sleep(0.02)
        return self.file.readinto(buffer)


def test_an_import_is_on_record_with_its_bytes_while_it_runs(
    nbdocker_home: Path, tmp_path: Path
) -> None:
    tarball = tmp_path / "big.tar"
    with tarfile.open(tarball, "w") as tar:
        data = os.urandom(3 << 20)
        info = tarfile.TarInfo("payload.bin")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    source = _Watched(tarball, nbdocker_home)
    with source.file:
        Engine(nbdocker_home).import_image(io.BufferedReader(source, 1 << 16), "big:1")
    (record,) = source.seen
    assert (record["kind"], record["title"], record["pid"]) == ("import", "-", os.getpid())
    assert record["program"] and record["process_start"]
    assert running(nbdocker_home) == []
    assert [p.name for p in (nbdocker_home / "activity").iterdir()] == []


def test_a_record_follows_the_steps_and_bytes_it_is_told(nbdocker_home: Path) -> None:
    record = ActivityRecord(nbdocker_home, "build", "web:1")
    record.apply(BuildStarted("ctx", 0, 3))
    record.apply(StepStarted(2, 3, "RUN make", "0", "Dockerfile:2"))
    record.apply(TaskStarted("pull", "a1", 100))
    record.apply(Progress("pull", "a1", 40, 100))
    record.apply(TaskStarted("pull", "b2", 300))
    record.flush()
    (seen,) = running(nbdocker_home)
    assert (seen["step"], seen["steps"], seen["instruction"]) == (2, 3, "RUN make")
    assert (seen["done_bytes"], seen["total_bytes"]) == (40, 400)
    record.apply(TaskDone("pull", "a1", "Pull complete"))
    record.flush()
    assert running(nbdocker_home)[0]["done_bytes"] == 100
    record.end()
    assert running(nbdocker_home) == []


def test_a_failed_build_leaves_no_record(nbdocker_home: Path, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM no/such:image\n")
    with pytest.raises(NbdockerError):
        Engine(nbdocker_home).build(str(tmp_path))
    assert running(nbdocker_home) == []
    folder = nbdocker_home / "activity"
    assert not folder.exists() or list(folder.iterdir()) == []


def _record_of(pid: int, home: Path) -> Path:
    """A record as this process writes it, but naming ``pid``: as if that process had left it."""
    record = ActivityRecord(home, "pull", "busybox")
    record.flush()
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
    record = ActivityRecord(nbdocker_home, "build", "web:1")
    record.flush()
    try:
        assert not stale.exists()
        assert [r["title"] for r in running(nbdocker_home)] == ["web:1"]
    finally:
        record.end()
