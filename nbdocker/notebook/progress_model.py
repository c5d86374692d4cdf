"""What the notebook's progress displays know: pure state folded from engine events.

:class:`BuildState` and :class:`TransferState` take the engine's typed events
(:mod:`nbdocker.engine.events`) one by one and keep what a build or a pull/push/import looks
like so far. They import neither IPython nor ipywidgets: :mod:`.display` renders them as text
and HTML, :mod:`.widgets` as live widgets, and tests assert on them directly. Events may come
from the engine's worker threads; each state has a lock its readers take too.
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
    IsolationInUse,
    Progress,
    StepCached,
    StepDone,
    StepLog,
    StepMiss,
    StepStarted,
    TaskDone,
    TaskStarted,
)

__all__ = ["BuildState", "LayerTransfer", "RootfsState", "StepRow", "TransferState"]

# Step states, in the order a step goes through them (a step ends in one of the last four).
QUEUED, RUNNING, CACHED, DONE, FAILED, INTERRUPTED = (
    "queued",
    "running",
    "cached",
    "done",
    "failed",
    "interrupted",
)
# Build and transfer statuses: queued, running, then one of these.
FINISHED = "finished"
ENDED = (FINISHED, FAILED, INTERRUPTED)
_MAX_LOG = 20_000  # output lines kept per build (the full log the widget can expand)


@dataclass
class StepRow:
    """One step of a build as the widget shows it."""

    number: int
    instruction: str = ""
    location: str = ""  # "Dockerfile:3" / "cell:3"
    state: str = QUEUED
    reason: str = ""  # why the cache missed ("" when cached or not yet known)
    duration: float | None = None  # seconds, once ended
    layer_size: int | None = None  # bytes of the layer it added; None for config-only steps
    image_id: str = ""
    started: float | None = None  # time.monotonic() when it started
    log: list[str] = field(default_factory=list)

    @property
    def elapsed(self) -> float:
        """Seconds so far (its duration once it ended): what the step's clock shows."""
        if self.duration is not None:
            return self.duration
        return time.monotonic() - self.started if self.started is not None else 0.0


@dataclass
class BuildState:
    """A build folded from its events: ``status`` is ``queued``, ``running``, ``finished``,
    ``failed`` or ``interrupted``; ``rows`` has one :class:`StepRow` per step.

    ``output_lines`` counts every line the steps printed; the first :data:`_MAX_LOG` of them
    are kept (``kept_lines``). ``failed_step`` and ``last_lines`` say where a failed build
    stopped and what the step printed last (what ``docker build`` shows under the error)."""

    rows: dict[int, StepRow] = field(default_factory=dict)
    total: int = 0
    status: str = QUEUED
    context: str = ""
    context_size: int = 0
    image_id: str = ""
    tags: tuple[str, ...] = ()
    message: str = ""  # the failure's one line
    failed_step: int | None = None
    last_lines: tuple[str, ...] = ()
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    output_lines: int = 0
    kept_lines: int = 0
    isolation: str = ""  # "" (namespaces), or the weaker level the steps run at
    isolation_note: str = ""  # one line: what that level means and why no stronger one
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
                self.output_lines = self.kept_lines = 0
                self.message, self.finished, self.failed_step, self.last_lines = "", None, None, ()
                self.started = time.monotonic()
            self.total = event.total
            self.context, self.context_size = event.context, event.context_size
            self.status = RUNNING
            for n in range(1, event.total + 1):
                self.rows.setdefault(n, StepRow(n))
            return True
        if isinstance(event, IsolationInUse):
            self.isolation, self.isolation_note = event.level, event.explanation
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
            self.output_lines += 1
            if self.kept_lines < _MAX_LOG:
                self.rows.setdefault(event.step, StepRow(event.step)).log.append(event.line)
                self.kept_lines += 1
            return False
        if isinstance(event, StepDone):
            row = self.rows.setdefault(event.step, StepRow(event.step))
            if row.state != CACHED:
                row.state = DONE
                row.layer_size = None if event.empty_layer else event.layer_size
            row.duration, row.image_id = event.duration, event.image_id
            return True
        if isinstance(event, BuildFinished):
            self.status, self.image_id, self.tags = FINISHED, event.image_id, event.tags
            self.finished = time.monotonic()
            return True
        if isinstance(event, BuildFailed):
            self.fail(event.message, event.step or None, last_lines=event.last_lines)
            return True
        return False

    def fail(
        self,
        message: str,
        step: int | None = None,
        interrupted: bool = False,
        last_lines: tuple[str, ...] = (),
    ) -> None:
        """Mark the build failed (or interrupted) at ``step`` (default: the running one); the
        running step ends failed (or interrupted) with its clock stopped."""
        self.status = INTERRUPTED if interrupted else FAILED
        self.message = message
        self.finished = self.finished or time.monotonic()
        ended = INTERRUPTED if interrupted else FAILED
        for row in self.rows.values():
            if row.state in (RUNNING, FAILED, INTERRUPTED) or (
                step is not None and row.number == step and row.duration is None
            ):
                row.state = ended
                row.duration = row.elapsed
                self.failed_step = self.failed_step or row.number
        if step is not None and self.failed_step is None:
            self.failed_step = step
        if last_lines:
            self.last_lines = last_lines
        elif not self.last_lines and self.failed_step in self.rows:
            self.last_lines = tuple(self.rows[self.failed_step].log[-20:])

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

    @property
    def failed_row(self) -> StepRow | None:
        return self.rows.get(self.failed_step) if self.failed_step is not None else None

    def tail(self, lines: int = 8) -> list[str]:
        """The last lines of the running step (or of the last step that printed)."""
        row = self.running
        if row is None or not row.log:
            printed = [r for r in self.steps if r.log]
            row = printed[-1] if printed else None
        return row.log[-lines:] if row else []

    @property
    def elapsed(self) -> float:
        """Seconds since the build started (until it ended): the header's clock."""
        return (self.finished or time.monotonic()) - self.started


