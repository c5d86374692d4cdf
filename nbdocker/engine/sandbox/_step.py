"""The step's process at the copy levels (chroot, ptrace): waiting for it with signals
forwarded to its process group, and what it created. Shared by the level runners
(:mod:`._chroot`, :mod:`._ptrace`) and started from the copy-root helper (:mod:`._copyroot`).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
from pathlib import Path
from types import FrameType
from typing import Any

from ..layer import emulated

__all__ = ["FAKEROOT_DIR", "inodes", "own_new_entries", "wait_step"]

FAKEROOT_DIR = ".nbdocker-fakeroot"  # where the ptrace level binds fakeroot's library


def inodes(root: Path) -> set[tuple[int, int]]:
    """(device, inode) of every entry below ``root``: what existed before the step."""
    return {(st.st_dev, st.st_ino) for _, st in emulated.real_entries(root)}


def own_new_entries(root: Path, before: set[tuple[int, int]], uid: int, gid: int) -> None:
    """Give what the step created the step's user, as Docker does for a ``USER`` step."""
    for path, st in emulated.real_entries(root):
        if (st.st_dev, st.st_ino) not in before:
            owner = os.lstat(path)
            if (owner.st_uid, owner.st_gid) == (0, 0):
                os.lchown(path, uid, gid)


class _Forwarder:
    """Signals to the step's process group; SIGKILL when the stop timeout expires."""

    def __init__(self, pgid: int, timeout: float) -> None:
        self.pgid, self.timeout, self.armed = pgid, timeout, False
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(sig, self.forward)
        signal.signal(signal.SIGALRM, self.kill)

    def forward(self, signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, signum)
        if not self.armed:
            self.armed = True
            signal.setitimer(signal.ITIMER_REAL, max(self.timeout, 0.001))

    def kill(self, signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, signal.SIGKILL)


def wait_step(pid: int, timeout: float, serve: Any = None) -> int:
    """Wait for the step's first process, forwarding signals; its Docker-style exit code.

    ``serve`` (with ``fileno()`` and ``handle()``) is served whenever it is readable meanwhile.
    """
    _Forwarder(pid, timeout)
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG if serve is not None else 0)
        except InterruptedError:
            continue
        if done == pid:
            break
        readable, _, _ = select.select([serve], [], [], 0.2)
        if readable:
            serve.handle()
    signal.setitimer(signal.ITIMER_REAL, 0)
    if os.WIFEXITED(status):
        return os.waitstatus_to_exitcode(status)
    return 128 + os.WTERMSIG(status)
