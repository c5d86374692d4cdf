"""COPY/ADD inside the user namespace (rootless): the requests, their serving and their callers.

Rootless, an image's files belong to ids of the user namespace, so reading them (``COPY --from``)
and writing a layer over them must happen there. The step sends its plan, its source tree and
its options as JSON (:class:`CopyLayerRequest`, :class:`CopyEntriesRequest`) to the helper
(:mod:`nbdocker.engine.userns_helper`), which runs the same :func:`~.layertree.build_copy` /
:func:`~.plan.source_entries` as the in-process path; its errors come back as data and are the
step's errors, at the step's line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal, TypedDict, cast

from ... import userns
from ...errors import DockerfileError, NbdockerError
from ...layer.view import LowerView
from ..dockerignore import IgnoreRules
from .layertree import build_copy, write_copy_layer
from .plan import CopyPlan, PlanJSON, source_entries
from .sources import ContextTree, ImageTree, SourceTree

__all__ = [
    "CopyEntriesRequest",
    "CopyLayerRequest",
    "TreeJSON",
    "entries_in_userns",
    "layer_in_userns",
    "serve_copy_entries",
    "serve_copy_layer",
    "tree_json",
]


if TYPE_CHECKING:

    class ContextTreeJSON(TypedDict):
        kind: Literal["context"]
        root: str
        ignore: list[str]  # .dockerignore patterns, "!" for exceptions

    class ImageTreeJSON(TypedDict):
        kind: Literal["image"]
        layers: list[str]  # bottom-most first
        label: str

    TreeJSON = ContextTreeJSON | ImageTreeJSON

    class CopyEntriesRequest(TypedDict):
        """``copy-entries``: what the plan copies (:func:`~.plan.source_entries`)."""

        plan: PlanJSON
        tree: TreeJSON

    class CopyLayerRequest(TypedDict):
        """``copy-layer``: the step's layer tar on the helper's stdout; the result is its size."""

        plan: PlanJSON
        tree: TreeJSON
        lower: list[str]  # the image's layers, bottom-most first
        chown: str | None
        chmod: str | None
        spill: str  # a scratch dir for the data of extracted archives
        source_date_epoch: int | None

else:  # at run time these are the dicts json makes: the names cost nothing to import
    ContextTreeJSON = dict
    ImageTreeJSON = dict
    TreeJSON = dict
    CopyEntriesRequest = dict
    CopyLayerRequest = dict


def tree_json(tree: SourceTree) -> TreeJSON:
    """A source tree as the helper rebuilds it."""
    if isinstance(tree, ImageTree):
        layers = [str(p) for p in reversed(tree.view.top_first)]
        return {"kind": "image", "layers": layers, "label": tree.label}
    if isinstance(tree, ContextTree):
        patterns = [("!" if p.exclusion else "") + p.text for p in tree.rules.patterns]
        return {"kind": "context", "root": str(tree.root), "ignore": patterns}
    raise TypeError(f"no JSON form for {type(tree).__name__}")


def _tree(data: TreeJSON) -> SourceTree:
    if data["kind"] == "context":
        return ContextTree(Path(data["root"]), IgnoreRules.from_patterns(data["ignore"]))
    return ImageTree.of_layers([Path(p) for p in data["layers"]], data["label"])


def _located(plan: CopyPlan) -> Callable[[NbdockerError], NbdockerError]:
    """A helper failure as the step's error: already located, or at the step's line."""

    def own(exc: NbdockerError) -> NbdockerError:
        return exc if isinstance(exc, DockerfileError) else plan.where.error(str(exc))

    return own


def entries_in_userns(plan: CopyPlan, tree: SourceTree) -> list[tuple[str, str]]:
    """:func:`~.plan.source_entries`, read inside the user namespace."""
    request: CopyEntriesRequest = {"plan": plan.to_json(), "tree": tree_json(tree)}
    what = f"reading the {tree.label}"
    result = userns.call("copy-entries", request, what=what, own=_located(plan))
    return [(path, described) for path, described in cast(list[list[str]], result["entries"])]


def layer_in_userns(
    plan: CopyPlan,
    tree: SourceTree,
    lower: Sequence[Path],
    *,
    chown: str | None,
    chmod: str | None,
    spill: Path,
    source_date_epoch: int | None,
) -> userns.Helper:
    """Start writing the step's layer inside the user namespace; read it from the helper's
    stdout, then its reply (errors raised as the step's)."""
    request: CopyLayerRequest = {
        "plan": plan.to_json(),
        "tree": tree_json(tree),
        "lower": [str(p) for p in lower],
        "chown": chown,
        "chmod": chmod,
        "spill": str(spill),
        "source_date_epoch": source_date_epoch,
    }
    what = f"{plan.keyword} in the user namespace"
    return userns.start("copy-layer", request, what=what, stdout=True, own=_located(plan))


def serve_copy_entries(
    args: dict[str, object], stdin: BinaryIO, stdout: BinaryIO
) -> dict[str, object]:
    request = cast(CopyEntriesRequest, args)
    entries = source_entries(CopyPlan.from_json(request["plan"]), _tree(request["tree"]))
    return {"entries": [list(entry) for entry in entries]}


def serve_copy_layer(
    args: dict[str, object], stdin: BinaryIO, stdout: BinaryIO
) -> dict[str, object]:
    request = cast(CopyLayerRequest, args)
    plan = CopyPlan.from_json(request["plan"])
    layer = build_copy(
        plan,
        _tree(request["tree"]),
        LowerView(tuple(Path(p) for p in request["lower"])),
        chown=request["chown"],
        chmod=request["chmod"],
        spill=Path(request["spill"]),
    )
    size = write_copy_layer(plan, layer, stdout, request["source_date_epoch"])
    return {"content_size": size}
