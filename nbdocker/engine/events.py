"""Typed events the engine emits while it works; each front end renders them its own way.

The engine never prints. A caller passes ``on_event`` to :class:`~nbdocker.engine.Engine`; the CLI
draws a progress display on a terminal, the notebook updates widgets.

Events are named tuples rather than frozen dataclasses: every command-line process imports this
module, and a dataclass costs four times as much to define (its methods are generated and
compiled at import). Immutable all the same, an event prints as before (``StepLog(step=2,
line='hi')``) and ``_asdict()`` gives its fields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

__all__ = [
    "BuildFailed",
    "BuildFinished",
    "BuildStarted",
    "Event",
    "EventSink",
    "IsolationInUse",
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


class TaskStarted(NamedTuple):
    """A long task began: ``task`` names it (``import``, ``load``, ``save``), ``item`` what."""

    task: str
    item: str
    total: int | None = None  # bytes, when known


class Progress(NamedTuple):
    """``done`` of ``total`` bytes of ``item`` have been handled."""

    task: str
    item: str
    done: int
    total: int | None = None


class TaskDone(NamedTuple):
    task: str
    item: str
    result: str = ""


# -- builds -----------------------------------------------------------------------------------
# A build reports, in order: BuildStarted; per step StepStarted, then either StepCached or
# StepMiss (why the cache could not be used) followed by StepLog lines and StepDone; finally
# BuildFinished or BuildFailed. ``step`` numbers count from 1 over the steps that run, across
# stages, as Docker numbers them: an ARG before the first FROM is a step too (StepStarted and a
# StepDone with no image, for it makes none); ``total`` is their number. A FROM whose image has
# ONBUILD triggers is one step: StepStarted, a StepLog ``# Executing N build triggers``, each
# trigger's StepCached or StepMiss and StepLog lines, then the one StepDone of the step.


class BuildStarted(NamedTuple):
    context: str  # the context directory, "-" for a tar on stdin, "" for none
    context_size: int  # bytes sent to the builder (Docker's "Sending build context")
    total: int  # number of steps


class StepStarted(NamedTuple):
    step: int
    total: int
    instruction: str  # as written, e.g. "RUN apt-get -qq update"
    stage: str  # stage name or index
    location: str  # "Dockerfile:3"


class StepCached(NamedTuple):
    """The step's result was reused from an earlier build."""

    step: int
    image_id: str


class StepMiss(NamedTuple):
    """The step runs: ``reason`` says why no earlier result could be reused."""

    step: int
    reason: str
    container_id: str = ""  # for RUN, the container it runs in (" ---> Running in …")
    keyword: str = ""  # the instruction's (RUN, ENV, COPY…; for an ONBUILD trigger, the trigger's)


class StepLog(NamedTuple):
    """One line the step printed (RUN output), without its newline."""

    step: int
    line: str


class StepDone(NamedTuple):
    step: int
    image_id: str  # the image after this step ("" for an ARG before the first FROM: none yet)
    layer_size: int  # bytes of files in the layer it added (0 for config-only steps)
    duration: float  # seconds
    empty_layer: bool = False


class IsolationInUse(NamedTuple):
    """Steps run at an isolation level weaker than namespaces (reported once per build, before
    the first RUN step that runs): ``level`` (``chroot`` or ``ptrace``) and one line saying
    what that means and why a stronger level is not available."""

    level: str
    explanation: str


class BuildFinished(NamedTuple):
    image_id: str
    tags: tuple[str, ...]


class BuildFailed(NamedTuple):
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
    | IsolationInUse
    | BuildFinished
    | BuildFailed
)
EventSink = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The default sink: drop events."""
