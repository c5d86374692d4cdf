"""Where blobs came from: ``meta/sources/<hex>.json`` in the store, e.g.
``{"127.0.0.1:5000": ["ouruser/sinatra"]}``.

A hint, not state: a push to another repository of the same registry tries a cross-repository
mount from these repositories before uploading. A stale or missing note only costs an upload.
Write under the store's exclusive lock (from a commit's update callback).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from ..atomic import atomic_write
from ..store import Store

__all__ = ["record_sources", "sources_of"]


def _path(store: Store, digest: str) -> Path:
    return store.root / "meta" / "sources" / (digest.split(":", 1)[1] + ".json")


def sources_of(store: Store, digest: str, domain: str) -> list[str]:
    """Repositories of ``domain`` the blob ``digest`` is known to be in."""
    try:
        data = json.loads(_path(store, digest).read_bytes())
        repos = data.get(domain) or []
        return [str(r) for r in repos]
    except (OSError, ValueError, AttributeError):
        return []


def record_sources(store: Store, digests: Iterable[str], domain: str, repo: str) -> None:
    """Note that the blobs ``digests`` are in ``domain/repo`` (best effort)."""
    for digest in set(digests):
        path = _path(store, digest)
        try:
            data = json.loads(path.read_bytes())
            if not isinstance(data, dict):
                data = {}
        except (OSError, ValueError):
            data = {}
        repos = [r for r in data.get(domain, []) if r != repo]
        data[domain] = [repo, *repos][:8]  # most recent first, bounded
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, json.dumps(data).encode())
        except OSError:
            pass  # only a hint
