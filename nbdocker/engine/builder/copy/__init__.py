"""COPY and ADD: which files a step copies, a digest of them, and writing them into a layer.

- :mod:`.sources` — the trees COPY reads: the build context (``.dockerignore`` honoured) and an
  image (``--from``), with confined symlink resolution and Docker's globbing.
- :mod:`.plan` — :func:`~.plan.plan_copy` resolves sources and destination by Docker's rules
  into a :class:`~.plan.CopyPlan`; :func:`~.plan.source_digest` hashes what it copies (names,
  types, modes, link targets, contents — never mtimes) for the build cache.
- :mod:`.chown` — the ``--chown`` identity, from the destination image's passwd and group.
- :mod:`.layertree` — the step's new entries in memory (overlayfs' rules) and the layer tar
  streamed from their sources: no file is created for a copied one.
- :mod:`.fetch` — ADD of URLs: downloaded first, checked against ``--checksum``.
- :mod:`.helper` — the same work inside the user namespace, for rootless builds.
- :mod:`.step` — COPY/ADD as a build step, given an explicit :class:`~.step.CopyContext`.

Every user mistake is a one-line :class:`~nbdocker.engine.errors.DockerfileError` naming
``Dockerfile:line``, raised before anything is written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...lazy import lazy_exports

if TYPE_CHECKING:
    from .fetch import fetch_plan
    from .helper import entries_in_userns, layer_in_userns, serve_copy_entries, serve_copy_layer
    from .layertree import LayerTree, build_copy, write_copy_layer
    from .plan import CopyItem, CopyPlan, Where, plan_copy, source_digest, source_entries
    from .sources import ContextTree, ImageTree, SourceTree
    from .step import CopyContext, PreparedCopy, apply_copy, prepare_copy

__all__ = [
    "ContextTree",
    "CopyContext",
    "CopyItem",
    "CopyPlan",
    "ImageTree",
    "LayerTree",
    "PreparedCopy",
    "SourceTree",
    "Where",
    "apply_copy",
    "build_copy",
    "entries_in_userns",
    "fetch_plan",
    "layer_in_userns",
    "plan_copy",
    "prepare_copy",
    "serve_copy_entries",
    "serve_copy_layer",
    "source_digest",
    "source_entries",
    "write_copy_layer",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ContextTree": ".sources",
        "CopyContext": ".step",
        "CopyItem": ".plan",
        "CopyPlan": ".plan",
        "ImageTree": ".sources",
        "LayerTree": ".layertree",
        "PreparedCopy": ".step",
        "SourceTree": ".sources",
        "Where": ".plan",
        "apply_copy": ".step",
        "build_copy": ".layertree",
        "entries_in_userns": ".helper",
        "fetch_plan": ".fetch",
        "layer_in_userns": ".helper",
        "plan_copy": ".plan",
        "prepare_copy": ".step",
        "serve_copy_entries": ".helper",
        "serve_copy_layer": ".helper",
        "source_digest": ".plan",
        "source_entries": ".plan",
        "write_copy_layer": ".layertree",
    },
)
