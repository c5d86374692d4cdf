"""COPY and ADD as build steps: choose the source tree, plan, digest for the cache, and stream
the files into a new layer — in-process as root, inside the user namespace rootless.

A step gets a :class:`CopyContext` — the store, its build context, its scratch dir and how to
find a ``--from`` source — rather than the builder: what it may touch is explicit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import field
from pathlib import Path

from ... import layer, userns
from ...dockerfile import Add, SourcesAndDest
from ...errors import DockerfileError
from ...layer.view import LowerView
from ...lazy import lazy_dataclass
from ...store import LayerRecord, Transaction
from .. import copy
from ..context import BuildContext
from ..image_state import ImageState
from ..services import BuildServices
from .plan import CopyPlan, Where, plan_copy, source_entries
from .sources import ContextTree, ImageTree, SourceTree

__all__ = ["CopyContext", "PreparedCopy", "apply_copy", "prepare_copy"]


@lazy_dataclass(frozen=True)
class CopyContext:
    """What a COPY/ADD step reads and where it writes.

    ``path`` names the Dockerfile in messages; ``scratch`` is the build's scratch dir (downloads,
    archive data); ``from_layers(ref, line)`` gives the diffIDs of the stage or image a
    ``--from`` names (a DockerfileError at ``line`` if none)."""

    services: BuildServices
    path: str
    scratch: Path
    context: BuildContext | None
    source_date_epoch: int | None
    from_layers: Callable[[str, int], list[str]]


@lazy_dataclass(frozen=True)
class PreparedCopy:
    """A planned COPY/ADD: its plan, the tree it reads, and what the build cache keys on —
    the digest of everything it copies and, to explain a miss, each path's own digest."""

    plan: CopyPlan
    tree: SourceTree
    digest: str
    files: dict[str, str] = field(default_factory=dict)


def _tree(ctx: CopyContext, ins: SourcesAndDest, line: int) -> SourceTree:
    """The tree the instruction reads: a stage or image (``--from``), else the context."""
    if ins.from_:
        layers = ctx.services.layer_cache.ensure(ctx.from_layers(ins.from_, line))
        return ImageTree.of_layers(layers, f"--from={ins.from_}")
    if ctx.context is None:
        if ins.sources:
            raise DockerfileError(
                f"{ins.keyword} needs a build context; give a context directory (or use a heredoc)",
                ctx.path,
                line,
            )
        return ContextTree(ctx.scratch)
    return ctx.context.tree()


def prepare_copy(ctx: CopyContext, ins: SourcesAndDest, workdir: str) -> PreparedCopy:
    """Plan the copy (URLs are downloaded) and describe its sources for the build cache."""
    line = ins.line
    tree = _tree(ctx, ins, line)
    plan = plan_copy(
        ins.sources,
        ins.dest,
        workdir=workdir,
        tree=tree,
        is_add=isinstance(ins, Add),
        where=Where(ctx.path, line),
        heredocs=[(h.name, h.body) for h in ins.heredocs],
        checksum=ins.checksum,
        keep_git_dir=ins.keep_git_dir,
        context_bound=not ins.from_,
    )
    if isinstance(ins, Add):
        ctx.scratch.mkdir(parents=True, exist_ok=True)
        plan = copy.fetch_plan(plan, ctx.scratch)  # (httpx: only ADD loads it)
    if userns.needed() and isinstance(tree, ImageTree):
        pairs = copy.entries_in_userns(plan, tree)  # an image's files belong to namespace ids
    else:
        pairs = source_entries(plan, tree)
    digest = hashlib.sha256()
    files: dict[str, str] = {}
    for path, description in pairs:
        data = description.encode("utf-8", "surrogateescape")
        digest.update(data + b"\n")
        files[path] = hashlib.sha256(data).hexdigest()
    return PreparedCopy(plan, tree, "sha256:" + digest.hexdigest(), files)


def apply_copy(
    ctx: CopyContext,
    prepared: PreparedCopy,
    ins: SourcesAndDest,
    state: ImageState,
    number: int,
    line: int,
) -> int:
    """Add the copy to ``state`` as a new layer, streamed from the sources into the store
    (no file is created for it; the layer cache unpacks it if a later step runs on it);
    return the size of its files."""
    plan, tree = prepared.plan, prepared.tree
    services = ctx.services
    lowers = services.layer_cache.ensure(state.diff_ids)
    spill = ctx.scratch / f"step-{number}-archives"
    epoch = ctx.source_date_epoch
    where = f"{ctx.path}:{line}"
    if userns.needed():

        def in_userns(txn: Transaction) -> LayerRecord:
            helper = copy.layer_in_userns(
                plan,
                tree,
                lowers,
                chown=ins.chown,
                chmod=ins.chmod,
                spill=spill,
                source_date_epoch=epoch,
            )
            return layer.ingest_from_helper(txn, where, services.compression, helper)

        return state.store_layer(services.store, in_userns)
    entries = copy.build_copy(
        plan, tree, LowerView(tuple(lowers)), chown=ins.chown, chmod=ins.chmod, spill=spill
    )
    return state.store_layer(
        services.store,
        lambda txn: layer.ingest_produced(
            txn,
            where,
            services.compression,
            lambda out: copy.write_copy_layer(plan, entries, out, epoch),
        ),
    )
