"""``docker load``: the images of a docker archive (both of Docker's forms) or an OCI archive
(skopeo, buildah) into the store; every config and layer is checked against its digest before
it enters the store, and on any error nothing is stored."""

from __future__ import annotations

import json
import os
import posixpath
import tarfile
from dataclasses import field
from typing import IO, cast

from ..digest import sha256_digest
from ..errors import ArchiveError, DigestMismatch, InvalidReference
from ..events import EventSink, Progress, TaskDone, TaskStarted
from ..layer.compression import decompressed, detect_compression
from ..layer.ingest import IngestOptions, ingest_compressed_layer, ingest_layer
from ..lazy import lazy_dataclass
from ..oci import (
    DOCKER_LAYER_MEDIA_TYPES,
    INDEX_MEDIA_TYPES,
    LAYER_MEDIA_TYPES,
    REF_NAME,
    Descriptor,
    Index,
    Manifest,
    check_config,
    check_index,
    check_manifest,
    host_platform,
)
from ..reference import Reference, parse_reference
from ..store import Transaction
from .save import CONTAINERD_NAME, DockerArchiveEntry

__all__ = ["LoadedImage", "read_archive"]

_CHUNK = 1 << 20
_MAX_SYMLINK_HOPS = 40  # as Linux's ELOOP limit
_MAX_INDEX_NESTING = 8  # an index of indexes is already rare; deeper is not an image archive
_PLAIN_LAYER_TYPES = (LAYER_MEDIA_TYPES["none"], DOCKER_LAYER_MEDIA_TYPES["none"])


@lazy_dataclass()
class LoadedImage:
    """An image read from an archive: its exact config bytes, stored layers and names."""

    config_bytes: bytes
    layers: list[Descriptor]
    references: list[Reference] = field(default_factory=list)


class _Archive:
    """Random access to the members of a tar archive, by normalised name."""

    def __init__(self, tar: tarfile.TarFile, where: str, length: int) -> None:
        self.tar = tar
        self.where = where
        self.members: dict[str, tarfile.TarInfo] = {}
        # One member at a time, not getmembers(): tarfile moves to the next header by the
        # member's size, and a negative one (a base-256 header) sends it back for ever, a huge
        # one past what a seek can reach.
        while (member := tar.next()) is not None:
            if not 0 <= member.size <= length - member.offset_data:
                raise ArchiveError(
                    f"{where}: the archive entry {member.name[:80]!r} claims {member.size} "
                    "bytes, which the archive does not hold; it is corrupt or truncated — save "
                    "it again"
                )
            self.members[posixpath.normpath(member.name.lstrip("/"))] = member

    def has(self, name: str) -> bool:
        return posixpath.normpath(name) in self.members

    def open(self, name: str) -> IO[bytes]:
        member = self.members.get(posixpath.normpath(name))
        hops = 0
        while member is not None and member.issym():
            hops += 1
            if hops > _MAX_SYMLINK_HOPS:  # a loop (to itself, or round several)
                raise ArchiveError(
                    f"{self.where}: {name} is a symbolic link loop in the archive; it is "
                    "corrupt or hostile — save it again"
                )
            target = posixpath.normpath(
                posixpath.join(posixpath.dirname(member.name), member.linkname)
            )
            member = self.members.get(target)
        if member is None or not member.isreg():
            raise ArchiveError(
                f"{self.where}: the archive has no file {name!r}; it is incomplete "
                "or not an image archive — save it again"
            )
        stream = self.tar.extractfile(member)
        assert stream is not None
        return stream

    def read(self, name: str) -> bytes:
        with self.open(name) as f:
            return f.read()

    def json(self, name: str) -> object:
        """A JSON member, parsed (from outside: check it before use)."""
        try:
            return json.loads(self.read(name))
        except ValueError:
            raise ArchiveError(
                f"{self.where}: {name} is not valid JSON; the archive is corrupt"
            ) from None


