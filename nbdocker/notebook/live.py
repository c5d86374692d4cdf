"""Live while work runs, static when it ends: how builds, pulls, pushes and imports show.

:class:`LiveDisplay` puts a widget in the cell's output when the work's first event arrives,
redraws it about twice a second while the work runs (so the clocks tick even while a step
prints nothing), and when the work ends replaces it — same output, ``update_display`` — by the
widget's static ``text/plain`` + ``text/html`` and closes the widget. A saved notebook, GitHub's
renderer and ``jupyter nbconvert --to html`` therefore show the final tables; no widget view is
left for a model that is gone with the kernel. Work that fails before its first event (a bad
name, a bad flag, a Dockerfile that does not parse) shows nothing here: its error is the cell's
one red line.

:class:`BuildView` and :class:`TransferView` are the engine event sinks the magics hand to
:class:`~nbdocker.engine.Engine`: in a kernel they drive a live widget, in a terminal IPython
they print Docker's classic text, with ``-q`` they only keep the state.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import Any

from ..engine.events import Event
from .progress_model import RUNNING, BuildState, RootfsState, StepRow, TransferState

__all__ = ["BuildView", "LiveDisplay", "RootfsView", "TransferView", "in_kernel"]

TICK = 0.5  # seconds between redraws of a live widget (its clocks)


class LiveDisplay:
    """Shows ``widget`` while work runs, then its static bundle in its place (see the module
    docstring). ``widget`` has ``tick()``, ``static_bundle()`` and ``close()``."""

    def __init__(self, widget: Any) -> None:
        self.widget = widget
        self.handle: Any = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self.finished = False

    def show(self) -> None:
        """Display the widget (once) and start its clock."""
        with self._lock:
            if self.handle is not None or self.finished:
                return
            from IPython.display import display

            self.handle = display(self.widget, display_id=True)
            self._ticker = threading.Thread(target=self._tick, name="nbdocker-tick", daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(TICK):
            with contextlib.suppress(Exception):  # a failed redraw must not end the work
                self.widget.tick()

    def finish(self) -> None:
        """Stop the clock; leave the static output where the widget was; close the widget."""
        with self._lock:
            if self.finished:
                return
            self.finished = True
            self._stop.set()
            if self._ticker is not None:
                self._ticker.join()
            if self.handle is not None:
                self.handle.update(self.widget.static_bundle(), raw=True)
            self.widget.close()


class BuildView:
    """The event sink of one build (or two in a row: ``%snapshot`` builds its base first)."""

    def __init__(self, title: str, widgets: bool, quiet: bool = False) -> None:
        self.state = BuildState()
        self.live: LiveDisplay | None = None
        self.widget: Any = None
        self.classic: Any = None
        if quiet:
            return
        if widgets:
            from .widgets import BuildProgress

            self.widget = BuildProgress(title, self.state)
            self.live = LiveDisplay(self.widget)
        else:
            from ..cli.build_output import ClassicOutput

            self.classic = ClassicOutput(sys.stdout, explain=True)

    def __call__(self, event: Event) -> None:
        if self.widget is not None:
            assert self.live is not None
            self.live.show()
            self.widget(event)
        else:
            self.state.apply(event)
            if self.classic is not None:
                self.classic(event)

    def fail(self, message: str, interrupted: bool = False) -> None:
        """Mark the build failed or interrupted (the engine's BuildFailed may have said so)."""
        with self.state.lock:
            self.state.fail(message, interrupted=interrupted)
        if self.widget is not None:
            self.widget.refresh(force=True)

    def close(self) -> None:
        if self.live is not None:
            self.live.finish()

    @property
    def rows(self) -> list[StepRow]:
        return self.state.steps

    @property
    def status(self) -> str:
        return self.state.status

    def static_bundle(self) -> dict[str, Any]:
        from . import display as d

        with self.state.lock:
            return d.mimebundle(d.build_text(self.state), d.build_html(self.state))


class TransferView:
    """The event sink of a pull, push or import."""

    def __init__(self, task: str, reference: str, widgets: bool, quiet: bool = False) -> None:
        self.live: LiveDisplay | None = None
        self.widget: Any = None
        if widgets and not quiet:
            from .widgets import TransferProgress

            self.widget = TransferProgress(task, reference)
            self.state = self.widget.state
            self.live = LiveDisplay(self.widget)
        else:
            self.state = TransferState(task, reference)

    def __call__(self, event: Event) -> None:
        if self.widget is not None:
            assert self.live is not None
            if self.state.apply(event):
                self.live.show()
                self.widget.refresh()
        else:
            self.state.apply(event)

    def close(self, message: str = "", failed: bool = False) -> None:
        """The work ended: ``message`` is its outcome (the error, when ``failed``, is the
        cell's red line and is not repeated here)."""
        if self.state.status == RUNNING:
            self.state.finish("" if failed else message, failed)
        if self.live is not None:
            self.widget.refresh(force=True)
            self.live.finish()


def in_kernel() -> bool:
    """Whether this runs in a Jupyter kernel (without importing IPython when it is not)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


class RootfsView:
    """The progress of ``debian_rootfs()``'s mmdebstrap, fed its output line by line: a live
    widget in a kernel (static when done), else one line on standard error per phase."""

    def __init__(self, suite: str, variant: str, widgets: bool) -> None:
        self.state = RootfsState(suite, variant)
        self.live: LiveDisplay | None = None
        if widgets:
            from .widgets import RootfsProgress

            self.widget = RootfsProgress(self.state)
            self.live = LiveDisplay(self.widget)

    def __call__(self, line: str) -> None:
        changed = self.state.apply_line(line)
        if self.live is not None:
            self.live.show()
            if changed:
                self.widget.refresh()
        elif changed:
            self._say()

    def _say(self) -> None:
        from . import display as d

        print(d.rootfs_summary(self.state), file=sys.stderr, flush=True)

    def close(self, path: str = "", size: int = 0, failed: bool = False) -> None:
        self.state.finish(path, size, failed)
        if self.live is not None:
            self.live.finish()
        else:
            self._say()
