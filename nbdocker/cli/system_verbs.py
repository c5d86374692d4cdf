"""The system verbs — version: what nbdocker is and where it keeps its images."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .. import __version__
from ..engine import Engine
from .streams import Handler, Streams

__all__ = ["register"]


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


HANDLERS: dict[str, Handler] = {"version": do_version}
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
    for name, handler in HANDLERS.items():
        verbs.choices[name].set_defaults(handler=handler)
