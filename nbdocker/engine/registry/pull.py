"""``pull``: fetch an image from a registry into the store.

The manifest is fetched by tag or digest (Docker schema 2 or OCI; from a manifest list or OCI
index the entry for this machine's platform is taken), its config and every layer the store does
not already hold are downloaded — several at once, streamed to disk, each verified against its
blob digest and its diffID before it can enter the store — and then the image is committed with
the manifest stored byte-exact, so its digest is the registry's. The image is named by the tag
(if pulled by tag) and by ``name@<digest>`` (``RepoDigests``; the digest that was pulled, the
index's for a multi-platform image, as Docker records it).

As root, each layer is also unpacked for running while it downloads (one pass over the bytes),
into a temp dir beside the layer cache that moves in once the store has committed.

Failure guarantees: on any error nothing is stored, nothing is tagged and nothing enters the
layer cache (downloads go to the store's ingest area and unpacked layers to temp dirs, and both
vanish).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import IO, cast

from .. import userns
from ..errors import ImageNotFound, RegistryError
from ..events import EventSink, Progress, TaskDone, TaskStarted
from ..image import Catalog, Image, find_image
from ..layer.ingest import ingest_compressed_layer
from ..layer.unpacked import LayerCache, chain_ids
from ..lazy import lazy_dataclass
from ..oci import (
    IMAGE_MANIFEST_MEDIA_TYPES,
    INDEX_MEDIA_TYPES,
    Descriptor,
    Index,
    Manifest,
    check_config,
    check_index,
    check_manifest,
    host_platform,
)
from ..reference import Reference, parse_reference
from ..store import ImageEntry, LayerRecord, Store, Transaction
from . import credentials
from ._parallel import run_parallel
from ._sources import record_sources
from .client import ManifestBlob, RegistryClient
from .transport import RegistrySettings

__all__ = ["PullResult", "pull"]

MAX_CONFIG = 8 << 20


@lazy_dataclass(frozen=True)
class PullResult:
    image: Image
    reference: Reference
    digest: str  # the digest pulled (an index's for multi-platform images)
    downloaded: bool  # False: the store already had it under that name ("Image is up to date")


def short(digest: str) -> str:
    return digest.split(":", 1)[1][:12]


def _pick_platform(index: Index, what: str) -> Descriptor:
    os_name, arch = host_platform()
    entries = index["manifests"]
    matching = [
        m
        for m in entries
        if m.get("platform", {}).get("os") == os_name
        and m.get("platform", {}).get("architecture") == arch
    ]
    if not matching:
        platforms = [m.get("platform", {}) for m in entries]
        found = sorted({f"{p.get('os')}/{p.get('architecture')}" for p in platforms})
        raise ImageNotFound(
            f"{what}: no image for this platform ({os_name}/{arch}) in the manifest list; it "
            f"has {', '.join(found) or 'none'}"
        )
    return matching[0]


def _index(blob: ManifestBlob, what: str) -> Index:
    try:
        return check_index(blob.document())
    except ValueError as exc:
        raise RegistryError(f"{what}: the registry sent a broken manifest list ({exc})") from None


def _manifest(blob: ManifestBlob, what: str) -> Manifest:
    try:
        return check_manifest(blob.document())
    except ValueError as exc:
        raise RegistryError(f"{what}: the registry sent a broken manifest ({exc})") from None


def _resolve(client: RegistryClient, ref: Reference) -> tuple[ManifestBlob, Manifest, str]:
    """The image manifest to pull (as served, and parsed) and the digest to record (the
    index's, for a multi-platform image)."""
    if ref.digest is not None:
        top = client.get_manifest(ref.path, ref.digest, by_digest=True)
    else:
        top = client.get_manifest(ref.path, ref.tag or "latest")
    if top.media_type in INDEX_MEDIA_TYPES:
        entry = _pick_platform(_index(top, ref.familiar), ref.familiar)
        blob = client.get_manifest(ref.path, entry["digest"], by_digest=True)
        if blob.media_type in INDEX_MEDIA_TYPES:
            raise RegistryError(f"{ref.familiar}: nested manifest lists are not supported")
        return blob, _manifest(blob, ref.familiar), top.digest
    if top.media_type not in IMAGE_MANIFEST_MEDIA_TYPES:
        raise RegistryError(
            f"{ref.familiar}: unsupported manifest type {top.media_type or 'unknown'!r} "
            "(Docker schema 1 is not supported); push the image again with a current tool"
        )
    return top, _manifest(top, ref.familiar), top.digest


def pull(
    store: Store,
    layer_cache: LayerCache,
    reference: str,
    settings: RegistrySettings,
    on_event: EventSink,
) -> PullResult:
    """Pull ``reference`` (``name[:tag]`` or ``name@sha256:…``) into ``store``; as root, its
    layers are unpacked into ``layer_cache`` on the way."""
    ref = parse_reference(reference)
    with RegistryClient(ref.domain, settings, credentials.load(ref.domain)) as client:
        blob, doc, pulled_digest = _resolve(client, ref)
        config_desc = doc["config"]
        layers = doc["layers"]
        config_data = client.read_small_blob(ref.path, config_desc["digest"], MAX_CONFIG)
        try:
            diff_ids: list[str] = list(check_config(json.loads(config_data))["rootfs"]["diff_ids"])
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError too
            raise RegistryError(
                f"{ref.familiar}: the registry sent a broken image config ({exc}); push the "
                "image again"
            ) from None
        if len(diff_ids) != len(layers):
            raise RegistryError(
                f"{ref.familiar}: the manifest lists {len(layers)} layers but the config "
                f"{len(diff_ids)}; the image is broken in the registry"
            )
        # As root, layers are unpacked into the layer cache while they download (one pass, one
        # decompression); rootless, in the user namespace at first run.
        unpack = not userns.needed()
        with store.staging() as txn, layer_cache.batch() as unpacked:
            jobs: list[Callable[[EventSink], LayerRecord]] = []
            seen: set[str] = set()
            fetched = False
            chains = chain_ids(diff_ids)
            for desc, diff_id, chain in zip(layers, diff_ids, chains, strict=True):
                item = short(desc["digest"])
                if diff_id in seen:
                    continue
                seen.add(diff_id)
                if txn.layer(diff_id) is not None:
                    on_event(TaskDone("pull", item, "Already exists"))
                    continue
                fetched = True
                into = unpacked.new(chain) if unpack else None
                jobs.append(_layer_job(client, txn, ref, desc, diff_id, item, into))
            run_parallel(jobs, settings.parallel, on_event)
            image_id = txn.put_bytes(config_data, config_desc["digest"], "image config")
            txn.put_bytes(blob.data)
            image = ImageEntry(
                image_id,
                {"mediaType": blob.media_type, "digest": blob.digest, "size": len(blob.data)},
            )
            digest_ref = ref.with_digest(pulled_digest)
            tag_ref = ref if ref.digest is None else None
            blobs = [d["digest"] for d in layers]

            def update(t: Transaction) -> bool:
                before = Catalog(store, t.index).by_name
                known = before.get(tag_ref or digest_ref) == image_id
                if tag_ref is not None:
                    t.name(image, tag_ref)
                t.name(image, digest_ref)
                record_sources(store, blobs, ref.domain, ref.path)
                return known

            known = store.commit_staged(txn, update)
            unpacked.publish()
    downloaded = fetched or not known
    on_event(
        TaskDone(
            "pull",
            ref.familiar,
            "Downloaded newer image" if downloaded else "Image is up to date",
        )
    )
    return PullResult(find_image(store, str(digest_ref)), ref, pulled_digest, downloaded)


def _layer_job(
    client: RegistryClient,
    txn: Transaction,
    ref: Reference,
    desc: Descriptor,
    diff_id: str,
    item: str,
    unpack_into: Path | None,
) -> Callable[[EventSink], LayerRecord]:
    """Download, verify and store one layer (and unpack it into ``unpack_into``)."""

    def job(emit: EventSink) -> LayerRecord:
        total = desc["size"] or None
        emit(TaskStarted("pull", item, total))
        where = f"{ref.familiar} layer {item}"
        with client.open_blob(ref.path, desc["digest"], desc["size"]) as blob:
            counted = _Counting(blob, lambda done: emit(Progress("pull", item, done, total)))
            stream = cast(IO[bytes], counted)
            record = ingest_compressed_layer(txn, stream, desc, diff_id, where, unpack_into)
        emit(TaskDone("pull", item, "Pull complete"))
        return record

    return job


class _Counting:
    """Reports bytes read, at most once per MiB, to keep events few."""

    def __init__(self, source: IO[bytes], report: Callable[[int], None]) -> None:
        self._source = source
        self._report = report
        self.done = 0
        self._last = -1

    def read(self, n: int = -1) -> bytes:
        data = self._source.read(n)
        self.done += len(data)
        if not data or self.done - self._last >= 1 << 20:
            self._last = self.done
            self._report(self.done)
        return data

    def readable(self) -> bool:
        return True
