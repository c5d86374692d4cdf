"""COPY and ADD as build steps: choose the source tree, plan, digest for the cache, and stream
the files into a new layer — in-process as root, inside the user namespace rootless."""

from __future__ import annotations

import hashlib
import json
import subprocess
from typing import TYPE_CHECKING, Any

from .. import userns
from ..dockerfile import Add, Copy
from ..errors import DockerfileError, ImageNotFound, NbdockerError
from ..image import find_image
from ..sandbox._view import LowerView
from ..upper import ingest_from_helper, ingest_produced
from .copy import (
    ContextTree,
    CopyPlan,
    ImageTree,
    SourceTree,
    Where,
    build_copy,
    plan_copy,
    source_entries,
    write_copy_layer,
)
from .fetch import fetch_plan
from .state import ImageState

if TYPE_CHECKING:
    from .build import Builder, _StageRun

__all__ = ["apply_copy_step", "prepare_copy"]


def _tree(builder: Builder, ins: Copy | Add, line: int) -> tuple[SourceTree, dict[str, Any]]:
    """The tree a COPY/ADD reads, and how to describe it to a user-namespace helper."""
    source = getattr(ins, "from_", None)
    if source:
        state = _stage_or_image(builder, source, line)
        layers = builder.layer_cache.ensure(state.diff_ids)
        return ImageTree.of_layers(layers, f"--from={source}"), {
            "kind": "image",
            "layers": [str(p) for p in layers],
            "label": f"--from={source}",
        }
    if builder.context is None:
        if ins.sources:
            raise DockerfileError(
                f"{ins.keyword} needs a build context; give a context directory (or use a heredoc)",
                builder.path,
                line,
            )
        empty = ContextTree(builder.scratch)
        return empty, {"kind": "context", "root": str(builder.scratch), "ignore": []}
    tree = builder.context.tree()
    patterns = [("!" if p.exclusion else "") + p.text for p in tree.rules.patterns]
    return tree, {"kind": "context", "root": str(tree.root), "ignore": patterns}


def _stage_or_image(builder: Builder, ref: str, line: int) -> ImageState:
    for stage in builder.plan.stages:
        if stage.name == ref.lower() or str(stage.index) == ref:
            return builder.results[stage.index]
    try:
        return ImageState.of(find_image(builder.store, ref))
    except ImageNotFound:
        pull = builder.services.pull
        try:
            if pull is None:
                raise
            return ImageState.of(pull(ref))
        except NbdockerError as exc:
            raise DockerfileError(
                f"--from={ref}: no stage or image of that name ({exc}); "
                "name a stage defined above or an image in the store",
                builder.path,
                line,
            ) from None


def prepare_copy(
    builder: Builder, run: _StageRun, ins: Copy | Add, number: int
) -> tuple[tuple[CopyPlan, SourceTree, dict[str, Any]], str, dict[str, str]]:
    """Plan the copy; return (plan with its tree, digest of the sources, path → digest)."""
    line = ins.line
    tree, tree_json = _tree(builder, ins, line)
    plan = plan_copy(
        ins.sources,
        ins.dest,
        workdir=run.state.run_config.get("WorkingDir") or "/",
        tree=tree,
        is_add=isinstance(ins, Add),
        where=Where(builder.path, line),
        heredocs=[(h.name, h.body) for h in ins.heredocs],
        checksum=getattr(ins, "checksum", None),
        keep_git_dir=getattr(ins, "keep_git_dir", False),
        context_bound=not getattr(ins, "from_", None),
    )
    if isinstance(ins, Add):
        builder.scratch.mkdir(parents=True, exist_ok=True)
        plan = fetch_plan(plan, builder.scratch)
    if userns.needed() and tree_json["kind"] == "image":
        entries = _in_userns("entries", {"plan": plan.to_json(), "tree": tree_json}, builder)
        pairs = [(str(p), str(d)) for p, d in json.loads(entries)]
    else:
        pairs = source_entries(plan, tree)
    digest = hashlib.sha256()
    files: dict[str, str] = {}
    for path, description in pairs:
        digest.update(description.encode("utf-8", "surrogateescape") + b"\n")
        files[path] = hashlib.sha256(description.encode("utf-8", "surrogateescape")).hexdigest()
    return (plan, tree, tree_json), "sha256:" + digest.hexdigest(), files


def apply_copy_step(
    builder: Builder,
    run: _StageRun,
    state: ImageState,
    ins: Copy | Add,
    prepared: tuple[CopyPlan, SourceTree, dict[str, Any]],
    number: int,
    line: int,
) -> int:
    """Add the copy to ``state`` as a new layer, streamed from the sources into the store
    (no file is created for it; the layer cache unpacks it if a later step runs on it)."""
    plan, tree, tree_json = prepared
    lowers = builder.layer_cache.ensure(state.diff_ids)
    spill = builder.scratch / f"step-{number}-archives"
    epoch = builder.options.source_date_epoch
    where = f"{builder.path}:{line}"
    if userns.needed():
        job = {
            "plan": plan.to_json(),
            "tree": tree_json,
            "lower": [str(p) for p in lowers],
            "chown": ins.chown,
            "chmod": ins.chmod,
            "spill": str(spill),
            "source_date_epoch": epoch,
        }
        return builder._add_layer(
            state,
            lambda txn: ingest_from_helper(
                txn,
                where,
                builder.services.compression,
                ("builder.copy", "layer"),
                job=json.dumps(job).encode(),
                failed=lambda reason: _helper_error(reason, builder, line),
            ),
        )
    layer = build_copy(
        plan, tree, LowerView(tuple(lowers)), chown=ins.chown, chmod=ins.chmod, spill=spill
    )
    return builder._add_layer(
        state,
        lambda txn: ingest_produced(
            txn,
            where,
            builder.services.compression,
            lambda out: write_copy_layer(plan, layer, out, epoch),
        ),
    )


def _helper_error(text: str, builder: Builder, line: int) -> DockerfileError:
    """The helper's one-line error as the step's: already located (``Dockerfile:N: …``) or not."""
    prefix = f"{builder.path}:"
    if text.startswith(prefix):
        where, _, rest = text.partition(": ")
        return DockerfileError(rest, builder.path, int(where.rsplit(":", 1)[1]))
    return DockerfileError(text, builder.path, line)


def _in_userns(command: str, job: dict[str, Any], builder: Builder) -> str:
    proc = userns.spawn(
        "builder.copy",
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = proc.communicate(json.dumps(job).encode())
    if proc.returncode != 0:
        message = err.decode(errors="replace").strip().splitlines()
        text = message[-1] if message else f"exit status {proc.returncode}"
        raise _helper_error(text, builder, job["plan"]["where"]["line"])
    return out.decode()
