"""Typed events the engine emits while it works; each front end renders them its own way.

The engine never prints. A caller passes ``on_event`` to :class:`~nbdocker.engine.Engine`; the CLI
draws a progress display on a terminal, the notebook updates widgets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "BuildFailed",
    "BuildFinished",
    "BuildStarted",
    "Event",
    "EventSink",
    "Progress",
    "StepCached",
    "StepDone",
    "StepLog",
    "StepMiss",
    "StepStarted",
    "TaskDone",
    "TaskStarted",
    "ignore",
]


@dataclass(frozen=True)
class TaskStarted:
    """A long task began: ``task`` names it (``import``, ``load``, ``save``), ``item`` what."""

    task: str
    item: str
    total: int | None = None  # bytes, when known


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` bytes of ``item`` have been handled."""

    task: str
    item: str
    done: int
    total: int | None = None


@dataclass(frozen=True)
class TaskDone:
    task: str
    item: str
    result: str = ""


# -- builds -----------------------------------------------------------------------------------
# A build reports, in order: BuildStarted; per step StepStarted, then either StepCached or
# StepMiss (why the cache could not be used) followed by StepLog lines and StepDone; finally
# BuildFinished or BuildFailed. ``step`` numbers count from 1 over the steps that run, across
# stages; ``total`` is their number.


@dataclass(frozen=True)
class BuildStarted:
    context: str  # the context directory, "-" for a tar on stdin, "" for none
    context_size: int  # bytes sent to the builder (Docker's "Sending build context")
    total: int  # number of steps


@dataclass(frozen=True)
class StepStarted:
    step: int
    total: int
    instruction: str  # as written, e.g. "RUN apt-get -qq update"
    stage: str  # stage name or index
    location: str  # "Dockerfile:3"


@dataclass(frozen=True)
class StepCached:
    """The step's result was reused from an earlier build."""

    step: int
    image_id: str


@dataclass(frozen=True)
class StepMiss:
    """The step runs: ``reason`` says why no earlier result could be reused."""

    step: int
    reason: str
    container_id: str = ""  # for RUN, the container it runs in (" ---> Running in …")


@dataclass(frozen=True)
class StepLog:
    """One line the step printed (RUN output), without its newline."""

    step: int
    line: str


@dataclass(frozen=True)
class StepDone:
    step: int
    image_id: str  # the image after this step
    layer_size: int  # bytes of files in the layer it added (0 for config-only steps)
    duration: float  # seconds
    empty_layer: bool = False


@dataclass(frozen=True)
class BuildFinished:
    image_id: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class BuildFailed:
    step: int
    message: str  # one line: what failed, where (Dockerfile:line), what to do
    exit_code: int | None = None
    last_lines: tuple[str, ...] = ()


Event = (
    TaskStarted
    | Progress
    | TaskDone
    | BuildStarted
    | StepStarted
    | StepCached
    | StepMiss
    | StepLog
    | StepDone
    | BuildFinished
    | BuildFailed
)
EventSink = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The default sink: drop events."""
