"""The build cache: which image a step made from which parent, and why a step missed.

A record says: from parent image P, the step with cache key K made image I (manifest M). The key
digests everything the step's result depends on — the parent, the instruction with its variables
expanded, the build args the step sees, and for COPY/ADD the content and metadata of its sources
(never their mtimes). Records also keep those parts, so that a miss can be explained by comparing
with the earlier builds from the same parent: which instruction text, build arg or file changed.

All records live in ``<home>/meta/cache/records.json``, read and written under the store's
exclusive lock; their manifests count as reachable for garbage collection, and ``rmi`` removes
the records of the images it deletes (and of intermediate parents nothing else uses).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, field
from pathlib import Path

from ..atomic import atomic_write
from ..lazy import lazy_dataclass
from ..store import Store

__all__ = ["BuildCache", "CacheRecord", "StepKey"]

_MAX_FILES_KEPT = 5000  # per record: enough to name the changed file in most contexts


@lazy_dataclass(frozen=True)
class StepKey:
    """What a step's result depends on (besides its parent)."""

    instruction: str  # the instruction with variables expanded
    args: dict[str, str] = field(default_factory=dict)
    sources: str = ""  # digest of COPY/ADD sources
    files: dict[str, str] = field(default_factory=dict)  # path → digest, to explain misses

    def digest(self, parent: str) -> str:
        data = json.dumps([parent, self.instruction, sorted(self.args.items()), self.sources])
        return "sha256:" + hashlib.sha256(data.encode()).hexdigest()


@lazy_dataclass(frozen=True)
class CacheRecord:
    parent: str
    key: str
    step: StepKey
    image: str
    manifest: str


class BuildCache:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.path = store.root / "meta" / "cache" / "records.json"

    def records(self) -> list[CacheRecord]:
        try:
            raw = json.loads(self.path.read_bytes())
        except (FileNotFoundError, ValueError):
            return []
        out = []
        for r in raw:
            try:
                out.append(
                    CacheRecord(
                        r["parent"], r["key"], StepKey(**r["step"]), r["image"], r["manifest"]
                    )
                )
            except (KeyError, TypeError):
                continue
        return out

    def _write(self, records: list[CacheRecord]) -> None:
        Path(self.path.parent).mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, json.dumps([asdict(r) for r in records]).encode())

    def lookup(self, parent: str, key: StepKey) -> CacheRecord | None:
        digest = key.digest(parent)
        for record in reversed(self.records()):
            if record.key == digest and self.store.has_blob(record.manifest):
                manifest = self.store.read_manifest(record.manifest)
                if all(self.store.has_blob(d["digest"]) for d in manifest["layers"]):
                    return record
        return None

    def add(self, parent: str, key: StepKey, image: str, manifest: str) -> None:
        """Record a step's result (call with the store's exclusive lock held)."""
        files = key.files if len(key.files) <= _MAX_FILES_KEPT else {}
        kept = StepKey(key.instruction, key.args, key.sources, files)
        digest = key.digest(parent)
        records = [r for r in self.records() if r.key != digest]
        records.append(CacheRecord(parent, digest, kept, image, manifest))
        self._write(records)

    def explain_miss(self, parent: str, key: StepKey) -> str:
        """Why no record matches: compare with earlier steps built on the same parent."""
        siblings = [r for r in self.records() if r.parent == parent]
        if not siblings:
            return "no earlier build of this step on this parent image"
        same_text = [r for r in siblings if r.step.instruction == key.instruction]
        if not same_text:
            last = siblings[-1].step.instruction
            return f"the instruction changed (it was: {last})"
        previous = same_text[-1].step
        changed_args = sorted(
            name
            for name in set(previous.args) | set(key.args)
            if previous.args.get(name) != key.args.get(name)
        )
        if changed_args:
            name = changed_args[0]
            return (
                f"build arg {name} changed ({previous.args.get(name, '<unset>')!r} → "
                f"{key.args.get(name, '<unset>')!r})"
            )
        if previous.sources != key.sources:
            for path in sorted(set(previous.files) | set(key.files)):
                if path not in previous.files:
                    return f"file {path} was added"
                if path not in key.files:
                    return f"file {path} was removed"
                if previous.files[path] != key.files[path]:
                    return f"file {path} changed"
            return "the files it copies changed"
        return "its earlier result is no longer in the store"

    def roots(self) -> set[str]:
        """Manifests the cache keeps alive (for garbage collection)."""
        return {r.manifest for r in self.records()}

    def forget(self, image_ids: set[str], keep: set[str]) -> set[str]:
        """Drop records that made ``image_ids``, then their parents' records while those parents
        are in no other record's chain and not in ``keep``; return every image ID dropped."""
        records = self.records()
        dropped: set[str] = set()
        pending = set(image_ids)
        while pending:
            image = pending.pop()
            mine = [r for r in records if r.image == image]
            if not mine:
                continue
            records = [r for r in records if r.image != image]
            dropped.add(image)
            for r in mine:
                parent = r.parent
                if parent in keep or any(o.parent == parent for o in records):
                    continue
                pending.add(parent)
        self._write(records)
        return dropped

    def intermediate_images(self) -> list[tuple[str, str]]:
        """(image ID, manifest digest) of every image the cache holds."""
        return [(r.image, r.manifest) for r in self.records()]
