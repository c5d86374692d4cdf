"""How a build looks in the terminal: Docker's classic text, a live display, or JSON lines."""

from __future__ import annotations

import json
import os
import time
from typing import IO, Any

from ..engine.events import (
    BuildFailed,
    BuildFinished,
    BuildStarted,
    Event,
    IsolationInUse,
    StepCached,
    StepDone,
    StepLog,
    StepMiss,
    StepStarted,
)
from ..formatting import human_size

__all__ = ["ClassicOutput", "JsonOutput", "LiveOutput", "QuietOutput"]


# Steps that write their layer themselves: Docker's classic builder starts no container for them.
_NO_CONTAINER = frozenset({"COPY", "ADD", "FROM", ""})


def _short(image_id: str) -> str:
    return image_id.split(":", 1)[-1][:12]


class ClassicOutput:
    """``docker build``'s classic text; with ``explain`` (``--progress plain``) each cache miss
    also says why.

    As Docker's classic builder, every step that misses the cache "runs in" an intermediate
    container that is removed before the step's ``---> <id>``, except FROM (and the ARGs before
    it) and COPY/ADD, which write their layer directly. Docker commits even a config step (ENV,
    CMD, LABEL…) from such a container; nbdocker edits the config and runs none, so for those
    the ID shown is made up here — the text is Docker's, the engine's events stay true. A failed
    step's container is not reported removed (Docker keeps it, unless ``--force-rm``)."""

    def __init__(self, out: IO[str], explain: bool) -> None:
        self.out = out
        self.explain = explain
        self.container: dict[int, str] = {}  # step → its container, until reported removed

    def _print(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def _removed(self, step: int) -> None:
        """The step's container (if any) is done with: the step or its ONBUILD trigger ended."""
        container = self.container.pop(step, None)
        if container:
            self._print(f"Removing intermediate container {container}")

    def __call__(self, event: Event) -> None:
        if isinstance(event, BuildStarted):
            if event.context:
                self._print(
                    f"Sending build context to the engine  {human_size(event.context_size)}"
                )
        elif isinstance(event, StepStarted):
            self._print(f"Step {event.step}/{event.total} : {event.instruction}")
        elif isinstance(event, StepCached):
            self._removed(event.step)  # (an ONBUILD trigger before this one ran)
            self._print(" ---> Using cache")
        elif isinstance(event, StepMiss):
            self._removed(event.step)
            if self.explain:
                self._print(f" ---> Cache miss: {event.reason}")
            container = event.container_id
            if not container and event.keyword not in _NO_CONTAINER:
                container = os.urandom(6).hex()
            if container:
                self.container[event.step] = container
                self._print(f" ---> Running in {container}")
        elif isinstance(event, StepLog):
            self._print(event.line)
        elif isinstance(event, IsolationInUse):
            self._print(f" ---> Isolation: {event.explanation}")
        elif isinstance(event, StepDone):
            self._removed(event.step)
            if event.image_id:  # (an ARG before FROM makes no image)
                self._print(f" ---> {_short(event.image_id)}")
        elif isinstance(event, BuildFinished):
            self._print(f"Successfully built {_short(event.image_id)}")
            for tag in event.tags:
                self._print(f"Successfully tagged {tag}")


class QuietOutput:
    """``-q``: nothing but the image ID at the end (printed by the verb)."""

    def __call__(self, event: Event) -> None:
        pass


class JsonOutput:
    """``--progress json``: one JSON object per event and line."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def __call__(self, event: Event) -> None:
        if not isinstance(
            event,
            (
                BuildStarted,
                StepStarted,
                StepCached,
                StepMiss,
                StepLog,
                StepDone,
                IsolationInUse,
                BuildFinished,
                BuildFailed,
            ),
        ):
            return
        record: dict[str, Any] = {"event": type(event).__name__, **event._asdict()}
        self.out.write(json.dumps(record) + "\n")
        self.out.flush()


class LiveOutput:
    """``--progress auto`` on a terminal: a live table of steps (state, time, size, last line)."""

    def __init__(self, err: IO[str]) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=err)
        self.steps: dict[int, dict[str, Any]] = {}
        self.total = 0
        self.live = Live(console=self.console, refresh_per_second=8, transient=False)
        self.started = False
        self.isolation = ""  # the line shown above the steps when they run at a weaker level

    def _render(self) -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        table = Table.grid(padding=(0, 1))
        for number in sorted(self.steps):
            s = self.steps[number]
            elapsed = (s.get("end") or time.monotonic()) - s["start"]
            state = s["state"]
            mark = {
                "running": "[yellow]…[/]",
                "cached": "[cyan]CACHED[/]",
                "done": "[green]✓[/]",
                "failed": "[red]✗[/]",
            }.get(state, "")
            table.add_row(
                f"[{number}/{self.total}]",
                mark,
                s["text"][:70],
                f"{elapsed:4.1f}s",
                s.get("size", ""),
            )
            if state == "running" and s.get("last"):
                table.add_row("", "", f"[dim]{s['last'][:90]}[/]", "", "")
        if self.isolation:
            return Group(Text(f"Isolation: {self.isolation}", style="yellow"), table)
        return table

    def __call__(self, event: Event) -> None:
        if isinstance(event, BuildStarted):
            self.total = event.total
            self.live.start()
            self.started = True
        elif isinstance(event, StepStarted):
            self.steps[event.step] = {
                "text": event.instruction,
                "state": "running",
                "start": time.monotonic(),
            }
        elif isinstance(event, StepCached) and event.step in self.steps:
            self.steps[event.step]["state"] = "cached"
        elif isinstance(event, StepLog) and event.step in self.steps:
            self.steps[event.step]["last"] = event.line
        elif isinstance(event, IsolationInUse):
            self.isolation = event.explanation
        elif isinstance(event, StepDone) and event.step in self.steps:
            s = self.steps[event.step]
            s["end"] = time.monotonic()
            if s["state"] != "cached":
                s["state"] = "done"
            if event.layer_size:
                s["size"] = human_size(event.layer_size)
        elif isinstance(event, BuildFailed):
            for s in self.steps.values():
                if s["state"] == "running":
                    s["state"] = "failed"
                    s["end"] = time.monotonic()
        if self.started:
            self.live.update(self._render())
            if isinstance(event, (BuildFinished, BuildFailed)):
                self.live.stop()
                self.started = False
