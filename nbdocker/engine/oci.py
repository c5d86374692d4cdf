"""The OCI documents the engine reads and writes, typed: descriptors, manifests, indexes, image
configs — and their media types, canonical bytes and time format, in one place.

The types are :class:`~typing.TypedDict`\\ s for the type checker only: at run time a document
is the ``dict`` json made (nothing converted or copied) and the names are ``dict`` itself, so
they cost nothing to import (ARCHITECTURE.md, "Start-up"). Keys are the specifications' own spelling
(``mediaType``, ``diff_ids``, Docker's ``Env``…), so a document reads as its JSON does.
Documents that come from outside (a registry, an archive) are untrusted until checked where they
enter; those the store holds were checked then, or written by the engine.

References: the OCI image spec (``descriptor.md``, ``manifest.md``, ``image-index.md``,
``config.md``, ``image-layout.md``) and Docker's image spec v1.2 for the config keys Docker adds.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, TypedDict, cast

__all__ = [
    "CONFIG_MEDIA_TYPE",
    "DOCKER_LAYER_MEDIA_TYPES",
    "DOCKER_MANIFEST_LIST_MEDIA_TYPE",
    "DOCKER_MANIFEST_MEDIA_TYPE",
    "IMAGE_MANIFEST_MEDIA_TYPES",
    "INDEX_MEDIA_TYPE",
    "INDEX_MEDIA_TYPES",
    "LAYER_MEDIA_TYPES",
    "MANIFEST_MEDIA_TYPE",
    "REF_NAME",
    "ContainerConfig",
    "Descriptor",
    "HealthConfig",
    "HistoryRecord",
    "ImageConfig",
    "Index",
    "Manifest",
    "Platform",
    "RootFS",
    "check_config",
    "check_index",
    "check_manifest",
    "config_bytes",
    "host_platform",
    "manifest_bytes",
    "parse_time",
    "rfc3339",
]


if TYPE_CHECKING:

    class Platform(TypedDict, total=False):
        architecture: str
        os: str
        variant: str

    class _DescriptorBase(TypedDict):
        mediaType: str
        digest: str
        size: int

    class Descriptor(_DescriptorBase, total=False):
        """A pointer to a blob: what it is, its digest and its length."""

        annotations: dict[str, str]
        platform: Platform
        urls: list[str]

    class _ManifestBase(TypedDict):
        schemaVersion: int
        config: Descriptor
        layers: list[Descriptor]

    class Manifest(_ManifestBase, total=False):
        """An image manifest (OCI, or Docker schema 2 with the same keys)."""

        mediaType: str
        annotations: dict[str, str]

    class _IndexBase(TypedDict):
        schemaVersion: int
        manifests: list[Descriptor]

    class Index(_IndexBase, total=False):
        """An image index / manifest list: one manifest per platform, or an OCI layout's names."""

        mediaType: str
        annotations: dict[str, str]

    class HealthConfig(TypedDict, total=False):
        Test: list[str]
        Interval: int
        Timeout: int
        StartPeriod: int
        StartInterval: int
        Retries: int

    class ContainerConfig(TypedDict, total=False):
        """What a container of the image runs with (the config's ``config``; Docker's keys).

        Docker writes ``null`` for the lists and maps it leaves unset, hence ``| None``."""

        User: str
        ExposedPorts: dict[str, dict[str, object]] | None
        Env: list[str] | None
        Entrypoint: list[str] | None
        Cmd: list[str] | None
        Volumes: dict[str, dict[str, object]] | None
        WorkingDir: str
        Labels: dict[str, str] | None
        StopSignal: str
        Healthcheck: HealthConfig | None
        OnBuild: list[str] | None
        Shell: list[str] | None
        ArgsEscaped: bool

    class RootFS(TypedDict):
        type: str
        diff_ids: list[str]

    class HistoryRecord(TypedDict, total=False):
        """One step that made the image; ``empty_layer`` when it added no layer."""

        created: str
        created_by: str
        author: str
        comment: str
        empty_layer: bool

    class ImageConfig(TypedDict, total=False):
        """An image config: the image's ID is the digest of its bytes."""

        created: str
        author: str
        architecture: str
        os: str
        variant: str
        config: ContainerConfig
        rootfs: RootFS
        history: list[HistoryRecord]
        # Docker's additions
        comment: str
        container: str
        docker_version: str

else:  # at run time a document is the dict json made: the names cost nothing to import
    Platform = Descriptor = Manifest = Index = dict
    HealthConfig = ContainerConfig = RootFS = HistoryRecord = ImageConfig = dict


MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.list.v2+json"
IMAGE_MANIFEST_MEDIA_TYPES = (MANIFEST_MEDIA_TYPE, DOCKER_MANIFEST_MEDIA_TYPE)
INDEX_MEDIA_TYPES = (INDEX_MEDIA_TYPE, DOCKER_MANIFEST_LIST_MEDIA_TYPE)
# layer media types by compression ("none", "gzip", "zstd"): OCI's, and Docker's older ones
LAYER_MEDIA_TYPES: dict[str, str] = {
    "none": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}
DOCKER_LAYER_MEDIA_TYPES: dict[str, str] = {
    "none": "application/vnd.docker.image.rootfs.diff.tar",
    "gzip": "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "zstd": "application/vnd.docker.image.rootfs.diff.tar.zstd",
}
# the index annotation that names an image in an OCI layout (the store's index.json)
REF_NAME = "org.opencontainers.image.ref.name"


_ARCH = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "armv7l": "arm",
    "i686": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


def host_platform() -> tuple[str, str]:
    """(os, architecture) of this machine in OCI terms, e.g. ("linux", "amd64")."""
    machine = os.uname().machine  # what platform.machine() says, without importing platform
    return "linux", _ARCH.get(machine, machine)


def rfc3339(moment: datetime) -> str:
    """Docker's timestamp form: UTC with nanoseconds, ``2026-11-27T22:06:27.123456789Z``."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}000Z"


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 time as configs write it (nanoseconds allowed), or None if it is not one."""
    if not text:
        return None
    core = text.rstrip("Z")
    offset = "+00:00"
    for sign in ("+", "-"):
        pos = core.rfind(sign)
        if pos > 10:
            core, offset = core[:pos], core[pos:]
            break
    if "." in core:
        whole, frac = core.split(".", 1)
        core = f"{whole}.{frac[:6].ljust(6, '0')}"
    try:
        return datetime.fromisoformat(core + offset)
    except ValueError:
        return None


def config_bytes(config: ImageConfig) -> bytes:
    """Canonical bytes of a config we write (compact JSON, as Docker writes it)."""
    return json.dumps(config, separators=(",", ":")).encode()


def manifest_bytes(config_digest: str, config_size: int, layers: Sequence[Descriptor]) -> bytes:
    """Canonical bytes of the OCI manifest of a config and its layers, in order."""
    manifest: Manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": config_digest, "size": config_size},
        "layers": list(layers),
    }
    return json.dumps(manifest, separators=(",", ":")).encode()


# -- documents from outside ------------------------------------------------------------------------


def _check_descriptor(obj: object, what: str) -> Descriptor:
    if not isinstance(obj, dict):
        raise ValueError(f"{what} is not a JSON object")
    digest, size, media_type = obj.get("digest"), obj.get("size"), obj.get("mediaType", "")
    if not isinstance(digest, str) or not digest:
        raise ValueError(f"{what} has no digest")
    if not _is_sha256(digest):
        raise ValueError(
            f"{what} has digest {digest[:80]!r}, not of the form sha256:<64 hex digits>"
        )
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError(f"{what} has no valid size")
    if not isinstance(media_type, str):
        raise ValueError(f"{what} has an invalid mediaType")
    if not _is_str_map(obj.get("annotations", {})):
        raise ValueError(f"{what} has annotations that are not a map of strings")
    platform = obj.get("platform", {})
    if not (isinstance(platform, dict) and _is_str_map(platform, ("os", "architecture"))):
        raise ValueError(f"{what} has a platform without os and architecture strings")
    return cast(Descriptor, obj)


def _is_sha256(digest: str) -> bool:
    hexpart = digest.removeprefix("sha256:")
    return len(hexpart) == 64 == len(digest) - 7 and all(c in "0123456789abcdef" for c in hexpart)


def _is_str_list(obj: list[object]) -> bool:
    return all(isinstance(item, str) for item in obj)


def _is_str_map(obj: object, keys: Sequence[str] | None = None) -> bool:
    """``obj`` is a JSON object whose ``keys`` (all of them if None) are strings where present."""
    if not isinstance(obj, dict):
        return False
    names = obj if keys is None else [k for k in keys if k in obj]
    return all(isinstance(obj[k], str) for k in names)


