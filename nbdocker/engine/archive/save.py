"""``docker save``: images of the store as a docker archive (also an OCI layout) or an OCI
archive; see the package docstring for the two forms."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, TypedDict

from ..digest import sha256_digest
from ..errors import ArchiveError, StorageError
from ..events import EventSink, Progress, TaskDone, TaskStarted
from ..layer.compression import decompressed
from ..oci import (
    INDEX_MEDIA_TYPE,
    LAYER_MEDIA_TYPES,
    MANIFEST_MEDIA_TYPE,
    REF_NAME,
    Descriptor,
    Index,
    manifest_bytes,
)
from ..reference import Reference
from ..store import Store

if TYPE_CHECKING:
    from ..image import Image

__all__ = ["CONTAINERD_NAME", "DockerArchiveEntry", "write_archive"]


if TYPE_CHECKING:

    class DockerArchiveEntry(TypedDict):
        """One image of a docker archive's ``manifest.json``."""

        Config: str
        RepoTags: list[str] | None
        Layers: list[str]

else:  # at run time these are the dicts json makes: the names cost nothing to import
    DockerArchiveEntry = dict


CONTAINERD_NAME = "io.containerd.image.name"
_CHUNK = 1 << 20


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    tar.addfile(info)


def write_archive(
    store: Store,
    images: Sequence[tuple[Image, list[Reference]]],
    out: IO[bytes],
    format: str,
    on_event: EventSink,
) -> None:
    """Write ``images`` (each with the names to record) to ``out`` in ``format``."""
    if format not in ("docker", "oci"):
        raise ArchiveError(f"unknown archive format {format!r}: use docker or oci")
    plain = format == "docker"
    written: set[str] = set()
    manifest_json: list[DockerArchiveEntry] = []
    repositories: dict[str, dict[str, str]] = {}
    index: list[Descriptor] = []
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=_CHUNK) as tar:
        _add_dir(tar, "blobs")
        _add_dir(tar, "blobs/sha256")

        def blob_name(digest: str) -> str:
            return "blobs/sha256/" + digest.split(":", 1)[1]

        for image, refs in images:
            on_event(TaskStarted("save", image.short_id))
            config_data = store.read_blob(image.id)
            if image.id not in written:
                _add_bytes(tar, blob_name(image.id), config_data)
                written.add(image.id)
            layers: list[Descriptor] = []
            for diff_id, blob_desc in zip(image.diff_ids, image.manifest["layers"], strict=False):
                if plain:
                    record = store.layer(diff_id)
                    if record is None:
                        raise StorageError(
                            f"the store has no notes for layer {diff_id}; remove and re-import "
                            f"image {image.short_id}"
                        )
                    desc: Descriptor = {
                        "mediaType": LAYER_MEDIA_TYPES["none"],
                        "digest": diff_id,
                        "size": record.tar_size,
                    }
                    if diff_id not in written:
                        info = tarfile.TarInfo(blob_name(diff_id))
                        info.size = record.tar_size
                        info.mode = 0o644
                        with store.open_blob(record.blob) as blob:
                            tar.addfile(info, decompressed(blob))
                        written.add(diff_id)
                else:
                    desc = {
                        "mediaType": blob_desc["mediaType"],
                        "digest": blob_desc["digest"],
                        "size": blob_desc["size"],
                    }
                    digest = blob_desc["digest"]
                    if digest not in written:
                        info = tarfile.TarInfo(blob_name(digest))
                        info.size = blob_desc["size"]
                        info.mode = 0o644
                        with store.open_blob(digest) as blob:
                            tar.addfile(info, blob)
                        written.add(digest)
                layers.append(desc)
                on_event(Progress("save", image.short_id, len(layers), len(image.diff_ids)))
            mdata = manifest_bytes(image.id, len(config_data), layers)
            mdigest = sha256_digest(mdata)
            if mdigest not in written:
                _add_bytes(tar, blob_name(mdigest), mdata)
                written.add(mdigest)
            named: list[Reference | None] = [*refs] or [None]
            for ref in named:
                desc = {"mediaType": MANIFEST_MEDIA_TYPE, "digest": mdigest, "size": len(mdata)}
                if ref is not None:
                    desc["annotations"] = (
                        {CONTAINERD_NAME: str(ref), REF_NAME: ref.tag or ""}
                        if plain
                        else {CONTAINERD_NAME: str(ref), REF_NAME: str(ref)}
                    )
                index.append(desc)
            manifest_json.append(
                {
                    "Config": blob_name(image.id),
                    "RepoTags": [r.familiar for r in refs if r.tag],
                    "Layers": [blob_name(d) for d in image.diff_ids],
                }
            )
            for ref in refs:
                if ref.tag and image.diff_ids:
                    repositories.setdefault(ref.familiar_name, {})[ref.tag] = image.diff_ids[
                        -1
                    ].split(":", 1)[1]
            on_event(TaskDone("save", image.short_id))
        _add_bytes(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        layout_index: Index = {
            "schemaVersion": 2,
            "mediaType": INDEX_MEDIA_TYPE,
            "manifests": index,
        }
        _add_bytes(tar, "index.json", json.dumps(layout_index, separators=(",", ":")).encode())
        if plain:
            _add_bytes(tar, "manifest.json", json.dumps(manifest_json).encode())
            _add_bytes(tar, "repositories", json.dumps(repositories).encode())
