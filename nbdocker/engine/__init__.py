"""The nbdocker engine: store, layers, references, archives — no IPython, no printing.

The public entry point is :class:`Engine`; failures are :class:`NbdockerError` subclasses whose
message is one line for the user.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import lazy_exports

if TYPE_CHECKING:
    from .builder.options import BuildOptions
    from .containers import RunOptions
    from .engine import Engine, HistoryEntry, ImageRow, Removal
    from .errors import (
        AmbiguousImage,
        ArchiveError,
        Conflict,
        DigestMismatch,
        DockerfileError,
        ImageNotFound,
        InvalidReference,
        NbdockerError,
        StorageError,
        UsageError,
    )
    from .events import Event, Progress, TaskDone, TaskStarted
    from .image import Image
    from .reference import Reference, parse_reference

__all__ = [
    "AmbiguousImage",
    "BuildOptions",
    "ArchiveError",
    "Conflict",
    "DigestMismatch",
    "DockerfileError",
    "Engine",
    "Event",
    "HistoryEntry",
    "Image",
    "ImageNotFound",
    "ImageRow",
    "InvalidReference",
    "NbdockerError",
    "Progress",
    "Reference",
    "Removal",
    "RunOptions",
    "StorageError",
    "TaskDone",
    "TaskStarted",
    "UsageError",
    "parse_reference",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "AmbiguousImage": ".errors",
        "BuildOptions": ".builder.options",
        "ArchiveError": ".errors",
        "Conflict": ".errors",
        "DigestMismatch": ".errors",
        "DockerfileError": ".errors",
        "Engine": ".engine",
        "Event": ".events",
        "HistoryEntry": ".engine",
        "Image": ".image",
        "ImageNotFound": ".errors",
        "ImageRow": ".engine",
        "InvalidReference": ".errors",
        "NbdockerError": ".errors",
        "Progress": ".events",
        "Reference": ".reference",
        "Removal": ".engine",
        "RunOptions": ".containers",
        "StorageError": ".errors",
        "TaskDone": ".events",
        "TaskStarted": ".events",
        "UsageError": ".errors",
        "parse_reference": ".reference",
    },
)
