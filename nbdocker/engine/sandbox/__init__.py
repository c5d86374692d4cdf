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

from ._errors import SandboxError, UnsupportedError

if TYPE_CHECKING:
    from ._defaults import DEFAULT_PATH
    from ._exec import DEFAULT_CAPS
    from ._kept import KEPT_ROOTS, name_kept_root
    from ._run import run
    from ._spec import BindMount, RootfsMode, SandboxSpec, Started
    from ._support import ROOTFS_ENV, Support, check_support

# Names are loaded from their modules on first use: every build needs DEFAULT_PATH, but only a
# RUN step that really runs needs the namespace machinery (``_run``, ``_exec``: ctypes, socket, …),
# so a cached build never imports it.
_HOMES = {
    "DEFAULT_CAPS": "_exec",
    "run": "_run",
    "name_kept_root": "_kept",
    "KEPT_ROOTS": "_kept",
    "DEFAULT_PATH": "_defaults",
    "BindMount": "_spec",
    "RootfsMode": "_spec",
    "SandboxSpec": "_spec",
    "Started": "_spec",
    "ROOTFS_ENV": "_support",
    "Support": "_support",
    "check_support": "_support",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # (__import__ rather than importlib.import_module: it shows in python -X importtime)
    value = getattr(__import__(f"{__name__}.{home}", fromlist=[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_CAPS",
    "DEFAULT_PATH",
    "KEPT_ROOTS",
    "ROOTFS_ENV",
    "BindMount",
    "RootfsMode",
    "SandboxError",
    "SandboxSpec",
    "Started",
    "Support",
    "UnsupportedError",
    "check_support",
    "name_kept_root",
    "run",
]
