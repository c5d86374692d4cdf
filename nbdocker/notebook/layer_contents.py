"""What each layer of an image did: its size, the instruction that made it, and the files it
added, changed and removed (read from the layer tars in the store).

A path is *added* when no layer below had it, *changed* when one did, and *removed* by an OCI
whiteout (``.wh.<name>``; an opaque directory ``.wh..wh..opq`` removes what lay below it).
"""

from __future__ import annotations

import posixpath
import tarfile
from dataclasses import dataclass, field
from typing import Any

from ..engine import Engine
from ..engine.image import Image
from ..engine.layer import decompressed
from ..engine.layer.overlay import WHITEOUT_OPAQUE, WHITEOUT_PREFIX

__all__ = ["LayerInfo", "layer_infos"]


@dataclass
class LayerInfo:
    index: int  # 0 for the bottom layer
    diff_id: str
    size: int  # bytes of files in it (Docker's layer size)
    created_by: str  # the instruction (history entry) that made it
    comment: str = ""
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def _history_for_layers(config: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """The history entries that made a layer (empty_layer ones skipped), one per layer."""
    entries = [h for h in config.get("history") or [] if not h.get("empty_layer")]
    entries = entries[-count:] if len(entries) >= count else entries
    return [{}] * (count - len(entries)) + entries


def layer_infos(engine: Engine, image: Image | str, files: bool = True) -> list[LayerInfo]:
    """One :class:`LayerInfo` per layer of ``image``, bottom first. With ``files`` the layer
    tars are read (stream-decompressed, nothing unpacked) to list the files each touched."""
    img = engine.get(image) if isinstance(image, str) else image
    diff_ids = img.diff_ids
    history = _history_for_layers(img.config, len(diff_ids))
    seen: set[str] = set()
    out: list[LayerInfo] = []
    for index, diff_id in enumerate(diff_ids):
        record = engine.store.layer(diff_id)
        entry = history[index]
        info = LayerInfo(
            index,
            diff_id,
            record.content_size if record else 0,
            entry.get("created_by", "") or entry.get("comment", ""),
            entry.get("comment", ""),
        )
        if files and record is not None:
            _read_layer(engine, record.blob, info, seen)
        out.append(info)
    return out


def _clean(name: str) -> str:
    """``./etc/passwd``, ``etc/passwd``, ``/etc/passwd`` → ``/etc/passwd``; ``./`` → ``/``."""
    path = posixpath.normpath("/" + name)
    return "/" + path.lstrip("/")


def _read_layer(engine: Engine, blob: str, info: LayerInfo, seen: set[str]) -> None:
    mine: set[str] = set()
    with (
        engine.store.open_blob(blob) as raw,
        tarfile.open(fileobj=decompressed(raw), mode="r|") as tar,
    ):
        for member in tar:
            path = _clean(member.name)
            base = posixpath.basename(path)
            parent = posixpath.dirname(path)
            if base == WHITEOUT_OPAQUE:
                below = [p for p in seen if p.startswith(parent.rstrip("/") + "/")]
                info.removed.extend(sorted(below))
                seen.difference_update(below)
                continue
            if base.startswith(WHITEOUT_PREFIX):
                gone = posixpath.join(parent, base[len(WHITEOUT_PREFIX) :])
                info.removed.append(gone)
                seen.discard(gone)
                seen.difference_update([p for p in seen if p.startswith(gone + "/")])
                continue
            if path == "/" or path in mine:
                continue
            mine.add(path)
            if member.isdir() and path in seen:
                continue  # a directory that was only passed through: not a change of its own
            (info.changed if path in seen else info.added).append(path)
    seen.update(mine)
