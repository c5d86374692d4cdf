"""Where a verb reads and writes: the process's streams for the CLI, the cell's in a notebook."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import IO

from ..engine import Engine
from ..engine.lazy import lazy_dataclass

__all__ = ["Handler", "Streams"]


@lazy_dataclass(frozen=True)
class Streams:
    out: IO[str]
    err: IO[str]
    binary_in: IO[bytes]
    binary_out: IO[bytes]
    out_is_tty: bool = False


# A verb returns the exit status (None: 0).
Handler = Callable[[Engine, argparse.Namespace, Streams], "int | None"]
