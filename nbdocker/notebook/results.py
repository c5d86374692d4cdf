"""What the magics return: the engine's values, with rich displays.

They are plain Python values underneath (``ImageList`` is a ``list`` of
:class:`~nbdocker.engine.ImageRow`, ``InspectResult`` a list of Docker's inspect dicts), so a
notebook computes with them; their ``_repr_mimebundle_`` is static ``text/plain`` and
``text/html`` — never a widget view, so a saved notebook shows them without a kernel
(``ImageList.table()`` adds sort and filter controls on demand). An
:class:`~nbdocker.engine.Image` gets its displays from formatters the extension registers, so
the engine's class stays free of IPython.
"""

from __future__ import annotations

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

    @property
    def ids(self) -> list[str]:
        return list(dict.fromkeys(r.id for r in self))

    @property
    def names(self) -> list[str]:
        return [f"{r.repository}:{r.tag}" for r in self if r.repository != "<none>"]

    def table(self) -> Any:
        """Sort and filter controls over these rows (:class:`~.widgets.ImageTable`), above the
        table they update (a static output, so it outlives the kernel)."""
        from .widgets import ImageTable

        return ImageTable(self)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
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
    """``%inspect IMAGE…``: Docker's inspect objects, shown as ``docker inspect`` prints them (a
    JSON array, indented), expanded rather than as a tree to click open."""

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        return d.mimebundle(d.inspect_text(self), d.inspect_html(self))

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(d.inspect_text(self))


class Lines(list[str]):
    """Docker's output lines of a verb (``Untagged: …``, ``v2: digest: …``); ``items`` holds
    the engine's values behind them (Removals, PushResults)."""

    def __init__(self, lines: Iterable[str] = (), items: Sequence[Any] = ()) -> None:
        super().__init__(lines)
        self.items = list(items)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        text = "\n".join(self)
        return d.mimebundle(text, f'<pre style="font-family:monospace">{d._E(text)}</pre>')

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text("\n".join(self))


class LayerReport:
    """``%layers IMAGE``, the layer inspector: per layer its size (a bar), the instruction that
    made it and, unfolded, the files it added, changed and removed. Static HTML (``<details>``
    fold without a kernel) and text."""

    def __init__(self, title: str, layers: Sequence[LayerInfo]) -> None:
        self.title = title
        self.layers = list(layers)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        return d.mimebundle(
            d.layers_text(self.title, self.layers), d.layers_html(self.title, self.layers)
        )

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(d.layers_text(self.title, self.layers))


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
