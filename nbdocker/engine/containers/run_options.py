"""What ``run``/``create`` are asked to do: ``docker run``'s flags as one frozen value."""

from __future__ import annotations

from ..lazy import lazy_dataclass

__all__ = ["RunOptions"]


@lazy_dataclass(frozen=True)
class RunOptions:
    """``docker run``'s flags (None: take the image's value)."""

    name: str | None = None
    entrypoint: str | None = None
    env: tuple[str, ...] = ()
    env_files: tuple[str, ...] = ()
    workdir: str | None = None
    user: str | None = None
    network: str = "host"
    volumes: tuple[str, ...] = ()
    tty: bool = False
    interactive: bool = False
    isolation: str | None = None  # auto|namespaces|chroot|ptrace; None: $NBDOCKER_ISOLATION
