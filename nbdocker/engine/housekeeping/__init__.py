"""Housekeeping: what the store holds and what can go (``system df``, the ``prune`` verbs), and
whether it is sound (``fsck``).

- :mod:`.collector` — one collector behind every ``prune``: it never removes what a named
  image, a container or work in flight needs, and it clears what killed commands left
  (:mod:`nbdocker.engine.leftovers`); :func:`.collector.disk_usage` says what it would free.
- :mod:`.check` — every blob against its digest, every reference, every unpacked layer against a
  fresh unpack of its blob; ``repair`` removes what is corrupt and can be made again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:
    from .check import FsckReport, Problem, fsck
    from .collector import (
        ALL,
        DANGLING,
        DiskUsage,
        PruneOptions,
        PruneReport,
        UsageRow,
        collect,
        disk_usage,
        prune,
    )

__all__ = [
    "ALL",
    "DANGLING",
    "DiskUsage",
    "FsckReport",
    "Problem",
    "PruneOptions",
    "PruneReport",
    "UsageRow",
    "collect",
    "disk_usage",
    "fsck",
    "prune",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ALL": ".collector",
        "DANGLING": ".collector",
        "DiskUsage": ".collector",
        "FsckReport": ".check",
        "Problem": ".check",
        "PruneOptions": ".collector",
        "PruneReport": ".collector",
        "UsageRow": ".collector",
        "collect": ".collector",
        "disk_usage": ".collector",
        "fsck": ".check",
        "prune": ".collector",
    },
)
