"""The image a build stage has made so far: its config, layers and history."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import field
from datetime import datetime

from ..image import Image, diff_ids
from ..lazy import lazy_dataclass
from ..oci import (
    ContainerConfig,
    Descriptor,
    HistoryRecord,
    ImageConfig,
    Manifest,
    host_platform,
    rfc3339,
)
from ..store import ImageEntry, LayerRecord, Store, Transaction

__all__ = ["ImageState", "MAX_LAYERS"]

MAX_LAYERS = 127  # as Docker: an image may have at most 127 layers


@lazy_dataclass()
class ImageState:
    """Mutable while a stage builds; :meth:`stage` writes it into the store as an image."""

    config: ImageConfig
    layers: list[Descriptor] = field(default_factory=list)
    image_id: str = ""  # set once staged or taken from an existing image

    @classmethod
    def scratch(cls) -> ImageState:
        os_name, arch = host_platform()
        return cls(
            {
                "architecture": arch,
                "os": os_name,
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": []},
                "history": [],
            }
        )

    @classmethod
    def of(cls, image: Image) -> ImageState:
        return cls.of_blobs(image.id, image.manifest, copy.deepcopy(image.config))

    @classmethod
    def of_blobs(cls, image_id: str, manifest: Manifest, config: ImageConfig) -> ImageState:
        """The image ``image_id`` from its manifest and config as read from the store (the
        state takes ``config`` over: no copy)."""
        layers: list[Descriptor] = [
            {"mediaType": d["mediaType"], "digest": d["digest"], "size": d["size"]}
            for d in manifest["layers"]
        ]
        return cls(config, layers, image_id)

    def copy(self) -> ImageState:
        return ImageState(copy.deepcopy(self.config), list(self.layers), self.image_id)

    @property
    def run_config(self) -> ContainerConfig:
        """Docker's ``Config`` (Env, Cmd, WorkingDir, …) of the image, to read and edit."""
        return self.config.setdefault("config", {})

    @property
    def diff_ids(self) -> list[str]:
        return diff_ids(self.config)

    def add_history(
        self, created: datetime, created_by: str, *, empty: bool, comment: str = ""
    ) -> None:
        entry: HistoryRecord = {"created": rfc3339(created), "created_by": created_by}
        if comment:
            entry["comment"] = comment
        if empty:
            entry["empty_layer"] = True
        self.config.setdefault("history", []).append(entry)
        self.config["created"] = rfc3339(created)

    def add_layer(self, descriptor: Descriptor, diff_id: str) -> None:
        self.layers.append(descriptor)
        self.config.setdefault("rootfs", {"type": "layers", "diff_ids": []})["diff_ids"].append(
            diff_id
        )

    def store_layer(self, store: Store, ingest: Callable[[Transaction], LayerRecord]) -> int:
        """Store the layer ``ingest`` writes into a transaction (its blob committed, nothing
        named) and add it to the image; return the size of its files."""
        with store.staging() as txn:
            record = ingest(txn)
            store.commit_staged(txn, lambda t: None)
        self.add_layer(record.blob_descriptor(), record.diff_id)
        return record.content_size

    def stage(self, txn: Transaction) -> ImageEntry:
        """Write the image as it is now into ``txn`` (unnamed); it gets the image's ID."""
        entry = txn.write_image(self.config, self.layers)
        self.image_id = entry.id
        return entry
