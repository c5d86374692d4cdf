"""Files that appear whole or not at all: write a temp file beside the target, then rename."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_output", "atomic_write", "default_file_mode"]


def default_file_mode() -> int:
    """0o666 less the process umask: the mode open(2) would give a new file."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], mode: int | None = None) -> Iterator[IO[bytes]]:
    """A binary file that becomes ``path`` only if the block completes; removed otherwise.
    ``mode`` (default: what open(2) gives under the umask) is set before anything is written,
    so a secret is never readable by others, even for a moment."""
    import tempfile  # here: a process that writes nothing (a cached build) never loads it

    target = Path(path)
    fd, tmp = tempfile.mkstemp(
        dir=target.parent or Path("."), prefix=f".tmp-{os.getpid()}-", suffix="-" + target.name
    )  # (the PID: a file left by a killed writer is told from a live one, see leftovers.py)
    try:
        os.fchmod(fd, default_file_mode() if mode is None else mode)
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_output(path) as f:
        f.write(data)
