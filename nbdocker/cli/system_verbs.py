"""``info`` (Docker's verb) and the ``--isolation`` flag that build, run and create share."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..engine import Engine
from ..formatting import human_size
from .streams import Streams

__all__ = ["ISOLATION_CHOICES", "add_isolation_argument", "register"]

ISOLATION_CHOICES = ("auto", "namespaces", "chroot", "ptrace")


def add_isolation_argument(p: argparse.ArgumentParser) -> None:
    """``--isolation`` (build, run, create, and the magics that share their grammar)."""
    p.add_argument(
        "--isolation",
        choices=ISOLATION_CHOICES,
        default=None,
        help="Sandbox level for RUN steps and containers: auto (the strongest this machine "
        "allows; the default, or $NBDOCKER_ISOLATION), namespaces, chroot or ptrace",
    )


def do_info(engine: Engine, args: argparse.Namespace, io: Streams) -> None:
    info = engine.info()
    if args.format == "json":
        data: dict[str, Any] = {
            "Store": str(info.store),
            "StoreSize": info.store_size,
            "Images": info.images,
            "Containers": info.containers,
            "ContainersRunning": info.running,
            "Isolation": info.isolation,
            "IsolationLevels": [
                {"Level": s.level, "Available": s.available, "Detail": s.detail}
                for s in info.levels
            ],
            "RootFS": info.rootfs,
            "Rootless": info.rootless,
            "SubIDs": info.subids,
            "Compression": info.compression,
            "Versions": dict(info.versions),
        }
        print(json.dumps(data, indent=2), file=io.out)
        return
    lines = [
        f"Containers: {info.containers}",
        f" Running: {info.running}",
        f" Stopped: {info.containers - info.running}",
        f"Images: {info.images}",
        f"Store: {info.store} ({human_size(info.store_size)})",
        f"Isolation: {info.isolation or 'none available'}",
    ]
    order = [s.level for s in info.levels]
    for status in info.levels:
        stronger = not info.isolation or order.index(status.level) < order.index(info.isolation)
        if status.level == info.isolation:
            note = f" ({status.detail})" if status.detail else ""
            lines.append(f" {status.level}: in use{note}")
        elif stronger and not status.available:
            lines.append(f" {status.level}: unavailable: {status.detail}")
    root_line = f"Root file system: {info.rootfs}"
    lines.append(root_line + (f" ({info.rootfs_note})" if info.rootfs_note else ""))
    lines.append(f"Rootless: {'true' if info.rootless else 'false'}")
    if info.rootless:
        lines.append(f"Sub-id range: {info.subids or 'none (only container root is mapped)'}")
    lines.append(f"Compression: {info.compression}")
    lines.append("Versions: " + ", ".join(f"{name} {v}" for name, v in info.versions))
    print("\n".join(lines), file=io.out)


VERBS = ("info",)  # what register() adds


def register(verbs: Any) -> None:
    """Add ``info`` to the ``nbdocker`` sub-command parser."""
    p = verbs.add_parser("info", help="Display system-wide information")
    p.add_argument(
        "-f", "--format", choices=("table", "json"), default="table", help="Output format"
    )
    p.set_defaults(handler=do_info)
