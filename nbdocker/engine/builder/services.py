"""What a build works with, given by the engine: the store, the compression of new layers, and
how to get an image the store lacks."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from .. import layer
from ..lazy import lazy_dataclass

if TYPE_CHECKING:
    from ..image import Image
    from ..layer.unpacked import LayerCache
    from ..store import Store

__all__ = ["BuildServices"]


@lazy_dataclass(frozen=True)
class BuildServices:
    """``pull`` fetches an image named by FROM or ``COPY --from`` that is not in the store (None:
    such a name is an error); it raises :class:`~nbdocker.engine.errors.NbdockerError`."""

    store: Store
    compression: str
    pull: Callable[[str], Image] | None = None

    @functools.cached_property
    def layer_cache(self) -> LayerCache:
        """The store's unpacked layers (made when a step first runs: a cached build never
        needs them)."""
        return layer.LayerCache(self.store)