def read_archive(
    txn: Transaction, source: IO[bytes], compression: str, on_event: EventSink
) -> list[LoadedImage]:
    """Stage the images of a docker or OCI archive into ``txn``; return them with their names."""
    where = getattr(source, "name", "-")
    where = where if isinstance(where, str) else "-"
    spool = txn.ingest()  # a scratch file in the store's ingest dir, removed on error
    on_event(TaskStarted("load", where))
    done = 0
    try:
        stream = decompressed(source)
        while chunk := stream.read(_CHUNK):
            spool.write(chunk)
            done += len(chunk)
            on_event(Progress("load", where, done))
    except (OSError, EOFError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise
        raise ArchiveError(
            f"{where}: cannot read the archive ({exc}); it is corrupt or truncated"
        ) from None
    spool.finish()
    txn.ingests.remove(spool)
    try:
        try:
            tar = tarfile.open(spool.path, mode="r:")  # noqa: SIM115 - `with tar` below
        except (tarfile.TarError, EOFError) as exc:
            raise ArchiveError(
                f"{where}: not an image archive ({exc or 'not a tar file'}); load reads what "
                "'docker save' or 'nbdocker save' writes — a root filesystem tarball is "
                "imported with 'nbdocker import'"
            ) from None
        with tar:
            try:
                arch = _Archive(tar, where, os.path.getsize(spool.path))
            except (tarfile.TarError, EOFError):
                raise ArchiveError(
                    f"{where}: the archive is truncated or corrupt; save it again"
                ) from None
            if arch.has("manifest.json"):
                images = _read_docker(txn, arch, compression)
            elif arch.has("index.json"):
                images = _read_oci(txn, arch, compression)
            else:
                raise ArchiveError(
                    f"{where}: neither manifest.json nor index.json is in the archive; load reads "
                    "docker-save and OCI archives (use 'nbdocker import' for a rootfs tarball)"
                )
    finally:
        spool.discard()
    on_event(TaskDone("load", where, str(len(images))))
    return images


def _read_config(arch: _Archive, name: str, expected: str | None) -> bytes:
    data = arch.read(name)
    digest = sha256_digest(data)
    if expected is not None and digest != expected:
        raise DigestMismatch(
            f"{arch.where}: config {name} hashes to {digest}, not {expected}; the archive is "
            "corrupt — save it again"
        )
    return data


def _digest_from_name(name: str) -> str | None:
    base = posixpath.basename(name)
    hexpart = base[:-5] if base.endswith(".json") else base
    if len(hexpart) == 64 and all(c in "0123456789abcdef" for c in hexpart):
        return "sha256:" + hexpart
    return None


def _ingest_plain_or_compressed(
    txn: Transaction,
    arch: _Archive,
    name: str,
    diff_id: str,
    compression: str,
    descriptor: Descriptor | None,
) -> Descriptor:
    existing = txn.layer(diff_id)
    if existing is not None:
        return existing.blob_descriptor()
    where = f"{arch.where}: {name}"
    with arch.open(name) as raw:
        size = raw.seek(0, 2)
        raw.seek(0)
        if descriptor is not None and size != descriptor["size"]:
            raise ArchiveError(
                f"{where}: the layer blob is {size} bytes but its descriptor says "
                f"{descriptor['size']}; the archive is corrupt — save it again"
            )
        head = raw.read(8)
        raw.seek(0)
        kind = detect_compression(head)
        if kind in ("gzip", "zstd") and descriptor is not None:
            record = ingest_compressed_layer(txn, raw, descriptor, diff_id, where)
        else:
            record = ingest_layer(
                txn,
                decompressed(raw),
                where,
                IngestOptions(compression=compression, expected_diff_id=diff_id),
            )
    return record.blob_descriptor()


def _diff_ids(config: bytes, where: str, name: str) -> list[str]:
    """The layers' diffIDs of a config from the archive, once the whole config is checked (a
    config of wrong types would break every later listing of the store)."""
    try:
        return list(check_config(json.loads(config))["rootfs"]["diff_ids"])
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError too
        raise ArchiveError(
            f"{where}: the image config {name} is broken ({exc}); the archive is "
            "corrupt or not an image archive"
        ) from None


def _docker_entries(arch: _Archive) -> list[DockerArchiveEntry]:
    """``manifest.json``, checked: a list of entries with a config path and layer paths."""
    entries = arch.json("manifest.json")
    if not isinstance(entries, list):
        raise ArchiveError(f"{arch.where}: manifest.json is not a list; the archive is corrupt")
    for entry in entries:
        ok = (
            isinstance(entry, dict)
            and isinstance(entry.get("Config"), str)
            and isinstance(entry.get("Layers") or [], list)
            and all(isinstance(p, str) for p in entry.get("Layers") or [])
            and isinstance(entry.get("RepoTags") or [], list)
            and all(isinstance(t, str) for t in entry.get("RepoTags") or [])
        )
        if not ok:
            raise ArchiveError(
                f"{arch.where}: manifest.json has an entry without Config and Layers paths; "
                "the archive is corrupt"
            )
    return cast(list[DockerArchiveEntry], entries)


def _read_docker(txn: Transaction, arch: _Archive, compression: str) -> list[LoadedImage]:
    images: list[LoadedImage] = []
    for entry in _docker_entries(arch):
        config = _read_config(arch, entry["Config"], _digest_from_name(entry["Config"]))
        diff_ids = _diff_ids(config, arch.where, entry["Config"])
        layer_paths = entry.get("Layers") or []
        if len(layer_paths) != len(diff_ids):
            raise ArchiveError(
                f"{arch.where}: manifest.json lists {len(layer_paths)} layers but "
                f"the config has {len(diff_ids)}; the archive is corrupt"
            )
        layers = [
            _ingest_plain_or_compressed(txn, arch, path, diff_id, compression, None)
            for path, diff_id in zip(layer_paths, diff_ids, strict=True)
        ]
        refs = [_parse_name(arch, t) for t in entry.get("RepoTags") or []]
        images.append(LoadedImage(config, layers, [r for r in refs if r is not None]))
    return images


def _parse_name(arch: _Archive, text: str) -> Reference | None:
    try:
        return parse_reference(text)
    except InvalidReference as exc:
        raise ArchiveError(f"{arch.where}: {exc}") from None


def _blob_path(digest: str) -> str:
    algorithm, _, hexpart = digest.partition(":")
    return f"blobs/{algorithm}/{hexpart}"


def _checked_index(arch: _Archive, name: str) -> Index:
    try:
        return check_index(arch.json(name))
    except ValueError as exc:
        raise ArchiveError(
            f"{arch.where}: {name} is broken ({exc}); the archive is corrupt"
        ) from None


def _read_oci(txn: Transaction, arch: _Archive, compression: str) -> list[LoadedImage]:
    index = _checked_index(arch, "index.json")
    images: list[LoadedImage] = []
    for desc in index["manifests"]:
        manifest_desc = _pick_manifest(arch, desc)
        manifest_data = arch.read(_blob_path(manifest_desc["digest"]))
        if sha256_digest(manifest_data) != manifest_desc["digest"]:
            raise DigestMismatch(
                f"{arch.where}: manifest {manifest_desc['digest']} does not "
                "match its content; the archive is corrupt"
            )
        manifest = _checked_manifest(arch, manifest_data, manifest_desc["digest"])
        config_digest = manifest["config"]["digest"]
        config = _read_config(arch, _blob_path(config_digest), config_digest)
        diff_ids = _diff_ids(config, arch.where, config_digest)
        if len(manifest["layers"]) != len(diff_ids):
            raise ArchiveError(
                f"{arch.where}: manifest and config disagree on the number of "
                "layers; the archive is corrupt"
            )
        layers = []
        for layer, diff_id in zip(manifest["layers"], diff_ids, strict=True):
            if layer["mediaType"] in _PLAIN_LAYER_TYPES and layer["digest"] != diff_id:
                raise DigestMismatch(
                    f"{arch.where}: uncompressed layer {layer['digest']} is "
                    f"not the config's diffID {diff_id}; the archive is corrupt"
                )
            layers.append(
                _ingest_plain_or_compressed(
                    txn, arch, _blob_path(layer["digest"]), diff_id, compression, layer
                )
            )
        annotations = desc.get("annotations", {})
        name = annotations.get(CONTAINERD_NAME) or annotations.get(REF_NAME) or ""
        refs: list[Reference] = []
        if "/" in name or ":" in name:
            ref = _parse_name(arch, name)
            if ref is not None:
                refs.append(ref)
        existing = next((i for i in images if i.config_bytes == config), None)
        if existing is not None:
            existing.references.extend(refs)
        else:
            images.append(LoadedImage(config, layers, refs))
    return images


def _checked_manifest(arch: _Archive, data: bytes, digest: str) -> Manifest:
    try:
        return check_manifest(json.loads(data))
    except ValueError as exc:
        raise ArchiveError(
            f"{arch.where}: manifest {digest} is broken ({exc}); the archive is corrupt"
        ) from None


def _pick_manifest(arch: _Archive, desc: Descriptor) -> Descriptor:
    """Follow an index to the manifest for this machine's platform. Each nested index must
    hash to its descriptor's digest, so an index cannot name itself (a loop); the nesting is
    bounded all the same."""
    depth = 0
    while desc.get("mediaType") in INDEX_MEDIA_TYPES:
        depth += 1
        if depth > _MAX_INDEX_NESTING:
            raise ArchiveError(
                f"{arch.where}: image indexes nest more than {_MAX_INDEX_NESTING} deep; the "
                "archive is corrupt or hostile — save it again"
            )
        name = _blob_path(desc["digest"])
        if sha256_digest(arch.read(name)) != desc["digest"]:
            raise DigestMismatch(
                f"{arch.where}: index {desc['digest']} does not match its content; the archive "
                "is corrupt — save it again"
            )
        nested = _checked_index(arch, name)
        os_name, arch_name = host_platform()
        for candidate in nested["manifests"]:
            plat = candidate.get("platform", {})
            if plat.get("os") == os_name and plat.get("architecture") == arch_name:
                desc = candidate
                break
        else:
            raise ArchiveError(f"{arch.where}: the archive has no image for {os_name}/{arch_name}")
    return desc
