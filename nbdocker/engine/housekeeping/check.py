"""``nbdocker fsck [--repair]``: is the store sound, and what can be put right.

It checks, in this order:

1. what killed commands left (:func:`~nbdocker.engine.leftovers.find_leftovers`);
2. every blob against its digest (its file name);
3. every reference: each index entry's manifest, its config and layers present, sound, and of
   the size the manifest says; the same for the build cache's records;
4. every unpacked layer of the layer form in use against a fresh unpack of its (sound) blob,
   and that some image still has it.

With ``repair`` it removes what is broken and can be made again: leftovers, unpacked layers
that differ or that no image has (remade on next need), corrupt blobs nothing names, build-cache
records whose blobs are broken (the step runs again next build), and index entries whose
manifest or config is gone or corrupt (no command could use or remove them; their names are
said, to be pulled, loaded or built again). A corrupt or missing layer blob of a listed image is
not repaired: nothing here can remake it; the problem names the images that need it.

Blobs and unpacked layers never change once in place, so they are read without the store lock
(a commit elsewhere waits for no checksum); the index and the cache are read under the shared
lock, and repairs take the exclusive one. Unpacked layers are removed only when no work is in
flight (``Store.quiet``); otherwise the problem is reported as not repaired, for a later run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from .. import userns
from ..builder.cache import BuildCache
from ..errors import NbdockerError, StorageError
from ..events import EventSink, Progress, TaskDone, TaskStarted
from ..layer.unpacked import LayerCache, chain_ids
from ..lazy import lazy_dataclass
from ..leftovers import find_leftovers
from ..oci import REF_NAME
from ..store import Store

__all__ = ["FsckReport", "Problem", "fsck"]

_CHUNK = 1 << 20


@lazy_dataclass(frozen=True)
class Problem:
    """One thing wrong, in one line (``text``); after a repair, whether it was put right and
    how (``outcome``), or why not."""

    text: str
    repaired: bool = False
    outcome: str = ""


@lazy_dataclass(frozen=True)
class FsckReport:
    problems: tuple[Problem, ...] = ()
    blobs: int = 0  # blobs checked
    images: int = 0  # index entries checked
    layers: int = 0  # unpacked layers checked

    @property
    def clean(self) -> bool:
        """No problem left (none found, or all repaired)."""
        return all(p.repaired for p in self.problems)


def _hash_file(path: Path, on_chunk: EventSink | None, done: list[int]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            done[0] += len(chunk)
            if on_chunk is not None:
                on_chunk(Progress("fsck", "blobs", done[0], done[1]))
    return "sha256:" + digest.hexdigest()


def _check_blobs(store: Store, on_event: EventSink) -> tuple[int, dict[str, str]]:
    """(blobs checked, digest → what is wrong with it) for every blob in the store."""
    digests = list(store.blob_digests())
    sizes = {}
    for d in digests:
        try:
            sizes[d] = store.blob_path(d).stat().st_size
        except (OSError, ValueError):
            sizes[d] = 0
    done = [0, sum(sizes.values())]
    on_event(TaskStarted("fsck", "blobs", done[1]))
    bad: dict[str, str] = {}
    checked = 0
    for digest in digests:
        try:
            actual = _hash_file(store.blob_path(digest), on_event, done)
        except FileNotFoundError:
            continue  # removed by a collection meanwhile
        except ValueError:
            bad[digest] = "is not named by a sha256 digest"
            continue
        checked += 1
        if actual != digest:
            bad[digest] = f"is corrupt: its content hashes to {actual}"
    on_event(TaskDone("fsck", "blobs", f"{checked} checked"))
    return checked, bad


def _document(store: Store, digest: str, bad: dict[str, str]) -> dict[str, object] | str:
    """A manifest or config the store holds, or what is wrong with it."""
    if digest in bad:
        return f"{digest} {bad[digest]}"
    if not store.has_blob(digest):
        return f"{digest} is missing"
    try:
        doc = json.loads(store.read_blob(digest))
    except (ValueError, StorageError):
        return f"{digest} is not a JSON document"
    return doc if isinstance(doc, dict) else f"{digest} is not a JSON object"


def _image_problems(
    store: Store, manifest_digest: str, bad: dict[str, str]
) -> tuple[str | None, list[str], list[str]]:
    """(what is wrong with the manifest or config — the image is unusable, its diffIDs,
    what is wrong with its layer blobs) for the image whose manifest is ``manifest_digest``."""
    manifest = _document(store, manifest_digest, bad)
    if isinstance(manifest, str):
        return f"manifest {manifest}", [], []
    config_desc = manifest.get("config")
    layers = manifest.get("layers")
    if not isinstance(config_desc, dict) or not isinstance(layers, list):
        return f"manifest {manifest_digest} has no config or no layers list", [], []
    config = _document(store, str(config_desc.get("digest")), bad)
    if isinstance(config, str):
        return f"config {config}", [], []
    rootfs = config.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list) or len(diff_ids) != len(layers):
        return f"config {config_desc.get('digest')} does not list one diffID per layer", [], []
    layer_problems: list[str] = []
    for desc in layers:
        digest = str(desc.get("digest")) if isinstance(desc, dict) else "?"
        if digest in bad:
            layer_problems.append(f"layer blob {digest} {bad[digest]}")
        elif not store.has_blob(digest):
            layer_problems.append(f"layer blob {digest} is missing")
        elif isinstance(desc, dict) and desc.get("size") != store.blob_path(digest).stat().st_size:
            layer_problems.append(
                f"layer blob {digest} has {store.blob_path(digest).stat().st_size} bytes, "
                f"the manifest says {desc.get('size')}"
            )
    return None, [str(d) for d in diff_ids], layer_problems


def _image_manifests(store: Store, digest: str, bad: dict[str, str]) -> list[str]:
    """The image manifests an index entry stands for: itself, or for an index of several
    platforms the platforms' manifests the store holds (a pull fetches the host's only)."""
    doc = _document(store, digest, bad)
    listed = None if isinstance(doc, str) else doc.get("manifests")
    if not isinstance(listed, list):
        return [digest]
    children = [c.get("digest") for c in listed if isinstance(c, dict)]
    return [c for c in children if isinstance(c, str) and store.has_blob(c)]


def fsck(
    store: Store, layers: LayerCache, on_event: EventSink, *, repair: bool = False
) -> FsckReport:
    """Check the store (see the module docstring); with ``repair``, put right what can be.

    Never raises for what it finds (that is the report); raises StorageError only when the
    store cannot be read or written at all."""
    problems: list[Problem] = []
    for path in find_leftovers(store.root):
        rel = path.relative_to(store.root)
        problem = Problem(f"leftover {rel}: left by a command that was killed")
        if repair:
            if path.is_dir():
                userns.remove_tree(path)
            else:
                path.unlink(missing_ok=True)
            problem = Problem(problem.text, True, "removed")
        problems.append(problem)

    blob_count, bad = _check_blobs(store, on_event)

    with store.locked(exclusive=False):
        index = store.read_index()
        records = BuildCache(store).records()
    names: dict[str, list[str]] = {}
    for desc in index:
        name = desc.get("annotations", {}).get(REF_NAME)
        names.setdefault(desc["digest"], [])
        if name:
            names[desc["digest"]].append(name)

    unusable: dict[str, str] = {}  # manifest digest → problem (image cannot be read)
    chains: dict[str, str] = {}  # chain ID → top diffID, of every image with sound documents
    needed_by: dict[str, set[str]] = {}  # bad layer problem → images needing it
    for manifest_digest, refs in names.items():
        what = ", ".join(refs) or f"untagged image (manifest {manifest_digest})"
        for digest in _image_manifests(store, manifest_digest, bad):
            broken, diff_ids, layer_problems = _image_problems(store, digest, bad)
            if broken is not None:
                unusable[manifest_digest] = f"{what}: {broken}"
                continue
            for diff_id, chain in zip(diff_ids, chain_ids(diff_ids), strict=True):
                chains[chain] = diff_id
            for text in layer_problems:
                needed_by.setdefault(text, set()).add(what)
    broken_records: list[str] = []  # intermediate image IDs
    for record in records:
        broken, diff_ids, layer_problems = _image_problems(store, record.manifest, bad)
        if broken is not None or layer_problems:
            broken_records.append(record.image)
            continue
        for diff_id, chain in zip(diff_ids, chain_ids(diff_ids), strict=True):
            chains.setdefault(chain, diff_id)

    reached = store.reachable(names, {r.manifest for r in records if r.image not in broken_records})
    if repair and (unusable or broken_records):
        with store.transaction() as txn:
            for manifest_digest in unusable:
                txn.forget(manifest_digest)
            cache = BuildCache(store)
            cache.retain({r.image for r in cache.records()} - set(broken_records))
    for text in sorted(unusable.values()):
        if repair:
            outcome = "removed from the image list: pull, load or build it again"
            problems.append(Problem(text, True, outcome))
        else:
            problems.append(Problem(text + " (fsck --repair removes the entry)"))
    for image_id in sorted(set(broken_records)):
        text = f"build cache: the step that made {image_id} has a missing or corrupt blob"
        outcome = "record removed: the step runs again" if repair else ""
        problems.append(Problem(text, repair, outcome))
    for text, images in sorted(needed_by.items()):
        line = f"{text}; needed by {', '.join(sorted(images))}"
        problems.append(
            Problem(
                line,
                False,
                "cannot be repaired here: remove those images (nbdocker rmi) and pull, load or "
                "build them again"
                if repair
                else "",
            )
        )
    for digest, what in sorted(bad.items()):
        if digest in reached:
            continue  # (said above, with the images needing it)
        problem = Problem(f"blob {digest} {what}; no image needs it")
        if repair:
            with store.locked(exclusive=True), store.quiet() as quiet:
                if quiet:
                    store.blob_path(digest).unlink(missing_ok=True)
                    problem = Problem(problem.text, True, "removed")
                else:
                    problem = Problem(problem.text, False, "work in flight: run fsck again later")
        problems.append(problem)

    layer_count = _check_layers(layers, chains, bad, store, on_event, repair, problems)
    return FsckReport(tuple(problems), blob_count, len(names), layer_count)


def _check_layers(
    layers: LayerCache,
    chains: dict[str, str],
    bad: dict[str, str],
    store: Store,
    on_event: EventSink,
    repair: bool,
    problems: list[Problem],
) -> int:
    entries = [p for p in _listing(layers.root)]
    on_event(TaskStarted("fsck", "unpacked layers"))
    checked = 0
    for number, path in enumerate(entries, 1):
        on_event(Progress("fsck", "unpacked layers", number, len(entries)))
        chain = "sha256:" + path.name
        rel = path.relative_to(store.root)
        if chain not in chains:
            text = f"unpacked layer {rel}: no image has it"
        else:
            record = store.layer(chains[chain])
            if record is None or record.blob in bad:
                continue  # its blob's problem is said above
            try:
                difference = layers.verify(chains[chain], chain)
            except FileNotFoundError:
                continue  # removed by a collection meanwhile
            except NbdockerError as exc:
                difference = str(exc)
            checked += 1
            if difference is None:
                continue
            text = f"unpacked layer {rel} differs from its blob: {difference}"
        problem = Problem(text)
        if repair:
            with store.locked(exclusive=True), store.quiet() as quiet:
                if quiet:
                    userns.remove_tree(path)
                    problem = Problem(text, True, "removed (unpacked again when needed)")
                else:
                    problem = Problem(text, False, "work in flight: run fsck again later")
        problems.append(problem)
    on_event(TaskDone("fsck", "unpacked layers", f"{checked} checked"))
    return checked


def _listing(folder: Path) -> Iterable[Path]:
    try:
        return sorted(e for e in folder.iterdir() if not e.name.startswith("."))
    except FileNotFoundError:
        return []
