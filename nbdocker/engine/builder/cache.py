"""The build cache: which image a step made from which parent, and why a step missed.

A record says: from parent image P, the step with cache key K made image I (manifest M). The key
digests everything the step's result depends on — the parent, the instruction with its variables
expanded, the build args the step sees, and for COPY/ADD the content and metadata of its sources
(never their mtimes). Records also keep those parts, so that a miss can be explained by comparing
with the earlier builds from the same parent: which instruction text, build arg or file changed.

A miss is explained only by earlier builds *of the same Dockerfile*, never by an unrelated one
that happened to start from the same parent. What makes two builds builds of one Dockerfile is
its *lineage*: the names it tags (``tag:<reference>``), the path it was read from
(``file:<path>``), and what a front end adds (``cell:<id>`` for a notebook cell). Each record
keeps the lineage of the builds that made or reused it; a build whose lineage no record shares
is a ``first build``.

All records live in ``<home>/meta/cache/records.json``, read and written under the store's
exclusive lock; their manifests count as reachable for garbage collection, and ``rmi`` removes
the records of the images it deletes (and of intermediate parents nothing else uses).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, field
from pathlib import Path

from ..atomic import atomic_write
from ..lazy import lazy_dataclass
from ..store import Store

__all__ = ["FIRST_BUILD", "BuildCache", "CacheRecord", "StepKey"]

_MAX_FILES_KEPT = 5000  # per record: enough to name the changed file in most contexts
_MAX_LINEAGE = 16  # per record: the Dockerfiles that used it most recently
FIRST_BUILD = "first build"


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
    lineage: tuple[str, ...] = ()  # the Dockerfiles that made or reused it (see the docstring)


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
                        r["parent"],
                        r["key"],
                        StepKey(**r["step"]),
                        r["image"],
                        r["manifest"],
                        tuple(r.get("lineage") or ()),
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

    def add(
        self, parent: str, key: StepKey, image: str, manifest: str, lineage: Iterable[str] = ()
    ) -> None:
        """Record a step's result (call with the store's exclusive lock held)."""
        files = key.files if len(key.files) <= _MAX_FILES_KEPT else {}
        kept = StepKey(key.instruction, key.args, key.sources, files)
        digest = key.digest(parent)
        records = self.records()
        before = next((r.lineage for r in records if r.key == digest), ())
        records = [r for r in records if r.key != digest]
        records.append(CacheRecord(parent, digest, kept, image, manifest, _merged(before, lineage)))
        self._write(records)

    def note_reuse(self, keys: Iterable[str], lineage: Iterable[str]) -> None:
        """Add ``lineage`` to the records with these keys (steps a build took from the cache), so
        the next miss of that Dockerfile is explained by them. Call with the exclusive lock held;
        writes nothing when every record already has it."""
        wanted, names = set(keys), tuple(lineage)
        if not wanted or not names:
            return
        records = self.records()
        changed = False
        for i, r in enumerate(records):
            if r.key in wanted and not set(names) <= set(r.lineage):
                records[i] = CacheRecord(
                    r.parent, r.key, r.step, r.image, r.manifest, _merged(r.lineage, names)
                )
                changed = True
        if changed:
            self._write(records)

    def has_lineage(self, lineage: Iterable[str]) -> bool:
        """Whether a record was made or reused by a build sharing ``lineage``."""
        names = set(lineage)
        return any(names.intersection(r.lineage) for r in self.records())

    def explain_miss(self, parent: str, key: StepKey, lineage: Iterable[str] = ()) -> str:
        """Why no record matches: compare with the earlier builds of the same Dockerfile (records
        sharing ``lineage``) on the same parent; :data:`FIRST_BUILD` when there were none."""
        names = set(lineage)
        mine = [r for r in self.records() if names.intersection(r.lineage)]
        if not mine:
            return FIRST_BUILD
        siblings = [r for r in mine if r.parent == parent]
        if not siblings:
            return "the image it builds on changed since the last build of this Dockerfile"
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

    def lineage_of(self, image_ids: set[str]) -> set[str]:
        """``image_ids`` and every image the cache says they were built on, step by step (the
        intermediate images an image's build made)."""
        parents: dict[str, set[str]] = {}
        for r in self.records():
            parents.setdefault(r.image, set()).add(r.parent)
        seen: set[str] = set()
        pending = list(image_ids)
        while pending:
            image = pending.pop()
            if image not in seen:
                seen.add(image)
                pending.extend(parents.get(image, ()))
        return seen

    def retain(self, image_ids: set[str]) -> list[CacheRecord]:
        """Keep only the records that made one of ``image_ids``; return those dropped (call with
        the store's exclusive lock held; writes nothing when nothing is dropped)."""
        records = self.records()
        kept = [r for r in records if r.image in image_ids]
        if len(kept) != len(records):
            self._write(kept)
        return [r for r in records if r.image not in image_ids]

    def intermediate_images(self) -> list[tuple[str, str]]:
        """(image ID, manifest digest) of every image the cache holds."""
        return [(r.image, r.manifest) for r in self.records()]


def _merged(old: Iterable[str], new: Iterable[str]) -> tuple[str, ...]:
    """``old`` then ``new``, without repeats, the most recent :data:`_MAX_LINEAGE` kept."""
    fresh = list(new)
    kept = [n for n in old if n not in fresh] + list(dict.fromkeys(fresh))
    return tuple(kept[-_MAX_LINEAGE:])
