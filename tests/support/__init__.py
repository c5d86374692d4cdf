"""Helpers the tests use to start and drive the real components.

- :mod:`tests.support.real` — ``require()``: skip, or fail in CI, when a real component is
  missing; the session hooks that turn any skip into a failure in CI.
- :mod:`tests.support.dockerd` — :class:`DockerEngine`, a private ``dockerd`` on its own socket.
- :mod:`tests.support.rootfs` — a tiny busybox root filesystem and deterministic tarballs of it.
- :func:`ok`/:func:`ok_bytes` — the output of an ``nbdocker`` command that must succeed.

Fixtures built on these live in ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from typing import Protocol

# The image config fields `docker image inspect` shows under "Config" (Docker's names).
DOCKER_CONFIG_KEYS = (
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "ExposedPorts",
    "Labels",
    "Volumes",
    "StopSignal",
    "Healthcheck",
    "OnBuild",
)


class RunNbdocker(Protocol):
    """Type of the ``nbdocker`` fixture: run ``python -m nbdocker ARGS`` and capture it."""

    def __call__(
        self,
        *args: str | os.PathLike[str],
        input: bytes | None = None,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = 600,
    ) -> subprocess.CompletedProcess[bytes]: ...


def ok(result: subprocess.CompletedProcess[bytes]) -> str:
    """The output of a command that must have succeeded (else its output is the failure)."""
    assert result.returncode == 0, result.stderr.decode() + result.stdout.decode()
    return result.stdout.decode()


def ok_bytes(result: subprocess.CompletedProcess[bytes]) -> bytes:
    """:func:`ok` for binary output (a tar on stdout)."""
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


__all__ = ["RunNbdocker", "ok", "ok_bytes"]
