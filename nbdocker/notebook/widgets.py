"""Live widgets: build progress, pull/push/import progress, and the image table's controls.

Why ipywidgets' own controls (``VBox`` of ``HTML``, ``IntProgress``, ``Accordion``, ``Text``,
``Dropdown``) rather than anywidget or a custom front-end model: they ship with every Jupyter
front end that renders widgets (JupyterLab, Notebook 7, VS Code, Voilà) with nothing to build
or load, and the parts that need layout (tables, bars, file lists) are plain HTML we render
anyway for the static output (:mod:`.display`). The state lives in a pure model
(:class:`~.progress_model.BuildState`, :class:`~.progress_model.TransferState`, image rows); the
widget's children are a view of it, refreshed as events arrive and on every tick of
:class:`~.live.LiveDisplay` (so clocks move while a step prints nothing).

A widget lives only while its work runs: :class:`~.live.LiveDisplay` then replaces it by its
:meth:`static_bundle` and closes it, so no saved notebook holds a widget view without a model.
The image table's sort and filter controls are the one widget that stays; the table they
drive is a separate static output they update, so it survives the kernel.

Events may arrive from the engine's worker threads (RUN output is read on a thread); updates
are serialised by the state's lock, and redraws caused by log lines alone are throttled.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Sequence
from typing import Any

import ipywidgets as w

from ..engine.engine import ImageRow
from ..engine.events import Event
from . import display as d
from .progress_model import (
    FAILED,
    FINISHED,
    INTERRUPTED,
    RUNNING,
    BuildState,
    RootfsState,
    TransferState,
)
from .translations import tr

__all__ = ["BuildProgress", "ImageTable", "RootfsProgress", "TransferProgress"]

_REDRAW_EVERY = 0.25  # seconds between redraws caused by log lines alone
_FULL_LOG_EVERY = 1.0  # seconds between redraws of an open full log while the build runs
_BAR_STYLE = {FINISHED: "success", FAILED: "danger", INTERRUPTED: "danger"}


class BuildProgress(w.VBox):  # type: ignore[misc]
    """One row per step (instruction, state, time, layer size, why the cache missed), the live
    tail of the running step's output, the full log in a folded section (filled when opened),
    and an overall bar. Call it with engine events (it is an event sink)."""

    def __init__(self, title: str = "", state: BuildState | None = None, **kwargs: Any) -> None:
        self.state = state or BuildState()
        self.title = title
        self.header = w.HTML()
        self.bar = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="320px"))
        self.table = w.HTML()
        self.tail = w.HTML()
        self.full_log = w.HTML()
        self.log_box = w.Accordion(children=[self.full_log], selected_index=None)
        self._drawn = 0.0
        self._log_drawn = 0.0
        self._log_count = -1
        super().__init__([self.header, self.bar, self.table, self.tail, self.log_box], **kwargs)
        self.log_box.observe(lambda _change: self.refresh(force=True), names="selected_index")
        self.refresh(force=True)

    @property
    def rows(self) -> list[Any]:
        return self.state.steps

    @property
    def status(self) -> str:
        return self.state.status

    def __call__(self, event: Event) -> None:
        changed = self.state.apply(event)
        self.refresh(force=changed)

    def fail(self, message: str, interrupted: bool = False) -> None:
        with self.state.lock:
            self.state.fail(message, interrupted=interrupted)
        self.refresh(force=True)

    def tick(self) -> None:
        """Redraw the clocks and counts (called about twice a second while work runs)."""
        self.refresh(force=True)

    def _heading(self) -> str:
        title = f"<b>{d._E(self.title)}</b> " if self.title else ""
        return title + d.build_summary_html(self.state)

    def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._drawn < _REDRAW_EVERY:
            return
        self._drawn = now
        with self.state.lock:
            s = self.state
            self.header.value = self._heading()
            self.bar.max = max(s.total, 1)
            self.bar.value = s.completed
            self.bar.bar_style = _BAR_STYLE.get(s.status, "info")
            self.table.value = d.steps_html(s)
            lines = s.tail() if s.status == RUNNING else []
            self.tail.value = d.log_html(lines) if lines else ""
            full = d.full_log_lines(s)
            self.log_box.set_title(0, d.full_log_title(len(full)))
            # The full log is only drawn into the widget when someone opened it, and at most
            # once a second while the build runs: it may be thousands of lines.
            opened = self.log_box.selected_index is not None
            due = s.status != RUNNING or now - self._log_drawn >= _FULL_LOG_EVERY
            if opened and due and len(full) != self._log_count:
                self._log_drawn, self._log_count = now, len(full)
                self.full_log.value = d.log_html(full)

    def text(self) -> str:
        with self.state.lock:
            return (f"{self.title}\n" if self.title else "") + d.build_text(self.state)

    def html(self) -> str:
        with self.state.lock:
            title = f"<div><b>{d._E(self.title)}</b></div>" if self.title else ""
            return f"<div>{title}{d.build_html(self.state)}</div>"

    def static_bundle(self) -> dict[str, Any]:
        return d.mimebundle(self.text(), self.html())


class TransferProgress(w.VBox):  # type: ignore[misc]
    """A pull, push or import: per layer its bytes so far (bars) and Docker's status word, and
    an overall bar over all bytes."""

    def __init__(self, task: str, reference: str, **kwargs: Any) -> None:
        self.state = TransferState(task, reference)
        self.header = w.HTML()
        self.bar = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="320px"))
        self.table = w.HTML()
        self._drawn = 0.0
        super().__init__([self.header, self.bar, self.table], **kwargs)
        self.refresh(force=True)

    def __call__(self, event: Event) -> None:
        if self.state.apply(event):
            self.refresh()

    def tick(self) -> None:
        self.refresh(force=True)

    def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._drawn < _REDRAW_EVERY / 2:
            return
        self._drawn = now
        with self.state.lock:
            self.header.value = d.transfer_title_html(self.state)
            self.bar.max = max(self.state.total_bytes, 1)
            self.bar.value = min(self.state.done_bytes, self.bar.max)
            self.bar.bar_style = _BAR_STYLE.get(self.state.status, "info")
            self.table.value = d.transfer_table_html(self.state) if self.state.layers else ""

    def finish(self, message: str = "", failed: bool = False) -> None:
        self.state.finish(message, failed)
        self.refresh(force=True)

    def text(self) -> str:
        with self.state.lock:
            return d.transfer_text(self.state)

    def html(self) -> str:
        with self.state.lock:
            return d.transfer_html(self.state)

    def static_bundle(self) -> dict[str, Any]:
        return d.mimebundle(self.text(), self.html())


class RootfsProgress(w.VBox):  # type: ignore[misc]
    """mmdebstrap at work (``debian_rootfs()``): its phase, packages fetched and set up (a bar
    once apt said how many), and a clock."""

    def __init__(self, state: RootfsState, **kwargs: Any) -> None:
        self.state = state
        self.header = w.HTML()
        self.bar = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="320px"))
        super().__init__([self.header, self.bar], **kwargs)
        self.refresh()

    def tick(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        with self.state.lock:
            self.header.value = (
                f'<span style="font-family:monospace">{d._E(d.rootfs_summary(self.state))}</span>'
            )
            self.bar.max = max(self.state.planned, 1)
            self.bar.value = min(self.state.set_up, self.bar.max)
            self.bar.bar_style = _BAR_STYLE.get(self.state.status, "info")

    def static_bundle(self) -> dict[str, Any]:
        with self.state.lock:
            return d.mimebundle(d.rootfs_text(self.state), d.rootfs_html(self.state))


_SORT_KEYS = {
    "CREATED": lambda r: r.created.timestamp() if r.created else 0.0,
    "REPOSITORY": lambda r: r.repository,
    "TAG": lambda r: r.tag,
    "IMAGE ID": lambda r: r.id,
    "SIZE": lambda r: r.size,
}


class ImageTable:
    """Sort (any column, either way) and filter (a repository name or shell-style pattern, as
    ``images REPO``) controls for the ``images`` rows; ``visible`` is what they select.

    Displayed, it shows the controls and, below them, the table as a *static* output they
    update (``display_id``), so a saved or exported notebook keeps the table as last shown."""

    def __init__(self, rows: Sequence[ImageRow]) -> None:
        self.all_rows = list(rows)
        self.filter = w.Text(placeholder=tr("repository filter, e.g. ouruser/*"))
        self.filter.description = tr("Filter")
        self.sort = w.Dropdown(
            options=[(tr(k), k) for k in _SORT_KEYS], value="CREATED", description=tr("Sort by")
        )
        self.descending = w.ToggleButton(value=True, description=tr("descending"), icon="sort")
        self._handle: Any = None
        self.controls = w.HBox([self.filter, self.sort, self.descending])
        for control in (self.filter, self.sort, self.descending):
            control.observe(lambda _change: self.refresh(), names="value")

    @property
    def visible(self) -> list[ImageRow]:
        pattern = self.filter.value.strip()
        rows = [r for r in self.all_rows if _repo_match(r.repository, pattern)]
        return sorted(rows, key=_SORT_KEYS[self.sort.value], reverse=self.descending.value)

    def refresh(self) -> None:
        self.descending.description = tr("descending" if self.descending.value else "ascending")
        if self._handle is not None:
            self._handle.update(self.static_bundle(), raw=True)

    def text(self) -> str:
        return d.images_text(self.visible)

    def html(self) -> str:
        return d.images_html(self.visible)

    def static_bundle(self) -> dict[str, Any]:
        return d.mimebundle(self.text(), self.html())

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.controls)
        self._handle = display(self.static_bundle(), raw=True, display_id=True)


def _repo_match(repository: str, pattern: str) -> bool:
    if not pattern:
        return True
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(repository, pattern)
    return repository == pattern or pattern in repository
