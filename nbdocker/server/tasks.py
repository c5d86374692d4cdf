"""Builds and pushes the server runs for the lab (the editor's Build button, the panel's Push).

Each runs on a worker thread with its own :class:`~nbdocker.engine.Engine`; the engine's events
are folded into a :class:`Task` — a JSON-ready record of what the work looks like so far — and
every change is handed to ``publish`` (the websocket hub), at most every
:data:`PUBLISH_INTERVAL` seconds for byte progress so a fast transfer does not flood the
browser. A build's log is Docker's classic text (the CLI's own renderer), so the panel reads
``Step 1/3 : FROM …`` … ``Successfully built <id>`` as a terminal would.

A task ends ``done`` or ``failed`` (with the engine's one-line message); the engine guarantees
that a failed build or push names nothing. Finished tasks are kept (the last
:data:`KEEP_FINISHED`) so a page opened later still shows them.
"""

from __future__ import annotations

import io
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..cli.build_output import ClassicOutput
from ..engine import BuildOptions, Engine, NbdockerError
from ..engine.events import (
    BuildFailed,
    BuildStarted,
    Event,
    Progress,
    StepDone,
    StepStarted,
    TaskDone,
    TaskStarted,
)

__all__ = ["Task", "TaskRunner"]

PUBLISH_INTERVAL = 0.2
KEEP_FINISHED = 20
MAX_LOG = 5000  # lines of a build's log kept (the newest)


class _Lines(io.StringIO):
    """A text stream that appends whole lines to a task's log."""

    def __init__(self, task: Task) -> None:
        super().__init__()
        self.task = task
        self.pending = ""

    def write(self, text: str, /) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self.task.add_line(line)
        return len(text)


class Task:
    """One build or push: its kind, what it works on, its state and progress so far."""

    def __init__(self, task_id: str, kind: str, title: str) -> None:
        self.id = task_id
        self.kind = kind  # "build" | "push"
        self.title = title
        self.status = "running"  # running | done | failed
        self.message = ""
        self.result = ""  # the image ID a build made, the digests a push sent
        self.step = 0
        self.steps = 0
        self.instruction = ""
        self.done_bytes = 0
        self.total_bytes = 0
        self.items: dict[str, dict[str, Any]] = {}  # per layer of a transfer
        self.log: list[str] = []
        self.started = time.time()
        self.finished: float | None = None
        self.lock = threading.Lock()

    def add_line(self, line: str) -> None:
        self.log.append(line)
        del self.log[:-MAX_LOG]

    def apply(self, event: Event) -> None:
        """Fold one engine event into the record."""
        with self.lock:
            if isinstance(event, BuildStarted):
                self.steps = event.total
            elif isinstance(event, StepStarted):
                self.step, self.steps, self.instruction = event.step, event.total, event.instruction
            elif isinstance(event, StepDone):
                self.step = event.step
            elif isinstance(event, BuildFailed):
                self.add_line(event.message)
            elif isinstance(event, TaskStarted):
                self.items[event.item] = {"done": 0, "total": event.total, "status": "Waiting"}
            elif isinstance(event, Progress):
                item = self.items.setdefault(event.item, {"status": ""})
                item.update(done=event.done, total=event.total, status="Pushing")
            elif isinstance(event, TaskDone):
                item = self.items.setdefault(event.item, {"done": 0, "total": None})
                item["status"] = event.result
                if event.result and event.task == "push":
                    self.add_line(f"{event.item}: {event.result}")
            known = [i for i in self.items.values() if i.get("total")]
            self.done_bytes = sum(int(i.get("done") or 0) for i in known)
            self.total_bytes = sum(int(i.get("total") or 0) for i in known)

    def finish(self, status: str, message: str = "", result: str = "") -> None:
        with self.lock:
            self.status, self.message, self.result = status, message, result
            self.finished = time.time()
            if message and status == "failed" and (not self.log or self.log[-1] != message):
                self.add_line(message)

    def to_json(self, *, log: bool = True) -> dict[str, Any]:
        with self.lock:
            data: dict[str, Any] = {
                "id": self.id,
                "kind": self.kind,
                "title": self.title,
                "status": self.status,
                "message": self.message,
                "result": self.result,
                "step": self.step,
                "steps": self.steps,
                "instruction": self.instruction,
                "done_bytes": self.done_bytes,
                "total_bytes": self.total_bytes,
                "started": self.started,
                "finished": self.finished,
            }
            if log:
                data["log"] = list(self.log)
            return data


