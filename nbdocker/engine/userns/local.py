"""What needs no helper: whether this process needs the user namespace for file work at all,
and removing a tree (which needs the helper only then).

Apart from :mod:`.calls` because every build removes its scratch dir at the end: as root that
must not load the helper machinery (subprocess, the protocol).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .. import userns

__all__ = ["needed", "remove_tree"]


def needed() -> bool:
    """True when this process is not root, so file work on containers needs a namespace."""
    return os.geteuid() != 0


def remove_tree(path: Path) -> None:
    """Delete ``path`` even when files below it belong to ids of the user namespace."""
    if not path.exists() and not path.is_symlink():
        return
    if not needed():
        shutil.rmtree(path, ignore_errors=True)
        return
    userns.call("remove", {"paths": [str(path)]}, what=f"removing {path}")
