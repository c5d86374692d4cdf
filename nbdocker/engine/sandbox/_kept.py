"""The root copy of a build step, kept for the step after it (chroot and ptrace levels).

Those levels cannot mount an overlay: every step runs in a copy of its image's layers, and
copying a Debian root costs seconds (a hundred megabytes and thousands of files). The root a
``RUN`` step leaves *is* the next step's image — its layers plus the layer the step made — so
the helper parks it here instead of deleting it, and the next step (or a container of the new
image) takes it and applies only the layers it lacks.

A kept root is a directory of the store (``kept-roots/<name>/``) holding ``root/`` (the copy),
``init/`` (the init layer it was set up with: mountpoints, device nodes, ``/etc`` files, which
are no part of the image and are undone by whoever takes it) and ``layers.json``: the layer
directories it holds, bottom-most first. A root is parked *pending* — named by the step's
upper directory, which is not a layer yet — and becomes usable once the builder has stored
that upper dir as a layer of the cache and calls :func:`name_kept_root` with the cache's
directory for it (the cache's directories are named by content, so a name never comes to mean
another tree). Only the newest root is kept; taking one is a rename, so two processes never
share it.

Stdlib only: the sandbox helper loads this module without the rest of the engine.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

KEPT_ROOTS = "kept-roots"  # the store's directory for them
KEY = "layers.json"
_PARKING = ".parking-"


def _read(entry: Path) -> dict[str, object] | None:
    try:
        data = json.loads((entry / KEY).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def claim(pool: Path, layers: Sequence[str], into: Path) -> int:
    """Move the kept root whose layers are the longest prefix of ``layers`` to ``into`` (which
    must not exist) and return how many of ``layers`` it holds; 0 when none fits (or another
    process took it first)."""
    best: tuple[int, Path] | None = None
    try:
        entries = list(pool.iterdir())
    except OSError:
        return 0
    for entry in entries:
        if entry.name.startswith("."):
            continue
        data = _read(entry)
        held = data.get("layers") if data is not None else None
        if data is None or data.get("pending") or not isinstance(held, list) or not held:
            continue
        if not (entry / "root").is_dir() or not (entry / "init").is_dir():
            continue
        fits = len(held) <= len(layers) and list(layers[: len(held)]) == held
        if fits and (best is None or len(held) > best[0]):
            best = (len(held), entry)
    if best is None:
        return 0
    try:
        os.rename(best[1], into)
    except OSError:
        return 0
    return best[0]


def park(pool: Path, root: Path, init: Path, layers: Sequence[str], upper: str, out: Path) -> bool:
    """Keep ``root`` (set up with ``init`` over ``layers``, then changed by a step whose
    changes are ``upper``) as the only kept root, pending until :func:`name_kept_root`; the
    roots kept before it are moved into ``out`` (a new directory, for the caller to remove).
    False when nothing could be kept (``root`` and ``init`` then stay where they are)."""
    pool.mkdir(parents=True, exist_ok=True)
    entry = pool / f"{_PARKING}{os.getpid()}-{os.urandom(4).hex()}"
    try:
        entry.mkdir()
        (entry / KEY).write_text(json.dumps({"layers": list(layers), "pending": upper}))
        os.rename(root, entry / "root")
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(entry / KEY)
            entry.rmdir()
        return False
    with contextlib.suppress(OSError):
        os.rename(init, entry / "init")
    out.mkdir(exist_ok=True)
    for other in pool.iterdir():
        if other.name.startswith(_PARKING):
            continue
        with contextlib.suppress(OSError):
            os.rename(other, out / other.name)
    os.rename(entry, pool / entry.name[len(_PARKING) :])
    return True


def name_kept_root(pool: Path, upper: Path, layers: Sequence[Path]) -> bool:
    """The root parked for ``upper`` now stands for ``layers`` (whose last is the layer made of
    ``upper``): make it available. False when no root waits for ``upper``."""
    wanted = str(upper.resolve())
    try:
        entries = list(pool.iterdir())
    except OSError:
        return False
    for entry in entries:
        data = _read(entry)
        if data is None or data.get("pending") != wanted or entry.name.startswith("."):
            continue
        temp = entry / f".{KEY}.{os.getpid()}"
        try:
            temp.write_text(json.dumps({"layers": [str(p.resolve()) for p in layers]}))
            os.replace(temp, entry / KEY)
        except OSError:
            return False
        return True
    return False