class TaskRunner:
    """Runs tasks on worker threads and reports every change through ``publish(task)``.

    ``publish`` is called on the worker thread: the caller makes it thread-safe (the hub hands
    it to the server's event loop).
    """

    def __init__(self, publish: Callable[[Task], None], workers: int = 2) -> None:
        self.publish = publish
        self.tasks: dict[str, Task] = {}
        self._ids = itertools.count(1)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nbdocker-task")
        self._lock = threading.Lock()

    def list(self) -> list[Task]:
        with self._lock:
            return list(self.tasks.values())

    def get(self, task_id: str) -> Task | None:
        with self._lock:
            return self.tasks.get(task_id)

    def _new(self, kind: str, title: str) -> Task:
        with self._lock:
            task = Task(f"{kind}-{next(self._ids)}", kind, title)
            self.tasks[task.id] = task
            finished = [t for t in self.tasks.values() if t.status != "running"]
            for old in finished[:-KEEP_FINISHED]:
                del self.tasks[old.id]
            return task

    def _sink(
        self, task: Task, also: Callable[[Event], None] | None = None
    ) -> Callable[[Event], None]:
        last = 0.0

        def sink(event: Event) -> None:
            nonlocal last
            task.apply(event)
            if also is not None:
                also(event)
            now = time.monotonic()
            if not isinstance(event, Progress) or now - last >= PUBLISH_INTERVAL:
                last = now
                self.publish(task)

        return sink

    def build(self, dockerfile: Path, tags: tuple[str, ...], *, no_cache: bool = False) -> Task:
        """Build ``dockerfile`` with its directory as the context, naming the result ``tags``."""
        title = ", ".join(tags) or dockerfile.name
        task = self._new("build", title)
        classic = ClassicOutput(_Lines(task), explain=True)

        def run() -> None:
            engine = Engine(on_event=self._sink(task, classic))
            options = BuildOptions(tags=tags, dockerfile=str(dockerfile), no_cache=no_cache)
            try:
                image = engine.build(str(dockerfile.parent), options)
            except NbdockerError as exc:
                task.finish("failed", str(exc))
            except Exception as exc:  # a bug: say so in the panel rather than hang "running"
                task.finish("failed", f"internal error: {exc!r}")
            else:
                task.finish("done", f"Successfully built {image.short_id}", image.id)
            self.publish(task)

        self.publish(task)
        self._pool.submit(run)
        return task

    def push(self, reference: str) -> Task:
        """Push ``reference`` (a tag, or every tag of a repository) to its registry."""
        task = self._new("push", reference)
        task.add_line(f"The push refers to repository [{reference}]")

        def run() -> None:
            engine = Engine(on_event=self._sink(task))
            try:
                results = engine.push(reference)
            except NbdockerError as exc:
                task.finish("failed", str(exc))
            except Exception as exc:
                task.finish("failed", f"internal error: {exc!r}")
            else:
                for r in results:
                    task.add_line(f"{r.reference.familiar}: digest: {r.digest} size: {r.size}")
                task.finish(
                    "done",
                    f"pushed {len(results)} tag{'s' if len(results) != 1 else ''}",
                    " ".join(r.digest for r in results),
                )
            self.publish(task)

        self.publish(task)
        self._pool.submit(run)
        return task

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
