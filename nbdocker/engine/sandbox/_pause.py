"""Pausing a running container while its files are read (``commit``'s ``--pause``).

Docker pauses with the cgroup freezer. nbdocker puts containers in no cgroup of their own: a
rootless or nested nbdocker (uid 1000 in a Kubernetes pod) has no delegated cgroup to make one
in, so the freezer is not there to use. Instead every process of the container gets SIGSTOP,
and SIGCONT afterwards: the kernel stops them wherever they are, and stopped processes write
nothing. The differences from the freezer, which a command rarely notices: a parent waiting
with ``WUNTRACED`` sees its child stop and continue, and a stopped process's timers go on.

Which processes: at the namespaces level, every process in the container's PID namespace (its
first process is PID 1 there, and everything it starts stays in it); at the copy levels
(chroot, ptrace), which share the caller's PID namespace, every process below the helper that
runs the step. A process stopped already (a shell's stopped job) is left as it is and not
continued afterwards. A traced process is not signalled (the signal would reach its tracer,
which may be stopped with the rest): its tracer is, and it stops at its next system call.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["paused"]

_SETTLE_SECONDS = 5.0  # how long stopping may take (a process in uninterruptible sleep)


def _stat_fields(pid: int) -> list[str] | None:
    """State, ppid … of ``/proc/<pid>/stat`` (after the command name), or None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return raw[raw.rindex(b")") + 2 :].decode().split()


def _pid_namespace(pid: int | str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def _traced(pid: int) -> bool:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("TracerPid:"):
                return int(line.split()[1]) != 0
    except (OSError, ValueError):
        pass
    return False


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def members(pid: int) -> set[int]:
    """The processes of the container whose first process is ``pid`` (see the docstring)."""
    namespace = _pid_namespace(pid)
    if namespace is None:
        return set()
    if namespace != _pid_namespace("self"):
        return {p for p in _all_pids() if _pid_namespace(p) == namespace}
    fields = _stat_fields(pid)
    if fields is None:
        return set()
    helper = int(fields[1])
    children: dict[int, list[int]] = {}
    for p in _all_pids():
        got = _stat_fields(p)
        if got is not None:
            children.setdefault(int(got[1]), []).append(p)
    found: set[int] = set()
    todo = [helper]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found - {os.getpid()}


def _stopped(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is None or fields[0] in ("T", "t", "Z", "X")


@contextlib.contextmanager
def paused(pid: int | None) -> Iterator[None]:
    """The container whose first process is ``pid`` stopped for the block, then continued.

    Stops processes it starts meanwhile too (until none is left running, or a few seconds
    have passed: then the block runs with what could be stopped). Continues exactly the
    processes it stopped, also when the block raises. ``pid`` None: nothing to pause."""
    stopped: set[int] = set()
    left_alone: set[int] = set()
    try:
        deadline = time.monotonic() + _SETTLE_SECONDS
        while pid is not None:
            fresh = members(pid) - stopped - left_alone
            for p in fresh:
                if _stopped(p) or _traced(p):
                    left_alone.add(p)
                    continue
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p, signal.SIGSTOP)
                    stopped.add(p)
            settled = all(_stopped(p) for p in stopped)
            if (not fresh and settled) or time.monotonic() > deadline:
                break
            time.sleep(0.005)
        yield
    finally:
        for p in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGCONT)
