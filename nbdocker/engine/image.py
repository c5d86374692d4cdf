"""Images as the store holds them: OCI manifests and configs, and the catalogue of references.

An image's ID is the digest of its config (as in Docker). Its names are the index descriptors
that point at its manifest: tags (``…:v2``), digest references (``…@sha256:…``), or none at all
for a dangling image.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import field
from datetime import datetime, timezone
from typing import Any

from .digest import sha256_digest
from .errors import AmbiguousImage, ImageNotFound, InvalidReference
from .lazy_dataclasses import lazy_dataclass
from .reference import Reference, parse_reference
from .store import REF_NAME, Store

__all__ = [
    "CONFIG_MEDIA_TYPE",
    "MANIFEST_MEDIA_TYPE",
    "Catalog",
    "Image",
    "config_bytes",
    "host_platform",
    "manifest_bytes",
    "rfc3339",
]

MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
DOCKER_MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_TYPES = (MANIFEST_MEDIA_TYPE, DOCKER_MANIFEST_TYPE)
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


def config_bytes(config: dict[str, Any]) -> bytes:
    """Canonical bytes of a config we write (compact JSON, as Docker writes it)."""
    return json.dumps(config, separators=(",", ":")).encode()


def manifest_bytes(config_digest: str, config_size: int, layers: Sequence[dict[str, Any]]) -> bytes:
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": config_digest, "size": config_size},
        "layers": list(layers),
    }
    return json.dumps(manifest, separators=(",", ":")).encode()


@lazy_dataclass(frozen=True)
class Image:
    """One image of the store with all the names that point at it."""

    id: str  # sha256:<hex> of the config
    manifest_digest: str
    manifest: dict[str, Any] = field(repr=False)
    config: dict[str, Any] = field(repr=False)
    references: tuple[Reference, ...] = ()
    size: int = 0

    @property
    def short_id(self) -> str:
        return self.id.split(":", 1)[1][:12]

    @property
    def tags(self) -> tuple[Reference, ...]:
        return tuple(r for r in self.references if r.tag is not None)

    @property
    def digests(self) -> tuple[Reference, ...]:
        return tuple(r for r in self.references if r.digest is not None)

    @property
    def created(self) -> datetime | None:
        return parse_time(self.config.get("created"))

    @property
    def diff_ids(self) -> list[str]:
        return list(self.config.get("rootfs", {}).get("diff_ids") or [])


class Catalog:
    """A consistent read of the store's index: images by ID, and how names resolve.

    Build one with the store lock held; it reads each manifest and config once.
    """

    def __init__(self, store: Store, index: Iterable[dict[str, Any]]) -> None:
        self.store = store
        self.index = list(index)
        self.images: dict[str, Image] = {}
        self.by_name: dict[Reference, str] = {}
        names: dict[str, list[Reference]] = {}
        first_manifest: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {}
        manifest_to_image: dict[str, str] = {}
        for desc in self.index:
            mdigest = desc["digest"]
            if mdigest not in manifest_to_image:
                manifest = store.read_json(mdigest)
                if manifest.get("mediaType", MANIFEST_MEDIA_TYPE) not in MANIFEST_TYPES:
                    continue  # an index of several platforms: nothing to run directly
                config = store.read_json(manifest["config"]["digest"])
                image_id = manifest["config"]["digest"]
                manifest_to_image[mdigest] = image_id
                first_manifest.setdefault(image_id, (mdigest, manifest, config))
            image_id = manifest_to_image[mdigest]
            names.setdefault(image_id, [])
            name = (desc.get("annotations") or {}).get(REF_NAME)
            if name:
                try:
                    ref = parse_reference(name, default_tag=False)
                except InvalidReference:
                    continue
                names[image_id].append(ref)
                self.by_name[ref] = image_id
        for image_id, (mdigest, manifest, config) in first_manifest.items():
            size = 0
            for diff_id in config.get("rootfs", {}).get("diff_ids") or []:
                record = store.layer(diff_id)
                size += record.content_size if record else 0
            self.images[image_id] = Image(
                image_id,
                mdigest,
                manifest,
                config,
                tuple(sorted(set(names[image_id]), key=str)),
                size,
            )

    def resolve(self, text: str) -> Image:
        """Find an image by reference, full ID or unique ID prefix, as ``docker`` does."""
        try:
            ref = parse_reference(text)
        except InvalidReference:
            ref = None
        if ref is not None:
            image_id = self.by_name.get(ref)
            if image_id is None and ref.digest is not None:
                image_id = self._by_manifest_digest(ref.digest)
            if image_id is not None:
                return self.images[image_id]
        hexpart = text[len("sha256:") :] if text.startswith("sha256:") else text
        if hexpart and all(c in "0123456789abcdef" for c in hexpart):
            matches = [i for i in self.images if i.split(":", 1)[1].startswith(hexpart)]
            if len(matches) == 1:
                return self.images[matches[0]]
            if len(matches) > 1:
                raise AmbiguousImage(
                    f"image ID prefix {text!r} matches {len(matches)} images; give more digits"
                )
        if ref is None:
            # Neither a name nor an ID: say what is wrong with it as a name.
            parse_reference(text)
        raise ImageNotFound(
            f"no such image: {text}; list images with 'nbdocker images', or import or pull it"
        )

    def _by_manifest_digest(self, digest: str) -> str | None:
        for image in self.images.values():
            if image.manifest_digest == digest:
                return image.id
        return None


def new_config(
    diff_ids: Sequence[str],
    history: Sequence[dict[str, Any]],
    container_config: dict[str, Any] | None = None,
    created: datetime | None = None,
    comment: str | None = None,
    author: str | None = None,
) -> dict[str, Any]:
    """A Docker-compatible image config (OCI config plus Docker's extra keys)."""
    os_name, arch = host_platform()
    config: dict[str, Any] = {"architecture": arch, "os": os_name}
    if author:
        config["author"] = author
    if comment is not None:
        config["comment"] = comment
    config["created"] = rfc3339(created or datetime.now(timezone.utc))
    config["config"] = container_config or {}
    config["rootfs"] = {"type": "layers", "diff_ids": list(diff_ids)}
    config["history"] = list(history)
    return config


def describe_digest(data: bytes) -> tuple[str, int]:
    return sha256_digest(data), len(data)
