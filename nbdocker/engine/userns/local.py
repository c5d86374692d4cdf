"""What needs no helper: whether this process needs the user namespace for file work at all,
and removing a tree (which needs the helper only then).

The isolation level in use decides the form of the layers the file work handles: at the
``chroot`` and ``ptrace`` levels what the kernel refuses (owners, whiteout devices,
``trusted.*`` attributes) is kept in extended attributes (:mod:`nbdocker.engine.layer.emulated`)
and the work runs in a helper with that emulation instead of a user namespace. The levels are
the sandbox's, above this package: the engine hands in where to read the one in use
(:func:`read_form_from`), and without it the form is the kernel's own (the namespaces level).

Apart from :mod:`.calls` because every build removes its scratch dir at the end: as root that
must not load the helper machinery (subprocess, the protocol).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from .. import trees, userns

__all__ = ["LayerForm", "emulated", "needed", "read_form_from", "remove_tree", "root_only"]


class LayerForm(Protocol):
    """What file work needs to know of the isolation level in use."""

    @property
    def emulated(self) -> bool:
        """Layers keep owners, whiteouts and devices in extended attributes (chroot, ptrace)."""
        ...

    @property
    def root_only(self) -> bool:
        """Rootless namespaces that map container root alone (no sub-id range)."""
        ...


_source: list[Callable[[], LayerForm | None]] = []


def read_form_from(source: Callable[[], LayerForm | None]) -> None:
    """Take the isolation level in use from ``source`` (None: no level is available here)."""
    _source[:] = [source]


def _form() -> LayerForm | None:
    return _source[0]() if _source else None


def emulated() -> bool:
    """Whether the level in use emulates owners, whiteouts and devices in extended attributes
    (chroot, ptrace); False when no level is available at all (then nothing runs)."""
    form = _form()
    return form is not None and form.emulated


def root_only() -> bool:
    """Whether the user namespace maps container root alone (see :class:`LayerForm`)."""
    form = _form()
    return form is not None and form.root_only


def needed() -> bool:
    """True when file work on containers must run in a helper: not root (a user namespace),
    or an isolation level whose layers emulate what the kernel refuses (chroot, ptrace)."""
    return os.geteuid() != 0 or emulated()


def remove_tree(path: Path) -> None:
    """Delete ``path`` even when files below it belong to ids of the user namespace."""
    if not path.exists() and not path.is_symlink():
        return
    if not needed():
        with contextlib.suppress(OSError):  # best effort, as before: what is left is leftover
            trees.remove_tree(path)
        return
    userns.call("remove", {"paths": [str(path)]}, what=f"removing {path}")
