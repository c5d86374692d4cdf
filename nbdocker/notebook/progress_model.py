"""What the notebook's progress displays know: pure state folded from engine events.

:class:`BuildState` and :class:`TransferState` take the engine's typed events
(:mod:`nbdocker.engine.events`) one by one and keep what a build or a pull/push looks like so
far. They import neither IPython nor ipywidgets: :mod:`.display` renders them as text and HTML,
:mod:`.widgets` as live widgets, and tests assert on them directly.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from ..engine.events import (
    BuildFailed,
    BuildFinished,
    BuildStarted,
    Event,
    Progress,
    StepCached,
    StepDone,
    StepLog,
    StepMiss,
    StepStarted,
    TaskDone,
    TaskStarted,
)

__all__ = ["BuildState", "LayerTransfer", "StepRow", "TransferState"]

# Step states, in the order a step goes through them.
QUEUED, RUNNING, CACHED, DONE, FAILED = "queued", "running", "cached", "done", "failed"
_MAX_LOG = 20_000  # lines kept per build (the full log the widget can expand)


@dataclass
class StepRow:
    """One step of a build as the widget shows it."""

    number: int
    instruction: str = ""
    location: str = ""  # "Dockerfile:3" / "cell:3"
    state: str = QUEUED
    reason: str = ""  # why the cache missed ("" when cached or not yet known)
    duration: float | None = None  # seconds, once done
    layer_size: int | None = None  # bytes of the layer it added; None for config-only steps
    image_id: str = ""
    started: float | None = None  # time.monotonic() when it started
    log: list[str] = field(default_factory=list)

    @property
    def elapsed(self) -> float:
        if self.duration is not None:
            return self.duration
        return time.monotonic() - self.started if self.started is not None else 0.0


@dataclass
class BuildState:
    """A build folded from its events: ``status`` is ``queued``, ``running``, ``finished``,
    ``failed`` or ``interrupted``; ``rows`` has one :class:`StepRow` per step."""

    rows: dict[int, StepRow] = field(default_factory=dict)
    total: int = 0
    status: str = QUEUED
    context: str = ""
    context_size: int = 0
    image_id: str = ""
    tags: tuple[str, ...] = ()
    message: str = ""  # the failure's one line
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    log_lines: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def apply(self, event: Event) -> bool:
        """Fold one event in; True when something a display shows changed state (not just a
        log line), so a throttled display knows to redraw now."""
        with self.lock:
            return self._apply(event)

    def _apply(self, event: Event) -> bool:
        if isinstance(event, BuildStarted):
            if self.status != QUEUED:  # a second build in the same view (%snapshot's base)
                self.rows.clear()
                self.log_lines, self.message, self.finished = 0, "", None
            self.total = event.total
            self.context, self.context_size = event.context, event.context_size
            self.status = RUNNING
            for n in range(1, event.total + 1):
                self.rows.setdefault(n, StepRow(n))
            return True
        if isinstance(event, StepStarted):
            row = self.rows.setdefault(event.step, StepRow(event.step))
            row.instruction, row.location = event.instruction, event.location
            row.state, row.started = RUNNING, time.monotonic()
            self.total = max(self.total, event.total)
            return True
        if isinstance(event, StepCached):
            row = self.rows.setdefault(event.step, StepRow(event.step))
            row.state, row.image_id = CACHED, event.image_id
            return True
        if isinstance(event, StepMiss):
            self.rows.setdefault(event.step, StepRow(event.step)).reason = event.reason
            return True
        if isinstance(event, StepLog):
            row = self.rows.setdefault(event.step, StepRow(event.step))
            if self.log_lines < _MAX_LOG:
                row.log.append(event.line)
                self.log_lines += 1
            return False
        if isinstance(event, StepDone):
            row = self.rows.setdefault(event.step, StepRow(event.step))
            if row.state != CACHED:
                row.state = DONE
                row.layer_size = None if event.empty_layer else event.layer_size
            row.duration, row.image_id = event.duration, event.image_id
            return True
        if isinstance(event, BuildFinished):
            self.status, self.image_id, self.tags = "finished", event.image_id, event.tags
            self.finished = time.monotonic()
            return True
        if isinstance(event, BuildFailed):
            self.fail(event.message, event.step)
            return True
        return False

    def fail(self, message: str, step: int | None = None, interrupted: bool = False) -> None:
        """Mark the build failed (or interrupted) at ``step`` (default: the running one)."""
        self.status = "interrupted" if interrupted else FAILED
        self.message = message
        self.finished = self.finished or time.monotonic()
        for row in self.rows.values():
            if row.state == RUNNING or (
                step is not None and row.number == step and not row.duration
            ):
                row.state = FAILED
                row.duration = row.elapsed

    # -- views ------------------------------------------------------------------------------------

    @property
    def steps(self) -> list[StepRow]:
        return [self.rows[n] for n in sorted(self.rows)]

    @property
    def completed(self) -> int:
        """Steps that are done or came from the cache (what the overall bar shows)."""
        return sum(1 for r in self.rows.values() if r.state in (DONE, CACHED))

    @property
    def running(self) -> StepRow | None:
        for row in self.steps:
            if row.state == RUNNING:
                return row
        return None

    def tail(self, lines: int = 8) -> list[str]:
        """The last lines of the running step (or of the last step that printed)."""
        row = self.running
        if row is None or not row.log:
            printed = [r for r in self.steps if r.log]
            row = printed[-1] if printed else None
        return row.log[-lines:] if row else []

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started


@dataclass
class LayerTransfer:
    item: str  # the layer's short digest (or the reference for the summary line)
    total: int | None = None
    done: int = 0
    result: str = ""  # "Pull complete", "Pushed", "Layer already exists", …


@dataclass
class TransferState:
    """A pull or push: per-layer bytes from ``TaskStarted``/``Progress``/``TaskDone``."""

    task: str  # "pull" or "push"
    reference: str
    layers: dict[str, LayerTransfer] = field(default_factory=dict)
    status: str = RUNNING
    message: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def apply(self, event: Event) -> bool:
        if not isinstance(event, (TaskStarted, Progress, TaskDone)) or event.task != self.task:
            return False
        with self.lock:
            if (
                isinstance(event, TaskDone)
                and event.item not in self.layers
                and not _is_layer(event.item)
            ):
                self.message = event.result
                return True
            layer = self.layers.setdefault(event.item, LayerTransfer(event.item))
            if isinstance(event, TaskStarted):
                layer.total = event.total
            elif isinstance(event, Progress):
                layer.done, layer.total = event.done, event.total or layer.total
            else:
                layer.result = event.result
                if layer.total:
                    layer.done = layer.total
            return True

    @property
    def done_bytes(self) -> int:
        return sum(layer.done for layer in self.layers.values())

    @property
    def total_bytes(self) -> int:
        return sum(layer.total or 0 for layer in self.layers.values())


def _is_layer(item: str) -> bool:
    return len(item) == 12 and all(c in "0123456789abcdef" for c in item)
