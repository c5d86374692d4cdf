"""What the magics return: the engine's values, with rich displays.

They are plain Python values underneath (``ImageList`` is a ``list`` of
:class:`~nbdocker.engine.ImageRow`, ``InspectResult`` a list of Docker's inspect dicts), so a
notebook computes with them; their ``_repr_mimebundle_`` adds ``text/plain`` and ``text/html``
(and, in a kernel, the sortable :class:`~.widgets.ImageTable`). An
:class:`~nbdocker.engine.Image` gets its displays from formatters the extension registers, so
the engine's class stays free of IPython.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from ..engine.engine import HistoryEntry, ImageRow
from ..engine.image import Image
from . import display as d
from .layer_contents import LayerInfo

__all__ = [
    "HistoryTable",
    "ImageList",
    "InspectResult",
    "LayerReport",
    "Lines",
    "register_formatters",
    "unregister_formatters",
]


class ImageList(list[ImageRow]):
    """``%images``: the rows of ``images``, newest first; displayed as the image table."""

    def __init__(self, rows: Iterable[ImageRow] = (), widget: bool = False) -> None:
        super().__init__(rows)
        self.widget = widget

    @property
    def ids(self) -> list[str]:
        return list(dict.fromkeys(r.id for r in self))

    @property
    def names(self) -> list[str]:
        return [f"{r.repository}:{r.tag}" for r in self if r.repository != "<none>"]

    def table(self) -> Any:
        """The sortable, filterable :class:`~.widgets.ImageTable` of these rows."""
        from .widgets import ImageTable

        return ImageTable(self)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        if self.widget:
            return dict(self.table()._repr_mimebundle_(**kwargs))
        return d.mimebundle(d.images_text(self), d.images_html(self))

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(d.images_text(self))


class HistoryTable(list[HistoryEntry]):
    """``%history IMAGE``: its history entries, newest first."""

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        return d.mimebundle(d.history_text(self), d.history_html(self))

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(d.history_text(self))


class InspectResult(list[dict[str, Any]]):
    """``%inspect IMAGE…``: Docker's inspect objects (shown as JSON)."""

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        text = json.dumps(list(self), indent=4, ensure_ascii=False, default=str)
        return {"text/plain": text, "application/json": {"items": list(self)}}

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(json.dumps(list(self), indent=4, ensure_ascii=False, default=str))


class Lines(list[str]):
    """Docker's output lines of a verb (``Untagged: …``, ``v2: digest: …``); ``items`` holds
    the engine's values behind them (Removals, PushResults)."""

    def __init__(self, lines: Iterable[str] = (), items: Sequence[Any] = ()) -> None:
        super().__init__(lines)
        self.items = list(items)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text("\n".join(self))


class LayerReport:
    """The layer inspector's content without widgets (terminal IPython, tests)."""

    def __init__(self, title: str, layers: Sequence[LayerInfo]) -> None:
        self.title = title
        self.layers = list(layers)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        return d.mimebundle(
            f"{self.title}\n{d.layers_text(self.layers)}",
            f"<div><b>{d._E(self.title)}</b>{d.layers_html(self.layers)}</div>",
        )


def _image_pretty(image: Image, p: Any, cycle: bool) -> None:
    p.text(d.image_text(image))


def register_formatters(shell: Any) -> None:
    formatters = shell.display_formatter.formatters
    formatters["text/plain"].for_type(Image, _image_pretty)
    formatters["text/html"].for_type(Image, d.image_html)


def unregister_formatters(shell: Any) -> None:
    formatters = shell.display_formatter.formatters
    for mime in ("text/plain", "text/html"):
        formatters[mime].type_printers.pop(Image, None)
