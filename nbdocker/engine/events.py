"""Typed events the engine emits while it works; each front end renders them its own way.

The engine never prints. A caller passes ``on_event`` to :class:`~nbdocker.engine.Engine`; the CLI
draws a progress display on a terminal, the notebook updates widgets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Event", "EventSink", "Progress", "TaskDone", "TaskStarted", "ignore"]


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


Event = TaskStarted | Progress | TaskDone
EventSink = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The default sink: drop events."""
