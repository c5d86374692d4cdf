"""Containers: their records on disk (:mod:`.records`) and the verbs on them (:mod:`.service`).

A container is an image's unpacked layers plus a writable upper dir; ``run``/``start`` run it in
the sandbox and ``commit`` turns its upper dir into a new layer.
"""

from .records import Container, ContainerNotFound, ContainerStore, RunConfig
from .service import ContainerService, RunOptions

__all__ = [
    "Container",
    "ContainerNotFound",
    "ContainerService",
    "ContainerStore",
    "RunConfig",
    "RunOptions",
]
