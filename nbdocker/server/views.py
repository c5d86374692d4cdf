"""The engine's values as the JSON the lab extension reads (one shape per kind of thing)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..engine import Engine, HistoryEntry, ImageRow
from ..formatting import human_size, since

__all__ = [
    "container_json",
    "containers_json",
    "history_json",
    "images_json",
    "layers_json",
]

# A layer of a big image can touch hundreds of thousands of files: the view lists this many of
# each kind per layer and says how many there are.
MAX_FILES = 2000


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def images_json(engine: Engine, *, all: bool = False) -> list[dict[str, Any]]:
    """``images``' rows, newest first; ``in_use`` names the containers made from the image,
    ``dangling`` marks images without a repository (``<none>:<none>``)."""
    users: dict[str, list[str]] = {}
    for container in engine.ps(all=True):
        users.setdefault(container.config.image, []).append(container.name)
    return [_row(row, users.get(row.id, [])) for row in engine.images(all=all)]


def _row(row: ImageRow, users: list[str]) -> dict[str, Any]:
    return {
        "repository": row.repository,
        "tag": row.tag,
        "reference": _reference(row),
        "id": row.id,
        "short_id": row.image.short_id,
        "digest": row.digest,
        "created": _time(row.created),
        "created_text": since(row.created),
        "size": row.size,
        "size_text": human_size(row.size),
        "containers": users,
        "in_use": bool(users),
        "dangling": row.repository == "<none>",
    }


def _reference(row: ImageRow) -> str:
    """What names this row in ``tag``/``rmi``/``push``: ``repo:tag``, ``repo@digest`` or the ID."""
    if row.repository == "<none>":
        return row.id
    if row.tag != "<none>":
        return f"{row.repository}:{row.tag}"
    if row.digest != "<none>":
        return f"{row.repository}@{row.digest}"
    return row.id


def containers_json(engine: Engine) -> list[dict[str, Any]]:
    """Every container, newest first (``ps -a``)."""
    return [container_json(c) for c in engine.ps(all=True)]


def container_json(container: Any) -> dict[str, Any]:
    """A container as ``ps -a`` shows it (``status_text``: ``Up 2 minutes``, ``Exited (0) …``)."""
    from ..cli.container_verbs import container_status

    config = container.config
    return {
        "id": container.id,
        "short_id": container.short_id,
        "name": container.name,
        "image": config.image,
        "image_name": config.image_name,
        "command": " ".join(config.argv),
        "created": container.created,
        "created_text": since(container.created_time),
        "state": container.state,
        "status_text": container_status(container),
        "exit_code": container.exit_code,
        "started_at": container.started_at,
        "finished_at": container.finished_at,
        "tty": config.tty,
    }


def history_json(entries: list[HistoryEntry]) -> list[dict[str, Any]]:
    return [
        {
            "image": e.image,
            "created": _time(e.created),
            "created_text": since(e.created),
            "created_by": e.created_by,
            "size": e.size,
            "size_text": human_size(e.size),
            "comment": e.comment,
            "empty_layer": e.empty_layer,
        }
        for e in entries
    ]


def layers_json(engine: Engine, image: str) -> dict[str, Any]:
    """The image and its layers, bottom first, each with the files it added, changed and
    removed (at most :data:`MAX_FILES` of each, with the full counts)."""
    from ..notebook.layer_contents import layer_infos

    img = engine.get(image)
    layers = []
    for info in layer_infos(engine, img):
        layers.append(
            {
                "index": info.index,
                "diff_id": info.diff_id,
                "size": info.size,
                "size_text": human_size(info.size),
                "created_by": info.created_by,
                "comment": info.comment,
                **{
                    kind: sorted(files)[:MAX_FILES]
                    for kind, files in (
                        ("added", info.added),
                        ("changed", info.changed),
                        ("removed", info.removed),
                    )
                },
                "counts": {
                    "added": len(info.added),
                    "changed": len(info.changed),
                    "removed": len(info.removed),
                },
            }
        )
    return {
        "id": img.id,
        "short_id": img.short_id,
        "tags": [r.familiar for r in img.tags],
        "size": img.size,
        "size_text": human_size(img.size),
        "created": _time(img.created),
        "history": history_json(engine.history(img.id)),
        "layers": layers,
    }
