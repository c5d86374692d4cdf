"""The nbdocker engine: store, layers, references, archives — no IPython, no printing.

The public entry point is :class:`Engine`; failures are :class:`NbdockerError` subclasses whose
message is one line for the user.
"""

from .engine import BuildOptions, Engine, HistoryEntry, ImageRow, Removal, RunOptions
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
