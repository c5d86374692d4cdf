"""What a build works with, given by the engine: the store, the layer cache, the compression of
new layers, and how to get an image the store lacks."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..lazy_dataclasses import lazy_dataclass

if TYPE_CHECKING:
    from ..image import Image
    from ..layercache import LayerCache
    from ..store import Store

__all__ = ["BuildServices"]


@lazy_dataclass(frozen=True)
class BuildServices:
    """``pull`` fetches an image named by FROM or ``COPY --from`` that is not in the store (None:
    such a name is an error); it raises :class:`~nbdocker.engine.errors.NbdockerError`."""

    store: Store
    layer_cache: LayerCache
    compression: str
    pull: Callable[[str], Image] | None = None
