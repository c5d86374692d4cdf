"""A progress display on the terminal (stderr) for long work, drawn from engine events."""

from __future__ import annotations

import sys
from typing import Any

from ..engine.events import Event, Progress, TaskDone, TaskStarted

__all__ = ["TerminalProgress"]


class TerminalProgress:
    """Renders TaskStarted/Progress/TaskDone as rich progress bars when stderr is a terminal;
    silent otherwise, so pipes and logs stay clean."""

    def __init__(self) -> None:
        self._progress: Any = None
        self._tasks: dict[tuple[str, str], Any] = {}
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                TextColumn,
                TransferSpeedColumn,
            )
            from rich.progress import (
                Progress as Bars,
            )

            self._progress = Bars(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                console=Console(stderr=True),
                transient=True,
            )

    def __call__(self, event: Event) -> None:
        if self._progress is None or not isinstance(event, (TaskStarted, Progress, TaskDone)):
            return  # builds have their own display (build_output)
        key = (event.task, event.item)
        if isinstance(event, TaskStarted):
            if not self._tasks:
                self._progress.start()
            self._tasks[key] = self._progress.add_task(
                f"{event.task} {event.item[-40:]}", total=event.total
            )
        elif isinstance(event, Progress) and key in self._tasks:
            self._progress.update(self._tasks[key], completed=event.done, total=event.total)
        elif isinstance(event, TaskDone) and key in self._tasks:
            self._progress.remove_task(self._tasks.pop(key))
            if not self._tasks:
                self._progress.stop()

    def close(self) -> None:
        if self._progress is not None and self._tasks:
            self._progress.stop()
