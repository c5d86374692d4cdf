"""The system verbs — version, info: what nbdocker is, where it keeps its images and how it runs
containers here — and the ``--isolation`` flag that build, run and create share."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .. import __version__
from ..engine import Engine
from ..formatting import human_size
from .streams import Handler, Streams

__all__ = ["ISOLATION_CHOICES", "add_isolation_argument", "register"]

ISOLATION_CHOICES = ("auto", "namespaces", "chroot", "ptrace")


def _os_arch() -> str:
    import platform  # (about a millisecond) only this verb needs it

    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(machine, machine)
    return f"{platform.system().lower()}/{arch}"


def do_version(engine: Engine, args: argparse.Namespace, io: Streams) -> None:
    """``docker version``'s two parts: the client, and the engine (in this process: no daemon)."""
    import platform

    client = {
        "Version": __version__,
        "PythonVersion": platform.python_version(),
        "Os": platform.system().lower(),
        "Arch": _os_arch().split("/", 1)[1],
    }
    server = {"Version": __version__, "Daemon": "none (in-process)", "Store": str(engine.home)}
    if args.format == "json":
        print(json.dumps({"Client": client, "Server": server}), file=io.out)
        return
    rows = [
        "Client:",
        f" Version:           {__version__}",
        f" Python version:    {client['PythonVersion']} ({sys.executable})",
        f" OS/Arch:           {_os_arch()}",
        "",
        "Engine:",
        f" Version:           {__version__}",
        " Daemon:            none (the engine runs in the nbdocker process)",
        f" Store:             {engine.home}",
    ]
    io.out.write("\n".join(rows) + "\n")


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


HANDLERS: dict[str, Handler] = {"version": do_version, "info": do_info}
VERBS = tuple(HANDLERS)  # what register() adds


def register(verbs: Any) -> None:
    p = verbs.add_parser("version", help="Show the nbdocker version information")
    p.add_argument(
        "-f",
        "--format",
        choices=("table", "json"),
        default="table",
        help="table (default) or json",
    )
    p = verbs.add_parser("info", help="Display system-wide information")
    p.add_argument(
        "-f", "--format", choices=("table", "json"), default="table", help="Output format"
    )
    for name, handler in HANDLERS.items():
        verbs.choices[name].set_defaults(handler=handler)
