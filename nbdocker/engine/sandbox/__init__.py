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
    from ._run import run
    from ._spec import BindMount, RootfsMode, SandboxSpec, Started
    from ._support import ROOTFS_ENV, Support, check_support

__all__ = [
    "DEFAULT_CAPS",
    "DEFAULT_PATH",
    "ROOTFS_ENV",
    "BindMount",
    "RootfsMode",
    "SandboxError",
    "SandboxSpec",
    "Started",
    "Support",
    "UnsupportedError",
    "check_support",
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
        "run": "._run",
    },
)
