"""Looking at an nbdocker store from the outside, the way a test needs to."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def snapshot(home: Path) -> dict[str, str]:
    """Every file of the store (but the lock files and the empty ingest dir) → sha256 of its bytes.

    Two equal snapshots mean a command changed nothing."""
    out: dict[str, str] = {}
    if not home.exists():
        return out
    for path in sorted(home.rglob("*")):
        if path.is_file() and path.name not in (".lock", ".lock-inflight"):
            out[str(path.relative_to(home))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def index(home: Path) -> list[dict[str, Any]]:
    manifests: list[dict[str, Any]] = json.loads((home / "index.json").read_text())["manifests"]
    return manifests


def ref_names(home: Path) -> list[str]:
    names = []
    for desc in index(home):
        name = (desc.get("annotations") or {}).get("org.opencontainers.image.ref.name")
        if name:
            names.append(name)
    return sorted(names)
