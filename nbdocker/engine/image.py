"""Images as the store holds them: OCI manifests and configs, and the catalogue of references.

An image's ID is the digest of its config (as in Docker). Its names are the index descriptors
that point at its manifest: tags (``…:v2``), digest references (``…@sha256:…``), or none at all
for a dangling image.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import field
from datetime import datetime, timezone

from .errors import AmbiguousImage, ImageNotFound, InvalidReference
from .lazy import lazy_dataclass
from .oci import (
    IMAGE_MANIFEST_MEDIA_TYPES,
    MANIFEST_MEDIA_TYPE,
    REF_NAME,
    ContainerConfig,
    Descriptor,
    HistoryRecord,
    ImageConfig,
    Manifest,
    host_platform,
    parse_time,
    rfc3339,
)
from .reference import Reference, parse_reference
from .store import Store

__all__ = ["Catalog", "Image", "find_image", "new_config"]


@lazy_dataclass(frozen=True)
class Image:
    """One image of the store with all the names that point at it."""

    id: str  # sha256:<hex> of the config
    manifest_digest: str
    manifest: Manifest = field(repr=False)
    config: ImageConfig = field(repr=False)
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
        return diff_ids(self.config)

    @property
    def run_config(self) -> ContainerConfig:
        """Docker's ``Config`` of the image (Env, Cmd, WorkingDir, …); empty if it has none."""
        return self.config.get("config") or {}


def diff_ids(config: ImageConfig) -> list[str]:
    """The diffIDs of an image config's layers, bottom-most first."""
    rootfs = config.get("rootfs")
    return list(rootfs.get("diff_ids") or []) if rootfs is not None else []


class Catalog:
    """A consistent read of the store's index: images by ID, and how names resolve.

    Build one with the store lock held; it reads each manifest and config once.

    ``intermediate`` — a function giving (image ID, manifest digest) of the images builds made
    for their steps (the build cache's), called only when needed — makes those resolvable by
    ID, as Docker's intermediate images are (``inspect``, ``history``, ``save``, ``run``,
    ``tag``, ``rmi`` of an ID ``build`` printed); they are in no list of :attr:`images`, which
    holds the index's images only.
    """

    def __init__(
        self,
        store: Store,
        index: Iterable[Descriptor],
        intermediate: Callable[[], Iterable[tuple[str, str]]] | None = None,
    ) -> None:
        self.store = store
        self.index = list(index)
        self._intermediate_source = intermediate
        self._intermediate: dict[str, str] | None = None
        self.images: dict[str, Image] = {}
        self.by_name: dict[Reference, str] = {}
        names: dict[str, list[Reference]] = {}
        first_manifest: dict[str, tuple[str, Manifest, ImageConfig]] = {}
        manifest_to_image: dict[str, str] = {}
        for desc in self.index:
            mdigest = desc["digest"]
            if mdigest not in manifest_to_image:
                manifest = store.read_manifest(mdigest)
                if manifest.get("mediaType", MANIFEST_MEDIA_TYPE) not in IMAGE_MANIFEST_MEDIA_TYPES:
                    continue  # an index of several platforms: nothing to run directly
                image_id = manifest["config"]["digest"]
                config = store.read_config(image_id)
                manifest_to_image[mdigest] = image_id
                first_manifest.setdefault(image_id, (mdigest, manifest, config))
            image_id = manifest_to_image[mdigest]
            names.setdefault(image_id, [])
            name = desc.get("annotations", {}).get(REF_NAME)
            if name:
                try:
                    ref = parse_reference(name, default_tag=False)
                except InvalidReference:
                    continue
                names[image_id].append(ref)
                self.by_name[ref] = image_id
        for image_id, (mdigest, manifest, config) in first_manifest.items():
            self.images[image_id] = Image(
                image_id,
                mdigest,
                manifest,
                config,
                tuple(sorted(set(names[image_id]), key=str)),
                image_size(store, config),
            )

    @property
    def intermediate(self) -> dict[str, str]:
        """Intermediate image ID → manifest digest (read on first use)."""
        if self._intermediate is None:
            pairs = self._intermediate_source() if self._intermediate_source else ()
            self._intermediate = {i: m for i, m in pairs if i not in self.images}
        return self._intermediate

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
            if not matches:
                matches = [
                    i
                    for i, manifest in self.intermediate.items()
                    if i.split(":", 1)[1].startswith(hexpart) and self.store.has_blob(manifest)
                ]
                found = self.intermediate_image(matches[0]) if len(matches) == 1 else None
                if found is not None:
                    return found
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

    def intermediate_image(self, image_id: str) -> Image | None:
        """The intermediate image ``image_id`` (one of :attr:`intermediate`), or None when its
        manifest is no longer in the store."""
        manifest_digest = self.intermediate[image_id]
        if not self.store.has_blob(manifest_digest):
            return None
        manifest = self.store.read_manifest(manifest_digest)
        config = self.store.read_config(image_id)
        return Image(
            image_id, manifest_digest, manifest, config, (), image_size(self.store, config)
        )

    def _by_manifest_digest(self, digest: str) -> str | None:
        for image in self.images.values():
            if image.manifest_digest == digest:
                return image.id
        return None


def image_size(store: Store, config: ImageConfig) -> int:
    """The size of the files in the image's layers, as ``docker images`` counts it."""
    size = 0
    for diff_id in diff_ids(config):
        record = store.layer(diff_id)
        size += record.content_size if record else 0
    return size


def find_image(store: Store, text: str) -> Image:
    """The image a reference, ID or unique ID prefix names (a consistent read under the store's
    shared lock); ImageNotFound, AmbiguousImage or InvalidReference if none."""
    with store.locked(exclusive=False):
        return Catalog(store, store.read_index()).resolve(text)


def new_config(
    diff_ids: Sequence[str],
    history: Sequence[HistoryRecord],
    container_config: ContainerConfig | None = None,
    created: datetime | None = None,
    comment: str | None = None,
    author: str | None = None,
) -> ImageConfig:
    """A Docker-compatible image config (OCI config plus Docker's extra keys)."""
    os_name, arch = host_platform()
    config: ImageConfig = {"architecture": arch, "os": os_name}
    if author:
        config["author"] = author
    if comment is not None:
        config["comment"] = comment
    config["created"] = rfc3339(created or datetime.now(timezone.utc))
    config["config"] = container_config or {}
    config["rootfs"] = {"type": "layers", "diff_ids": list(diff_ids)}
    config["history"] = list(history)
    return config
