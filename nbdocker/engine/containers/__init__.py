"""Containers: their records on disk (:mod:`.records`) and the verbs on them (:mod:`.service`).

A container is an image's unpacked layers plus a writable upper dir; ``run``/``start`` run it in
the sandbox and ``commit`` turns its upper dir into a new layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:
    from .records import Container, ContainerNotFound, ContainerStore, RunConfig
    from .run_options import RunOptions
    from .service import ContainerService

__all__ = [
    "Container",
    "ContainerNotFound",
    "ContainerService",
    "ContainerStore",
    "RunConfig",
    "RunOptions",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Container": ".records",
        "ContainerNotFound": ".records",
        "ContainerService": ".service",
        "ContainerStore": ".records",
        "RunConfig": ".records",
        "RunOptions": ".run_options",
    },
)
