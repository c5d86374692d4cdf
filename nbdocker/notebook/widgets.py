"""Live widgets: build progress, pull/push progress, the image table and the layer inspector.

Why ipywidgets' own controls (``VBox`` of ``HTML``, ``IntProgress``, ``Accordion``, ``Text``,
``Dropdown``) rather than anywidget or a custom front-end model: they ship with every Jupyter
front end that renders widgets (JupyterLab, Notebook 7, VS Code, Voilà) with nothing to build
or load, and the parts that need layout (tables, bars, file lists) are plain HTML we render
anyway for the saved-notebook fallback (:mod:`.display`). The state lives in a pure model
(:class:`~.state.BuildState`, :class:`~.state.TransferState`, image rows, layer infos) held by
the widget; the widget's children are a view of it, refreshed as events arrive.

Every widget's ``_repr_mimebundle_`` carries, beside the widget view, ``text/plain`` and
``text/html`` renderings of its current state, and the magics re-publish the display when the
work ends (``display_id`` update), so a saved notebook keeps the final log and tables.

Events may arrive from the engine's worker threads (RUN output is read on a thread); updates
are serialised by the state's lock and log-only redraws are throttled.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Sequence
from typing import Any

import ipywidgets as w

from ..engine.engine import ImageRow
from ..engine.events import Event
from ..formatting import human_size
from . import display as d
from .layer_contents import LayerInfo
from .progress_model import BuildState, StepRow, TransferState

__all__ = ["BuildProgress", "ImageTable", "LayerInspector", "TransferProgress"]

_REDRAW_EVERY = 0.25  # seconds between redraws caused by log lines alone


class _Fallback:
    """Adds the text/plain and text/html renderings to a widget's mime bundle."""

    def text(self) -> str:
        raise NotImplementedError

    def html(self) -> str:
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle: dict[str, Any] = dict(w.DOMWidget._repr_mimebundle_(self, **kwargs) or {})  # type: ignore[arg-type]
        bundle["text/plain"] = self.text()
        bundle["text/html"] = self.html()
        return bundle


class BuildProgress(_Fallback, w.VBox):  # type: ignore[misc]
    """One row per step (instruction, state, time, layer size, why the cache missed), the live
    tail of the running step's output, the full log in an expandable section, and an overall
    bar. Call it with engine events (it is an event sink)."""

    def __init__(self, title: str = "", **kwargs: Any) -> None:
        self.state = BuildState()
        self.title = title
        self.header = w.HTML()
        self.bar = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="320px"))
        self.table = w.HTML()
        self.tail = w.HTML()
        self.full_log = w.HTML()
        self.log_box = w.Accordion(children=[self.full_log], selected_index=None)
        self.log_box.set_title(0, "Full log")
        self._drawn = 0.0
        super().__init__([self.header, self.bar, self.table, self.tail, self.log_box], **kwargs)
        self.refresh(force=True)

    # the model, as tests and users read it
    @property
    def rows(self) -> list[StepRow]:
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

    def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._drawn < _REDRAW_EVERY:
            return
        self._drawn = now
        with self.state.lock:
            s = self.state
            self.header.value = (
                f"<b>{d._E(self.title)}</b> " if self.title else ""
            ) + d.build_html_summary(s)
            self.bar.max = max(s.total, 1)
            self.bar.value = s.completed
            self.bar.bar_style = {
                "finished": "success",
                "failed": "danger",
                "interrupted": "danger",
            }.get(s.status, "info")
            self.table.value = d.steps_html(s)
            lines = s.tail() if s.status == "running" else []
            self.tail.value = d.log_html(lines) if lines else ""
            if force:
                self.full_log.value = d.log_html(d.full_log_text(s).splitlines())
                self.log_box.set_title(0, f"Full log ({s.log_lines} lines)")

    def text(self) -> str:
        with self.state.lock:
            return d.build_text(self.state)

    def html(self) -> str:
        with self.state.lock:
            return d.build_html(self.state)


