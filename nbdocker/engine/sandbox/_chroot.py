"""The ``chroot`` level's step: ``chroot(2)`` into the root copy, then Docker's identity.

For root in a container that keeps CAP_SYS_CHROOT but has no CAP_SYS_ADMIN and no user
namespaces (Docker's and Kubernetes' defaults). No namespace can be made and nothing can be
mounted: the step shares the host's processes, network, hostname and IPC, and has no ``/proc``
(a chroot cannot mount one); ``/dev`` holds the usual device nodes where CAP_MKNOD allows them.
The step's capabilities are Docker's default set (cut to what this process has), with
``no_new_privs`` and Docker's default seccomp profile (:mod:`._seccomp`), as in the namespaces
level. Root in a chroot can leave it: this level keeps steps from each other's files, not from
the host. Nothing here can be mounted ``nodev``: which devices open is the outer runtime's
device policy (Docker's device cgroup), or the host's.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .. import linux
from ._exec import DEFAULT_CAPS, build_env, final_exec, last_cap_number
from ._seccomp import DefaultProfile
from ._step import wait_step
from ._users import ExecUser, UserLookupError, resolve_user

if TYPE_CHECKING:
    from ._spec import CopyRootConfig


def _permitted() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapPrm:"):
            return int(line.split()[1], 16)
    return 0


def _drop_privileges(user: ExecUser, caps: int, last_cap: int) -> None:
    """As :func:`._exec.drop_privileges`, within the capabilities this process has (``caps``:
    read before the chroot, which has no /proc)."""
    linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)
    for cap in range(last_cap + 1):
        if not caps & (1 << cap):
            with contextlib.suppress(OSError):
                linux.prctl(linux.PR_CAPBSET_DROP, cap)
    os.setgroups(list(user.groups))
    os.setresgid(user.gid, user.gid, user.gid)
    linux.capset(caps, caps, 0)
    os.setresuid(user.uid, user.uid, user.uid)


def run_step(
    cfg: CopyRootConfig, root: Path, scratch: Path, on_start: Callable[[int], None]
) -> int:
    if cfg["mounts"]:
        raise RuntimeError(
            "the chroot isolation level cannot bind-mount volumes or RUN --mount sources; "
            "copy the files into the image instead"
        )
    caps, last_cap = DEFAULT_CAPS & _permitted(), last_cap_number()
    profile = DefaultProfile()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            os.setsid()
            os.chroot(root)
            os.chdir("/")
            user = resolve_user(cfg["user"])
            env = build_env(tuple(cfg["env"]), user, cfg["hostname"], False)
            os.makedirs(cfg["cwd"], mode=0o755, exist_ok=True)
            _drop_privileges(user, caps, last_cap)
            profile.install()
        except (OSError, UserLookupError) as exc:
            os.write(write_fd, f"{exc}".encode())
            os._exit(125)
        os.close(write_fd)
        final_exec(tuple(cfg["argv"]), env, cfg["cwd"])
    os.close(write_fd)
    on_start(pid)
    code = wait_step(pid, cfg["stop_timeout"])
    with os.fdopen(read_fd, "rb") as f:
        failure = f.read().decode(errors="replace")
    if failure:
        raise RuntimeError(failure)
    return code
