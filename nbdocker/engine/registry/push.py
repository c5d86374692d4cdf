"""``push``: send images of the store to a registry.

``push ouruser/sinatra`` pushes every tag of that repository (as the tutorial's ``docker push``
does); ``push ouruser/sinatra:v2`` that one. For each image, each layer is checked with ``HEAD``
first (present → "Layer already exists"), then mounted from another repository of the same
registry that it is known to have come from or gone to (``meta/sources``; → "Mounted from …"),
else uploaded, streamed from the store (→ "Pushed"); several layers move at once. Then the
config, and last the manifest, byte-exact, so the registry's digest is the store's.

Failure guarantees: a tag appears in the registry only with its manifest, which is sent after
every blob it needs is there, so a failed push leaves no tag half-pushed (blobs already sent stay
and are not sent again). Locally, pushed images gain ``name@digest`` references (RepoDigests);
nothing else changes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from ..errors import ImageNotFound, NbdockerError, UsageError
from ..events import EventSink, Progress, TaskDone, TaskStarted
from ..image import Catalog, Image
from ..lazy import lazy_dataclass
from ..oci import MANIFEST_MEDIA_TYPE
from ..reference import Reference, parse_reference
from ..store import ImageEntry, Store, Transaction, descriptor_in
from . import credentials
from ._parallel import run_parallel
from ._sources import record_sources, sources_of
from .client import ManifestBlob, RegistryClient, pull_scope, push_scope
from .pull import short
from .transport import RegistrySettings

__all__ = ["PushResult", "push"]


@lazy_dataclass(frozen=True)
class PushResult:
    """One pushed tag: its reference, the manifest digest and size the registry holds."""

    reference: Reference
    digest: str
    size: int


def _targets(catalog: Catalog, ref: Reference) -> list[tuple[Reference, Image]]:
    if ref.tag is not None:
        image_id = catalog.by_name.get(ref)
        if image_id is None:
            raise ImageNotFound(
                f"an image does not exist locally with the tag: {ref.familiar}; "
                "tag one first (nbdocker tag IMAGE " + ref.familiar + ")"
            )
        return [(ref, catalog.images[image_id])]
    found = sorted(
        (r, catalog.images[i])
        for r, i in catalog.by_name.items()
        if r.name == ref.name and r.tag is not None
    )
    if not found:
        raise ImageNotFound(
            f"an image does not exist locally with the tag: {ref.familiar_name}; "
            f"tag one first (nbdocker tag IMAGE {ref.familiar_name}:TAG)"
        )
    return found


def push(
    store: Store, reference: str, settings: RegistrySettings, on_event: EventSink
) -> list[PushResult]:
    """Push the tag ``reference`` names, or every tag of its repository when it has none."""
    ref = parse_reference(reference, default_tag=False)
    if ref.digest is not None:
        raise UsageError(f"push {reference}: push a tag, not a digest")
    with store.locked(exclusive=False):
        index = store.read_index()
        catalog = Catalog(store, index)
        targets = _targets(catalog, ref)
        entries = {
            image.id: ImageEntry(image.id, descriptor_in(index, image.manifest_digest))
            for _, image in targets
        }
    results: list[PushResult] = []
    with RegistryClient(ref.domain, settings, credentials.load(ref.domain)) as client:
        for tag_ref, image in targets:
            entry = entries[image.id]
            manifest_data = store.read_blob(image.manifest_digest)
            media_type = (
                image.manifest.get("mediaType")
                or entry.manifest.get("mediaType")
                or MANIFEST_MEDIA_TYPE
            )
            layers = image.manifest["layers"]
            jobs: list[Callable[[EventSink], None]] = []
            seen: set[str] = set()
            for layer in layers:
                digest = layer["digest"]
                if digest not in seen:
                    seen.add(digest)
                    jobs.append(_blob_job(client, store, ref.path, digest, layer["size"]))
            run_parallel(jobs, settings.parallel, on_event)
            config = image.manifest["config"]
            _push_blob(client, store, ref.path, config["digest"], config["size"], None)
            manifest = ManifestBlob(manifest_data, media_type, image.manifest_digest)
            assert tag_ref.tag is not None
            digest = client.put_manifest(ref.path, tag_ref.tag, manifest)
            results.append(PushResult(tag_ref, digest, len(manifest_data)))
            blobs = [layer["digest"] for layer in layers]
            update = functools.partial(
                _record_push, store, entry, tag_ref.with_digest(digest), blobs
            )
            with store.staging() as txn:
                store.commit_staged(txn, update)
    return results


def _record_push(
    store: Store,
    image: ImageEntry,
    digest_ref: Reference,
    blobs: list[str],
    txn: Transaction,
) -> None:
    """Under the store lock: name the image ``name@digest``; note where its blobs now are."""
    txn.name(image, digest_ref)
    record_sources(store, blobs, digest_ref.domain, digest_ref.path)


def _blob_job(
    client: RegistryClient, store: Store, repo: str, digest: str, size: int
) -> Callable[[EventSink], None]:
    def job(emit: EventSink) -> None:
        _push_blob(client, store, repo, digest, size, emit)

    return job


def _push_blob(
    client: RegistryClient,
    store: Store,
    repo: str,
    digest: str,
    size: int,
    emit: EventSink | None,
) -> None:
    item = short(digest)

    def say(result: str) -> None:
        if emit is not None:
            emit(TaskDone("push", item, result))

    if emit is not None:
        emit(TaskStarted("push", item, size))
    if client.blob_exists(repo, digest, [push_scope(repo)]):
        say("Layer already exists")
        return
    location: str | None = None
    for source in sources_of(store, digest, client.domain):
        if source == repo:
            continue
        try:
            if not client.blob_exists(source, digest, [pull_scope(source)]):
                continue
        except NbdockerError:
            continue  # no access to the other repository: upload instead
        location = client.mount_blob(repo, digest, source)
        if location is None:
            say(f"Mounted from {source}")
            return
        break

    def on_bytes(done: int) -> None:
        if emit is not None:
            emit(Progress("push", item, done, size))

    with store.open_blob(digest) as blob:
        client.upload_blob(repo, digest, size, blob, on_bytes, location)
    say("Pushed")
