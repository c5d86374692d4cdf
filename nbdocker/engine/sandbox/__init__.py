"""The container runtime: run a command in Linux namespaces on image layers.

``run(spec)`` mounts an overlay of the read-only ``spec.layers`` plus the writable
``spec.upper`` (or, where overlay cannot be mounted, copies the layers and diffs afterwards so
``upper`` has the same overlay form), gives the command fresh mount, PID, UTS and IPC
namespaces (and an empty network namespace with ``network="none"``), Docker's default
capabilities and ``/proc``, ``/dev``, ``/sys`` and ``/etc/hosts`` set up the way Docker does.
As an ordinary user it maps container root to the caller in a user namespace (plus the
caller's /etc/subuid range when newuidmap exists). ``check_support()`` says what this machine
allows and why not.

Nothing here prints: the command's output goes to the descriptors given to ``run``; what the
sandbox did is reported through ``on_start`` and the return value; failures raise
:class:`SandboxError` (a :class:`~nbdocker.engine.errors.NbdockerError`).

Errors::

    NbdockerError
    └── SandboxError          the container could not be started
        └── UnsupportedError  no root and no usable user namespaces here
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:
    from ._defaults import DEFAULT_PATH
    from ._errors import SandboxError, UnsupportedError
    from ._exec import DEFAULT_CAPS
    from ._kept import KEPT_ROOTS, name_kept_root
    from ._levels import (
        CHOICES,
        Isolation,
        LevelStatus,
        current,
        fakeroot_paths,
        layer_form,
        level_for,
        probe_all,
        proot_path,
        rootfs_mode,
    )
    from ._pause import paused
    from ._run import run
    from ._spec import BindMount, RootfsMode, SandboxSpec, Started
    from ._support import ROOTFS_ENV, Support, check_support

__all__ = [
    "CHOICES",
    "DEFAULT_CAPS",
    "DEFAULT_PATH",
    "KEPT_ROOTS",
    "ROOTFS_ENV",
    "BindMount",
    "Isolation",
    "LevelStatus",
    "RootfsMode",
    "SandboxError",
    "SandboxSpec",
    "Started",
    "Support",
    "UnsupportedError",
    "check_support",
    "current",
    "fakeroot_paths",
    "layer_form",
    "level_for",
    "name_kept_root",
    "paused",
    "probe_all",
    "proot_path",
    "rootfs_mode",
    "run",
]

# Every build needs DEFAULT_PATH, but only a RUN step that really runs needs the namespace
# machinery (``_run``, ``_exec``: ctypes, socket, …), so a cached build never imports it.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "DEFAULT_CAPS": "._exec",
        "DEFAULT_PATH": "._defaults",
        "ROOTFS_ENV": "._support",
        "BindMount": "._spec",
        "RootfsMode": "._spec",
        "SandboxError": "._errors",
        "SandboxSpec": "._spec",
        "Started": "._spec",
        "Support": "._support",
        "UnsupportedError": "._errors",
        "check_support": "._support",
        "CHOICES": "._levels",
        "Isolation": "._levels",
        "KEPT_ROOTS": "._kept",
        "LevelStatus": "._levels",
        "current": "._levels",
        "fakeroot_paths": "._levels",
        "layer_form": "._levels",
        "level_for": "._levels",
        "name_kept_root": "._kept",
        "paused": "._pause",
        "probe_all": "._levels",
        "proot_path": "._levels",
        "rootfs_mode": "._levels",
        "run": "._run",
    },
)
