"""The image a build stage has made so far: its config, layers and history."""

from __future__ import annotations

import copy
from dataclasses import field
from datetime import datetime
from typing import Any

from ..image import Image, config_bytes, host_platform, manifest_bytes, rfc3339
from ..lazy_dataclasses import lazy_dataclass
from ..store import Transaction

__all__ = ["ImageState", "MAX_LAYERS"]

MAX_LAYERS = 127  # as Docker: an image may have at most 127 layers


@lazy_dataclass()
class ImageState:
    """Mutable while a stage builds; :meth:`stage` freezes it into config and manifest blobs."""

    config: dict[str, Any]
    layers: list[dict[str, Any]] = field(default_factory=list)
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
    def of_blobs(
        cls, image_id: str, manifest: dict[str, Any], config: dict[str, Any]
    ) -> ImageState:
        """The image ``image_id`` from its manifest and config as read from the store (the
        state takes ``config`` over: no copy)."""
        layers = [{k: d[k] for k in ("mediaType", "digest", "size")} for d in manifest["layers"]]
        return cls(config, layers, image_id)

    def copy(self) -> ImageState:
        return ImageState(copy.deepcopy(self.config), list(self.layers), self.image_id)

    @property
    def run_config(self) -> dict[str, Any]:
        """Docker's ``Config`` (Env, Cmd, WorkingDir, …) of the image."""
        cfg: dict[str, Any] = self.config.setdefault("config", {})
        return cfg

    @property
    def diff_ids(self) -> list[str]:
        return list(self.config.get("rootfs", {}).get("diff_ids") or [])

    def add_history(
        self, created: datetime, created_by: str, *, empty: bool, comment: str = ""
    ) -> None:
        entry: dict[str, Any] = {"created": rfc3339(created), "created_by": created_by}
        if comment:
            entry["comment"] = comment
        if empty:
            entry["empty_layer"] = True
        self.config.setdefault("history", []).append(entry)
        self.config["created"] = rfc3339(created)

    def add_layer(self, descriptor: dict[str, Any], diff_id: str) -> None:
        self.layers.append(descriptor)
        self.config.setdefault("rootfs", {"type": "layers", "diff_ids": []})
        self.config["rootfs"]["diff_ids"].append(diff_id)

    def stage(self, txn: Transaction) -> tuple[str, dict[str, Any]]:
        """Stage config and manifest blobs; return (image ID, manifest descriptor)."""
        cbytes = config_bytes(self.config)
        config_digest = txn.put_bytes(cbytes)
        mbytes = manifest_bytes(config_digest, len(cbytes), self.layers)
        manifest_digest = txn.put_bytes(mbytes)
        self.image_id = config_digest
        return config_digest, {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": len(mbytes),
        }
