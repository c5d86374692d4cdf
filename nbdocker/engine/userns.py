"""Run engine file-system work inside a user namespace, for rootless use.

As an ordinary user, a container's files belong to ids that only exist inside its user
namespace (container root is the user; uids 1…65536 are the user's /etc/subuid range). Unpacking
layers with their owners, reading a container's changes for ``commit``, ``diff`` and ``export``
must therefore happen inside a namespace with the same mapping, as ``podman unshare`` does. This
module starts a fresh interpreter there (its id maps written by the sandbox's own
``newuidmap``/``newgidmap`` code) and runs a ``main(argv)`` of one of the engine's stdlib-only
modules (:mod:`.tardiff`, :mod:`.rootfs_view`), loaded without the rest of the engine.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import StorageError

if TYPE_CHECKING:
    import subprocess

__all__ = ["needed", "remove_tree", "spawn"]

_ENGINE_DIR = str(Path(__file__).resolve().parent)
# The child: load the engine dir (and its sandbox dir) as bare packages, so that no __init__
# runs and nothing but the stdlib is needed; enter a new user namespace; tell the parent
# (which then writes the id maps, as for a container); wait; become root; run main(argv).
_BOOT = """
import os, sys, types, importlib
engine_dir, module, ready, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
for name, path in (("_nbdocker_engine", engine_dir), ("_nbdocker_engine.sandbox",
                   os.path.join(engine_dir, "sandbox"))):
    pkg = types.ModuleType(name)
    pkg.__path__ = [path]
    sys.modules[name] = pkg
sysmod = importlib.import_module("_nbdocker_engine.sandbox._sys")
sysmod.unshare(sysmod.CLONE_NEWUSER)
os.write(ready, b"u")
if os.read(go, 1) != b"g":
    sys.exit("the id maps of the user namespace could not be written")
os.setresgid(0, 0, 0)
os.setresuid(0, 0, 0)
mod = importlib.import_module("_nbdocker_engine." + module)
sys.exit(mod.main(sys.argv[5:]))
"""


# At the chroot and ptrace isolation levels the child installs the sandbox's metadata
# emulation (extended attributes for what the kernel refuses) instead of entering a namespace.
_BOOT_EMULATED = """
import os, sys, types, importlib
engine_dir, module, owners = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
for name, path in (("_nbdocker_engine", engine_dir), ("_nbdocker_engine.sandbox",
                   os.path.join(engine_dir, "sandbox"))):
    pkg = types.ModuleType(name)
    pkg.__path__ = [path]
    sys.modules[name] = pkg
importlib.import_module("_nbdocker_engine.sandbox._emulate").install(owners)
mod = importlib.import_module("_nbdocker_engine." + module)
sys.exit(mod.main(sys.argv[4:]))
"""


def emulated() -> bool:
    """Whether the isolation level in use emulates owners, whiteouts and devices in extended
    attributes (chroot, ptrace); False when no level is available at all (then nothing runs)."""
    from .sandbox._errors import UnsupportedError
    from .sandbox._levels import current

    try:
        return current().emulated
    except UnsupportedError:
        return False


def needed() -> bool:
    """True when file work on containers must run in a helper: not root (a user namespace),
    or an isolation level whose layers emulate what the kernel refuses (chroot, ptrace)."""
    return os.geteuid() != 0 or emulated()


def spawn(module: str, *args: str, **popen: Any) -> subprocess.Popen[bytes]:
    """Start ``<module>.main(args)`` in a user namespace mapped like the sandbox's containers
    (or, at the chroot and ptrace levels, with their metadata emulation).

    Raises StorageError when the maps cannot be written (no user namespaces here)."""
    import subprocess  # here, not above: every build imports this module for remove_tree

    if emulated():
        owners = "1" if os.geteuid() != 0 else "0"
        argv = [sys.executable, "-I", "-c", _BOOT_EMULATED, _ENGINE_DIR, module, owners, *args]
        return subprocess.Popen(argv, **popen)

    from .sandbox._levels import current
    from .sandbox._run import map_ids
    from .sandbox._support import subids

    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    try:
        argv = [
            sys.executable,
            "-I",
            "-c",
            _BOOT,
            _ENGINE_DIR,
            module,
            str(ready_w),
            str(go_r),
            *args,
        ]
        proc = subprocess.Popen(argv, pass_fds=(ready_w, go_r), **popen)
        os.close(ready_w)
        os.close(go_r)
        ready_w = go_r = -1
        if os.read(ready_r, 1) != b"u":
            proc.wait()
            raise StorageError(
                "cannot enter a user namespace for rootless file work; enable user namespaces "
                "(sysctl user.max_user_namespaces) or run nbdocker as root"
            )
        why = map_ids(proc.pid, None if current().root_only else subids())
        os.write(go_w, b"g" if not why else b"x")
        if why:
            proc.wait()
            raise StorageError(f"cannot map ids for rootless file work: {why}")
        return proc
    finally:
        for fd in (ready_r, ready_w, go_r, go_w):
            if fd >= 0:
                os.close(fd)


def finish(proc: subprocess.Popen[bytes], what: str) -> None:
    """Wait for ``proc``; a failure becomes a one-line StorageError naming ``what``."""
    err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
    if proc.wait() != 0:
        reason = err.splitlines()[-1] if err else f"exit status {proc.returncode}"
        raise StorageError(f"{what} failed in the user namespace: {reason}")


def remove_tree(path: Path) -> None:
    """Delete ``path`` even when files below it belong to ids of the user namespace."""
    if not path.exists() and not path.is_symlink():
        return
    if not needed():
        shutil.rmtree(path, ignore_errors=True)
        return
    import subprocess

    finish(spawn("tardiff", "remove", str(path), stderr=subprocess.PIPE), f"removing {path}")