@dataclass
class LayerTransfer:
    item: str  # the layer's short digest (or the file/URL of an import)
    total: int | None = None
    done: int = 0
    result: str = ""  # "Pull complete", "Pushed", "Layer already exists", … (import: image ID)


def _strength(result: str) -> int:
    """How much happened to a layer, by Docker's word for it: nothing yet, it was already
    there, it was mounted from another repository, it was transferred. Pushing several tags
    reports each layer once per tag: the second tag finds the layer the first one uploaded
    ("Layer already exists"), which must not hide that this push uploaded it."""
    if not result:
        return 0
    if result in ("Already exists", "Layer already exists"):
        return 1
    if result.startswith("Mounted from "):
        return 2
    return 3


@dataclass
class TransferState:
    """A pull, push or import: per-layer bytes from ``TaskStarted``/``Progress``/``TaskDone``;
    each layer keeps the strongest thing that happened to it (uploaded beats mounted beats
    already there)."""

    task: str  # "pull", "push" or "import"
    reference: str
    layers: dict[str, LayerTransfer] = field(default_factory=dict)
    status: str = RUNNING
    message: str = ""
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
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
                if not layer.result:  # a later tag's pass over a layer already handled
                    layer.total = event.total
            elif isinstance(event, Progress):
                if not layer.result:
                    layer.done, layer.total = event.done, event.total or layer.total
            elif _strength(event.result) >= _strength(layer.result):
                layer.result = event.result
                if layer.total:
                    layer.done = layer.total
            return True

    def finish(self, message: str = "", failed: bool = False) -> None:
        with self.lock:
            self.status = FAILED if failed else FINISHED
            if message:
                self.message = message
            self.finished = time.monotonic()

    @property
    def done_bytes(self) -> int:
        return sum(layer.done for layer in self.layers.values())

    @property
    def total_bytes(self) -> int:
        return sum(layer.total or 0 for layer in self.layers.values())

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started


def _is_layer(item: str) -> bool:
    return len(item) == 12 and all(c in "0123456789abcdef" for c in item)


@dataclass
class RootfsState:
    """mmdebstrap making a Debian root filesystem, folded from the lines it prints with
    ``--verbose``: its phase (the last ``I: …`` line), the packages apt fetched (``Get:N``),
    planned (``N newly installed``) and dpkg set up (``Setting up …``), and its clock."""

    suite: str
    variant: str
    phase: str = ""
    fetched: int = 0
    planned: int = 0
    set_up: int = 0
    status: str = RUNNING
    path: str = ""
    size: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def apply_line(self, line: str) -> bool:
        """Fold one line in; True when the phase changed (a display redraws at once)."""
        text = line.strip()
        with self.lock:
            if text.startswith("I: "):
                phase = text[3:].rstrip(".…")
                if phase.startswith(("using ", "removing tempdir", "success in")):
                    return False  # details of mmdebstrap's own, not a phase of the work
                self.phase = phase
                return True
            if text.startswith("Get:") and self.phase.startswith("downloading"):
                number = text[4:].split(" ", 1)[0]  # (apt-get update's Get: lines are indexes)
                if number.isdigit():
                    self.fetched = max(self.fetched, int(number))
            elif text.startswith("Setting up "):
                self.set_up += 1
            elif " newly installed," in text:
                count = text.split(" newly installed,", 1)[0].rsplit(" ", 1)[-1]
                if count.isdigit():
                    self.planned += int(count)
            return False

    def finish(self, path: str = "", size: int = 0, failed: bool = False) -> None:
        with self.lock:
            self.status = FAILED if failed else FINISHED
            self.path, self.size = path, size
            self.finished = time.monotonic()

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started
