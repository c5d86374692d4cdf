"""Timing, statistics and the services the benchmark starts (dockerd, registry, buildah).

Why timed from outside: the numbers must be what a user waits for, process start-up included,
and must treat nbdocker and the other tools alike. Each timed command is a fresh process; the
clock is ``time.perf_counter`` around ``Popen`` + ``os.wait4``, and ``wait4``'s rusage gives
the peak RSS of the process *and* of the descendants it waited for (Linux folds a reaped
child's ``maxrss`` into its parent's), so nbdocker's sandboxed RUN commands count too. For the
Docker engine that number is only the client's — the daemon does the work — so the report
shows peak memory for nbdocker only.

The private dockerd and the registry are the test suite's own helpers
(``tests/support/dockerd.py``, ``tests/support/registry.py``): one way to start them, already
proven to leave the host's Docker state (``/var/lib/docker``, ``/etc/docker``) alone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # for tests.support when run as ``python bench/run.py``
    sys.path.insert(0, str(REPO))

from tests.support.dockerd import DockerEngine, unmount_below  # noqa: E402
from tests.support.registry import Registry  # noqa: E402

VENV_PYTHON = REPO / ".venv" / "bin" / "python"
NBDOCKER = REPO / ".venv" / "bin" / "nbdocker"
DOCKER = "/usr/bin/docker"  # Debian's docker.io client, matching the private dockerd (20.10)
BUILDAH = "/usr/bin/buildah"

__all__ = [
    "BUILDAH",
    "DOCKER",
    "NBDOCKER",
    "REPO",
    "VENV_PYTHON",
    "BenchError",
    "Buildah",
    "DockerEngine",
    "Registry",
    "Sample",
    "Stats",
    "run",
    "run_timed",
    "unmount_below",
]


class BenchError(RuntimeError):
    """A command the benchmark needs failed; the message carries its stderr tail."""


@dataclass(frozen=True)
class Sample:
    """One timed run: wall seconds and peak RSS (MiB) of the process tree it waited for."""

    seconds: float
    max_rss_mib: float


@dataclass(frozen=True)
class Stats:
    """Median and spread of a tool's runs (median because one slow run — a writeback burst,
    a page-cache miss — should not move the headline number)."""

    median: float
    low: float
    high: float
    peak_mib: float
    runs: int

    @classmethod
    def of(cls, samples: Sequence[Sample]) -> Stats:
        seconds = [s.seconds for s in samples]
        return cls(
            median=statistics.median(seconds),
            low=min(seconds),
            high=max(seconds),
            peak_mib=max(s.max_rss_mib for s in samples),
            runs=len(samples),
        )


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def run_timed(
    commands: Sequence[Sequence[str]],
    *,
    env: Mapping[str, str],
    cwd: Path | None = None,
    timeout: float = 600.0,
) -> Sample:
    """Run `commands` one after another (each a fresh process) and time them together.

    A command that exits non-zero or outlives `timeout` (its whole process group is killed)
    raises BenchError: a failed run must never be reported as a fast one.
    """
    peak_kib = 0
    start = time.perf_counter()
    for argv in commands:
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,
            )
            timer = threading.Timer(timeout, _kill_group, (proc.pid,))
            timer.start()
            try:
                _, status, usage = os.wait4(proc.pid, 0)
            finally:
                timer.cancel()
            proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait again
            peak_kib = max(peak_kib, usage.ru_maxrss)
            if proc.returncode != 0:
                err.seek(0)
                tail = err.read()[-3000:].decode(errors="replace")
                raise BenchError(f"`{' '.join(argv)}` exited {proc.returncode}:\n{tail}")
    return Sample(time.perf_counter() - start, peak_kib / 1024)


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 600.0,
    check: bool = True,
    input: bytes | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """An untimed set-up or reset command; with `check`, failure raises BenchError."""
    try:
        result = subprocess.run(
            list(argv),
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"`{' '.join(argv)}` timed out after {timeout:.0f} s") from exc
    if check and result.returncode != 0:
        tail = result.stderr[-3000:].decode(errors="replace")
        raise BenchError(f"`{' '.join(argv)}` exited {result.returncode}:\n{tail}")
    return result


class Buildah:
    """buildah with its own storage under the run's temp dir (never the host's).

    As root here ``overlay`` works and is what a user gets; ``vfs`` is the fallback if the
    kernel refuses it. Builds use ``--isolation chroot`` (no runc/crun needed).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.driver = "overlay"

    @property
    def argv(self) -> list[str]:
        return [
            BUILDAH,
            "--root",
            str(self.directory / "root"),
            "--runroot",
            str(self.directory / "run"),
            "--storage-driver",
            self.driver,
        ]

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["BUILDAH_ISOLATION"] = "chroot"
        return env

    def load_base(self, archive: Path, name: str) -> None:
        """Pull a ``docker save`` archive into buildah's store (overlay, else vfs)."""
        for driver in ("overlay", "vfs"):
            self.driver = driver
            result = run(
                [*self.argv, "pull", "-q", f"docker-archive:{archive}"],
                env=self.env,
                check=False,
                timeout=300,
            )
            if result.returncode == 0:
                image_id = result.stdout.decode().split()[-1]
                run([*self.argv, "tag", image_id, name], env=self.env)
                return
            self.close()
        raise BenchError(f"buildah could not load {archive}: {result.stderr[-2000:]!r}")

    def close(self) -> None:
        """Remove buildah's working containers, unmount and delete its storage."""
        if self.directory.exists():
            run([*self.argv, "rm", "--all"], env=self.env, check=False, timeout=120)
            unmount_below(self.directory)
            shutil.rmtree(self.directory, ignore_errors=True)
