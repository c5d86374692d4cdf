"""Containers: an image's layers plus a writable upper dir, kept in ``<home>/containers/<id>/``.

Each container directory holds ``container.json`` (what ``run`` asked for and what happened),
``upper/`` (its changes, in overlay form) and ``work/`` (the sandbox's scratch dir). A running
container's directory is locked (``flock`` on ``lock``) by the process running it, so ``rm``
knows to refuse or to kill it and ``ps`` knows it is up.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, cast

from .. import userns
from ..atomic import atomic_write
from ..errors import Conflict, NbdockerError, UsageError
from ..lazy import lazy_dataclass
from ..oci import parse_time, rfc3339

__all__ = ["Container", "ContainerNotFound", "ContainerStore", "RunConfig"]

if TYPE_CHECKING:

    class RunConfigJSON(TypedDict):
        image: str
        image_name: str
        entrypoint: list[str]
        cmd: list[str]
        env: list[str]
        workdir: str
        user: str
        network: str
        mounts: list[list[str | bool]]  # [host path, container path, read-only]
        tty: bool
        stdin: bool

    class ContainerJSON(TypedDict):
        """``<home>/containers/<id>/container.json``."""

        id: str
        name: str
        config: RunConfigJSON
        created: str
        state: str
        exit_code: int | None
        started_at: str
        finished_at: str
        pid: int | None

else:  # at run time these are the dicts json makes: the names cost nothing to import
    RunConfigJSON = ContainerJSON = dict

_ADJECTIVES = (
    "brave", "calm", "clever", "eager", "gentle", "happy", "jolly", "keen", "kind", "lucid",
    "merry", "nifty", "proud", "quiet", "sharp", "sleepy", "sunny", "tender", "vivid", "witty",
)  # fmt: skip
_NAMES = (
    "babbage", "curie", "darwin", "euler", "franklin", "galileo", "hopper", "hypatia", "kepler",
    "lovelace", "meitner", "newton", "noether", "pascal", "ritchie", "shannon", "tesla",
    "turing", "wozniak", "yonath",
)  # fmt: skip


class ContainerNotFound(NbdockerError):
    """No container has that ID, ID prefix or name."""


@lazy_dataclass(frozen=True)
class RunConfig:
    """What the container runs: the image's config with ``run``'s flags applied."""

    image: str  # image ID
    image_name: str  # as the user gave it, for ``ps``
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    workdir: str = "/"
    user: str = ""
    network: str = "host"
    mounts: tuple[tuple[str, str, bool], ...] = ()  # (host path, container path, read-only)
    tty: bool = False
    stdin: bool = False
    isolation: str = ""  # the level it was created at (its files are in that level's form)

    @property
    def argv(self) -> tuple[str, ...]:
        return self.entrypoint + self.cmd


@lazy_dataclass(frozen=True)
class Container:
    id: str
    name: str
    config: RunConfig
    created: str
    state: str = "created"  # created | running | exited
    exit_code: int | None = None
    started_at: str = ""
    finished_at: str = ""
    pid: int | None = None
    path: Path = field(default=Path(), compare=False)

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def upper(self) -> Path:
        return self.path / "upper"

    @property
    def work(self) -> Path:
        return self.path / "work"

    @property
    def created_time(self) -> datetime | None:
        return parse_time(self.created)

    def to_json(self) -> ContainerJSON:
        """``container.json``: the container without where it lives."""
        data = asdict(self)
        data.pop("path")
        return cast(ContainerJSON, data)

    @classmethod
    def from_json(cls, data: ContainerJSON, path: Path) -> Container:
        """The container of a ``container.json`` this engine wrote (KeyError or TypeError
        for one it did not: the caller skips it)."""
        cfg = data["config"]
        config = RunConfig(
            image=cfg["image"],
            image_name=cfg["image_name"],
            entrypoint=tuple(cfg["entrypoint"]),
            cmd=tuple(cfg["cmd"]),
            env=tuple(cfg["env"]),
            workdir=cfg["workdir"],
            user=cfg["user"],
            network=cfg["network"],
            mounts=tuple((str(m[0]), str(m[1]), bool(m[2])) for m in cfg["mounts"]),
            tty=cfg["tty"],
            stdin=cfg["stdin"],
        )
        return cls(
            data["id"],
            data["name"],
            config,
            data["created"],
            data.get("state", "created"),
            data.get("exit_code"),
            data.get("started_at", ""),
            data.get("finished_at", ""),
            data.get("pid"),
            path,
        )


class ContainerStore:
    """The containers of one nbdocker home."""

    def __init__(self, home: Path) -> None:
        self.root = home / "containers"

    def _dirs(self) -> Iterator[Path]:
        if self.root.is_dir():
            for entry in sorted(self.root.iterdir()):
                if (entry / "container.json").is_file():
                    yield entry

    def _read(self, path: Path) -> Container:
        container = Container.from_json(json.loads((path / "container.json").read_text()), path)
        if container.state == "running" and not self.is_running(container):
            # Its process died without recording the end (killed hard): show it as exited.
            container = replace(container, state="exited", exit_code=container.exit_code or 137)
        return container

    def all(self) -> list[Container]:
        out = []
        for path in self._dirs():
            with contextlib.suppress(FileNotFoundError, ValueError, KeyError, TypeError):
                out.append(self._read(path))
        return sorted(out, key=lambda c: c.created, reverse=True)

    def get(self, text: str) -> Container:
        """By full ID, unique ID prefix or name, as ``docker`` resolves containers."""
        containers = self.all()
        for c in containers:
            if text in (c.id, c.name, "/" + c.name):
                return c
        matches = [c for c in containers if text and c.id.startswith(text)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise ContainerNotFound(
                f"container ID prefix {text!r} matches {len(matches)} containers; give more digits"
            )
        raise ContainerNotFound(f"no such container: {text}; list them with 'nbdocker ps -a'")

    def create(self, config: RunConfig, name: str | None) -> Container:
        existing = {c.name for c in self.all()}
        if name is not None:
            if not name or not all(ch.isalnum() or ch in "_.-" for ch in name):
                raise UsageError(
                    f"invalid container name {name!r}: use letters, digits, '_', '.' and '-'"
                )
            if name in existing:
                raise Conflict(
                    f"conflict: the container name {name!r} is already in use; "
                    "remove that container (nbdocker rm) or choose another name"
                )
        else:
            name = self._new_name(existing)
        import secrets  # (random, hmac, base64): only a new container needs it

        cid = secrets.token_hex(32)
        path = self.root / cid
        (path / "upper").mkdir(parents=True)
        (path / "work").mkdir()
        container = Container(cid, name, config, rfc3339(datetime.now(timezone.utc)), path=path)
        self.save(container)
        return container

    @staticmethod
    def _new_name(existing: set[str]) -> str:
        import random

        rng = random.SystemRandom()
        while True:
            name = f"{rng.choice(_ADJECTIVES)}_{rng.choice(_NAMES)}"
            if name in existing:
                name += str(rng.randint(1, 99))
            if name not in existing:
                return name

    def save(self, container: Container) -> None:
        atomic_write(
            container.path / "container.json", json.dumps(container.to_json(), indent=2).encode()
        )

    @contextlib.contextmanager
    def running(self, container: Container) -> Iterator[None]:
        """Hold the container's run lock; Conflict if another process runs it already."""
        lock = open(container.path / "lock", "a+b")  # noqa: SIM115 - closed in finally
        try:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise Conflict(
                        f"container {container.name} is already running; wait for "
                        "it or stop it (nbdocker rm -f)"
                    ) from None
                raise
            yield
        finally:
            lock.close()

    def is_running(self, container: Container) -> bool:
        try:
            with open(container.path / "lock", "a+b") as lock:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
                return False
        except FileNotFoundError:
            return False
        except OSError:
            return True

    def remove(self, container: Container, force: bool) -> None:
        if self.is_running(container):
            if not force:
                raise Conflict(
                    f"you cannot remove a running container {container.short_id}; "
                    "stop it first or use rm -f"
                )
            self.kill(container)
        userns.remove_tree(container.path)
        if container.path.exists():  # a mount left behind by a killed sandbox
            raise Conflict(
                f"container {container.short_id} could not be removed completely; "
                f"remove {container.path} by hand"
            )

    def kill(self, container: Container, timeout: float = 10.0) -> None:
        """SIGKILL the process running the container and wait until its lock is released."""
        import signal

        fresh = self._read(container.path)
        if fresh.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(fresh.pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while self.is_running(container) and time.monotonic() < deadline:
            time.sleep(0.05)