def check_manifest(obj: object) -> Manifest:
    """``obj`` (parsed JSON from outside) as a :class:`Manifest`, once its config and layer
    descriptors have the keys the engine reads; ValueError saying what is missing."""
    if not isinstance(obj, dict):
        raise ValueError("the manifest is not a JSON object")
    _check_descriptor(obj.get("config"), "its config descriptor")
    layers = obj.get("layers")
    if not isinstance(layers, list):
        raise ValueError("the manifest has no list of layers")
    known = (*LAYER_MEDIA_TYPES.values(), *DOCKER_LAYER_MEDIA_TYPES.values())
    for number, layer in enumerate(layers, 1):
        media_type = _check_descriptor(layer, f"its layer {number}").get("mediaType", "")
        if media_type not in known:
            raise ValueError(
                f"its layer {number} has media type {media_type!r}, not a layer nbdocker can "
                "unpack (a tar, plain, gzip or zstd)"
            )
    return cast(Manifest, obj)


def check_index(obj: object) -> Index:
    """``obj`` (parsed JSON from outside) as an :class:`Index` whose entries are descriptors;
    ValueError saying what is wrong."""
    if not isinstance(obj, dict):
        raise ValueError("the index is not a JSON object")
    manifests = obj.get("manifests")
    if not isinstance(manifests, list):
        raise ValueError("the index has no list of manifests")
    for number, entry in enumerate(manifests, 1):
        _check_descriptor(entry, f"its entry {number}")
    return cast(Index, obj)


# The config keys the engine reads and the JSON types they must have; ``None`` in a tuple: Docker
# writes ``null`` for a list or map it leaves unset.
_CONFIG_TYPES: dict[str, tuple[type | None, ...]] = {
    "created": (str,),
    "author": (str,),
    "architecture": (str,),
    "os": (str,),
    "variant": (str,),
    "comment": (str,),
    "container": (str,),
    "docker_version": (str,),
    "config": (dict, None),
    "history": (list, None),
}
_CONTAINER_CONFIG_TYPES: dict[str, tuple[type | None, ...]] = {
    "User": (str,),
    "ExposedPorts": (dict, None),
    "Env": (list, None),
    "Entrypoint": (list, None),
    "Cmd": (list, None),
    "Volumes": (dict, None),
    "WorkingDir": (str,),
    "Labels": (dict, None),
    "StopSignal": (str,),
    "Healthcheck": (dict, None),
    "OnBuild": (list, None),
    "Shell": (list, None),
    "ArgsEscaped": (bool,),
}
_STRING_LISTS = ("Env", "Entrypoint", "Cmd", "OnBuild", "Shell")
_HISTORY_TYPES: dict[str, tuple[type | None, ...]] = {
    "created": (str,),
    "created_by": (str,),
    "author": (str,),
    "comment": (str,),
    "empty_layer": (bool,),
}


def _wrong_key(obj: dict[str, object], types: dict[str, tuple[type | None, ...]]) -> str | None:
    """The first key of ``obj`` whose value is not of its type in ``types``, if any."""
    for key, allowed in types.items():
        if key not in obj:
            continue
        value = obj[key]
        if value is None and None in allowed:
            continue
        kinds = tuple(t for t in allowed if t is not None)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            return key
    return None


def check_config(obj: object) -> ImageConfig:
    """``obj`` (parsed JSON from outside) as an :class:`ImageConfig` whose keys the engine reads
    have the types it reads them as, and whose ``rootfs.diff_ids`` are sha256 digests; else
    ValueError saying which key is wrong. A config that passes cannot break a later ``images``,
    ``inspect``, ``history``, ``run`` or ``build`` of the image (or of the store)."""
    if not isinstance(obj, dict):
        raise ValueError("the image config is not a JSON object")
    rootfs = obj.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list):
        raise ValueError("the image config has no list rootfs.diff_ids")
    for number, diff_id in enumerate(diff_ids, 1):
        if not (isinstance(diff_id, str) and _is_sha256(diff_id)):
            raise ValueError(f"its diff_id {number} is not of the form sha256:<64 hex digits>")
    wrong = _wrong_key(obj, _CONFIG_TYPES)
    if wrong is not None:
        raise ValueError(f"its key {wrong!r} has the wrong type")
    container = obj.get("config") or {}
    wrong = _wrong_key(container, _CONTAINER_CONFIG_TYPES)
    if wrong is None:
        lists = (k for k in _STRING_LISTS if not _is_str_list(container.get(k) or []))
        wrong = next(lists, None)
    if wrong is None and not _is_str_map(container.get("Labels") or {}):
        wrong = "Labels"
    if wrong is not None:
        raise ValueError(f"its key 'config.{wrong}' has the wrong type")
    for number, record in enumerate(obj.get("history") or [], 1):
        if not isinstance(record, dict) or _wrong_key(record, _HISTORY_TYPES) is not None:
            raise ValueError(f"its history entry {number} is not an object of strings")
    return cast(ImageConfig, obj)