class TransferProgress(_Fallback, w.VBox):  # type: ignore[misc]
    """A pull or push: per layer its bytes so far (bars) and Docker's status word, and an
    overall bar over all bytes."""

    def __init__(self, task: str, reference: str, **kwargs: Any) -> None:
        self.state = TransferState(task, reference)
        self.bar = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="320px"))
        self.table = w.HTML()
        self._drawn = 0.0
        super().__init__([self.bar, self.table], **kwargs)
        self.refresh(force=True)

    def __call__(self, event: Event) -> None:
        if self.state.apply(event):
            self.refresh()

    def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._drawn < _REDRAW_EVERY / 2:
            return
        self._drawn = now
        with self.state.lock:
            self.bar.max = max(self.state.total_bytes, 1)
            self.bar.value = min(self.state.done_bytes, self.bar.max)
            self.table.value = d.transfer_html(self.state)

    def finish(self, message: str = "", failed: bool = False) -> None:
        with self.state.lock:
            self.state.status = "failed" if failed else "finished"
            if message:
                self.state.message = message
        self.bar.bar_style = "danger" if failed else "success"
        self.refresh(force=True)

    def text(self) -> str:
        with self.state.lock:
            return d.transfer_text(self.state)

    def html(self) -> str:
        with self.state.lock:
            return d.transfer_html(self.state)


_SORT_KEYS = {
    "CREATED": lambda r: r.created.timestamp() if r.created else 0.0,
    "REPOSITORY": lambda r: r.repository,
    "TAG": lambda r: r.tag,
    "IMAGE ID": lambda r: r.id,
    "SIZE": lambda r: r.size,
}


class ImageTable(_Fallback, w.VBox):  # type: ignore[misc]
    """The ``images`` columns, sortable (any column, either way) and filterable by repository
    (a name or shell-style pattern, as ``images REPO``). ``visible`` is what it shows."""

    def __init__(self, rows: Sequence[ImageRow], **kwargs: Any) -> None:
        self.all_rows = list(rows)
        self.filter = w.Text(placeholder="repository filter, e.g. ouruser/*", description="Filter")
        self.sort = w.Dropdown(options=list(_SORT_KEYS), value="CREATED", description="Sort by")
        self.descending = w.ToggleButton(value=True, description="descending", icon="sort")
        self.table = w.HTML()
        for control in (self.filter, self.sort, self.descending):
            control.observe(lambda _change: self.refresh(), names="value")
        controls = w.HBox([self.filter, self.sort, self.descending])
        super().__init__([controls, self.table], **kwargs)
        self.refresh()

    @property
    def visible(self) -> list[ImageRow]:
        pattern = self.filter.value.strip()
        rows = [r for r in self.all_rows if _repo_match(r.repository, pattern)]
        return sorted(rows, key=_SORT_KEYS[self.sort.value], reverse=self.descending.value)

    def refresh(self) -> None:
        self.descending.description = "descending" if self.descending.value else "ascending"
        self.table.value = d.images_html(self.visible)

    def text(self) -> str:
        return d.images_text(self.visible)

    def html(self) -> str:
        return d.images_html(self.visible)


def _repo_match(repository: str, pattern: str) -> bool:
    if not pattern:
        return True
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(repository, pattern)
    return repository == pattern or pattern in repository


class LayerInspector(_Fallback, w.VBox):  # type: ignore[misc]
    """An image's layers: a size bar per layer, the instruction that made it, and (expand a
    layer) the files it added, changed and removed."""

    def __init__(self, title: str, layers: Sequence[LayerInfo], **kwargs: Any) -> None:
        self.title = title
        self.layers = list(layers)
        biggest = max((i.size for i in self.layers), default=0)
        header = w.HTML(
            f"<b>{d._E(title)}</b> — {len(self.layers)} layers, "
            f"{human_size(sum(i.size for i in self.layers))}"
        )
        self.table = w.HTML(
            d._html_table(
                ["#", "SIZE", "", "CREATED BY", "FILES +ADDED ~CHANGED -REMOVED"],
                [d._reorder(d.layer_row_html(i, biggest)) for i in self.layers],
                raw=True,
            )
        )
        self.files = w.Accordion(
            children=[w.HTML(d.layer_files_html(i)) for i in self.layers], selected_index=None
        )
        for i, info in enumerate(self.layers):
            self.files.set_title(i, f"layer {info.index}: {info.created_by[:70]}")
        super().__init__([header, self.table, self.files], **kwargs)

    def text(self) -> str:
        return f"{self.title}\n" + d.layers_text(self.layers)

    def html(self) -> str:
        return f"<div><b>{d._E(self.title)}</b>{d.layers_html(self.layers)}</div>"
