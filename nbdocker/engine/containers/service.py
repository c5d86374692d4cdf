"""The container verbs: run, start, ps, rm, diff, export and commit.

:class:`ContainerService` is composed into :class:`~nbdocker.engine.Engine`, which delegates
its container verbs to it. A container is created from an image, run in the sandbox on the
image's unpacked layers plus its own upper dir, and committed by turning that upper dir into one
new layer.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, cast

from .. import dockerfile, layer, sandbox, userns
from ..errors import NbdockerError, UsageError
from ..image import Image, find_image
from ..oci import ContainerConfig, Descriptor, HistoryRecord, ImageConfig, rfc3339
from ..reference import parse_reference
from ..store import Store
from .records import Container, ContainerStore, RunConfig
from .run_options import RunOptions

if TYPE_CHECKING:
    from ..layer.container_fs import Change
    from ..layer.unpacked import LayerCache

__all__ = ["ContainerService"]


def _parse_env_file(path: str) -> list[str]:
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise UsageError(f"--env-file {path}: {exc.strerror}; give a readable file") from None
    out = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            value = os.environ.get(line)
            if value is None:
                continue
            line = f"{line}={value}"
        out.append(line)
    return out


def _merge_env(base: Sequence[str], extra: Sequence[str]) -> tuple[str, ...]:
    env: dict[str, str] = {}
    for item in [*base, *extra]:
        key, sep, value = item.partition("=")
        if not sep:
            if key not in os.environ:
                continue
            value = os.environ[key]
        env[key] = value
    return tuple(f"{k}={v}" for k, v in env.items())


def _parse_volume(spec: str) -> tuple[str, str, bool]:
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1].startswith("/"):
        raise UsageError(f"invalid volume {spec!r}: use -v /host/path:/container/path[:ro]")
    readonly = len(parts) == 3 and parts[2] == "ro"
    if len(parts) == 3 and parts[2] not in ("ro", "rw"):
        raise UsageError(f"invalid volume {spec!r}: the mode is ro or rw")
    source = os.path.abspath(parts[0])
    if not os.path.exists(source):
        raise UsageError(f"invalid volume {spec!r}: {source} does not exist; create it first")
    return source, parts[1], readonly


class ContainerService:
    """``run``, ``start``, ``ps``, ``rm``, ``diff``, ``export`` and ``commit`` on one store.

    The engine holds one and hands it the store, the layer cache the containers run on and the
    compression of committed layers; it knows images only through the store, and resolves a
    name or ID with ``find`` (the engine's, which also knows the build cache's intermediate
    images; by default the index's images only).
    """

    def __init__(
        self,
        store: Store,
        layer_cache: LayerCache,
        compression: str,
        find: Callable[[str], Image] | None = None,
    ) -> None:
        self.store = store
        self.layer_cache = layer_cache
        self.compression = compression
        self.records = ContainerStore(store.root)
        self._find = find

    def _image(self, text: str) -> Image:
        return self._find(text) if self._find is not None else find_image(self.store, text)

    def _isolation(self, requested: str | None) -> str:
        """Make ``requested`` (None: the level in use, or ``$NBDOCKER_ISOLATION``, or the
        strongest available) this process's level; return its name."""
        return sandbox.level_for(requested or None, self.store.root).level

    def create(
        self, image: str, command: Sequence[str] = (), options: RunOptions | None = None
    ) -> Container:
        """``docker create``: a container from ``image`` (not started)."""
        options = options or RunOptions()
        level = self._isolation(options.isolation)
        img = self._image(image)
        cfg = img.run_config
        if options.network not in ("host", "none"):
            raise UsageError(f"--network {options.network}: nbdocker supports host and none")
        entrypoint: tuple[str, ...] = tuple(cfg.get("Entrypoint") or ())
        cmd: tuple[str, ...] = tuple(cfg.get("Cmd") or ())
        if options.entrypoint is not None:
            entrypoint = (options.entrypoint,) if options.entrypoint else ()
            cmd = ()
        if command:
            cmd = tuple(command)
        if not entrypoint and not cmd:
            raise UsageError(
                f"no command specified: image {image} has no CMD or ENTRYPOINT; "
                "give one after the image name"
            )
        env_extra = [e for f in options.env_files for e in _parse_env_file(f)] + list(options.env)
        for entry in options.env:
            if entry.startswith("="):  # as Docker: a variable needs a name
                raise UsageError(
                    f"invalid environment variable: {entry}; give -e NAME=VALUE (or -e NAME)"
                )
        user = options.user if options.user is not None else cfg.get("User", "")
        _check_user_ids(user)
        config = RunConfig(
            image=img.id,
            image_name=image,
            entrypoint=entrypoint,
            cmd=cmd,
            env=_merge_env(cfg.get("Env") or [], env_extra),
            workdir=options.workdir or cfg.get("WorkingDir") or "/",
            user=user,
            network=options.network,
            mounts=tuple(_parse_volume(v) for v in options.volumes),
            tty=options.tty,
            stdin=options.interactive,
            isolation=level,
        )
        return self.records.create(config, options.name)

    def start(
        self,
        container: str,
        *,
        stdin: int | None = None,
        stdout: int | None = None,
        stderr: int | None = None,
    ) -> int:
        """Run the container's command (again, on the same file system); return its exit code.

        Blocks until the command ends. The container's state (running, exited with code) is
        recorded so ``ps -a`` shows it.
        """
        store = self.records
        c = store.get(container)
        self._isolation(c.config.isolation)
        image = self._image(c.config.image)
        layers = self.layer_cache.ensure(image.diff_ids)
        spec = sandbox.SandboxSpec(
            layers=tuple(layers),
            upper=c.upper,
            work=c.work,
            argv=c.config.argv,
            env=c.config.env,
            cwd=c.config.workdir,
            user=c.config.user,
            hostname=c.short_id,
            network="none" if c.config.network == "none" else "host",
            mounts=tuple(sandbox.BindMount(Path(s), t, ro) for s, t, ro in c.config.mounts),
            tty=c.config.tty,
            stdin=c.config.stdin,
            trash=self.store.root / ".trash",
            kept_roots=self.store.root / sandbox.KEPT_ROOTS,
        )
        with store.running(c):
            c = replace(
                c,
                state="running",
                started_at=rfc3339(datetime.now(timezone.utc)),
                exit_code=None,
                pid=None,
            )
            store.save(c)
            code: int | None = None

            def on_start(started: sandbox.Started) -> None:
                with contextlib.suppress(FileNotFoundError):
                    store.save(replace(c, pid=started.pid))

            try:
                code = sandbox.run(spec, stdin, stdout, stderr, on_start=on_start)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    store.save(
                        replace(
                            c,
                            state="exited",
                            pid=None,
                            exit_code=137 if code is None else code,
                            finished_at=rfc3339(datetime.now(timezone.utc)),
                        )
                    )
        return code

    def ps(self, *, all: bool = False) -> list[Container]:
        """``docker ps``: running containers, or with ``all`` every container, newest first."""
        out = self.records.all()
        return out if all else [c for c in out if c.state == "running"]

    def remove_container(self, container: str, *, force: bool = False) -> Container:
        """``docker rm``: delete a container (``force`` kills it first if it runs)."""
        store = self.records
        c = store.get(container)
        store.remove(c, force)
        return c

    def diff(self, container: str) -> list[Change]:
        """``docker diff``: what the container changed, as (kind, path) pairs."""
        c = self.records.get(container)
        self._isolation(c.config.isolation)
        layers = self.layer_cache.ensure(self._image(c.config.image).diff_ids)
        if userns.needed():
            what = f"reading the changes of container {c.short_id}"
            return layer.changes_in_userns(layers, c.upper, what)
        return layer.changes(tuple(layers), c.upper)

    def export(self, container: str, out: IO[bytes]) -> None:
        """``docker export``: the container's root file system as a tar stream."""
        c = self.records.get(container)
        self._isolation(c.config.isolation)
        layers = self.layer_cache.ensure(self._image(c.config.image).diff_ids)
        if userns.needed():
            layer.export_in_userns(layers, c.upper, out, f"exporting container {c.short_id}")
        else:
            layer.export_tar(tuple(layers), c.upper, out)

    def commit(
        self,
        container: str,
        reference: str | None = None,
        *,
        message: str | None = None,
        author: str | None = None,
        change: Sequence[str] = (),
        pause: bool = True,
    ) -> Image:
        """``docker commit``: the container's changes as one new layer on its image.

        The new config is the container's (its command, env, working dir, user) with ``change``
        applied; the history gains an entry with ``message`` and ``author``. A running
        container is paused while its changes are read, and continued afterwards (Docker's
        ``--pause``, on by default; :func:`~nbdocker.engine.sandbox.paused` says how), so a
        file it writes meanwhile cannot make the commit fail or tear. On error nothing is
        stored or tagged, and the container runs on.
        """
        ref = parse_reference(reference) if reference else None
        c = self.records.get(container)
        self._isolation(c.config.isolation)
        parent = self._image(c.config.image)
        cfg: ContainerConfig = {**parent.run_config}
        cfg["Env"] = list(c.config.env) or None
        cfg["Cmd"] = list(c.config.cmd) or None
        cfg["Entrypoint"] = list(c.config.entrypoint) or None
        cfg["WorkingDir"] = "" if c.config.workdir == "/" else c.config.workdir
        cfg["User"] = c.config.user
        cfg = dockerfile.apply_changes(_without_none(cfg), change)
        now = datetime.now(timezone.utc)
        running = self.records.is_running(c)
        with self.store.staging() as txn:
            layers: list[Descriptor] = [
                {"mediaType": d["mediaType"], "digest": d["digest"], "size": d["size"]}
                for d in parent.manifest["layers"]
            ]
            diff_ids = list(parent.diff_ids)
            try:
                with sandbox.paused(c.pid if running and pause else None):
                    empty = not any(c.upper.iterdir())
                    if not empty:
                        where = f"container {c.short_id}"
                        record = layer.ingest_upper(txn, c.upper, where, self.compression)
                        layers.append(record.blob_descriptor())
                        diff_ids.append(record.diff_id)
            except FileNotFoundError as exc:
                if not running or pause:
                    raise
                rel = os.path.relpath(exc.filename or c.upper, c.upper)
                gone = "/" if rel == "." else f"/{rel}"
                raise NbdockerError(
                    f"container {c.short_id} removed {gone} while its changes were "
                    "read; commit it again without -p=false (the container is then paused); "
                    "nothing was stored"
                ) from None
            entry: HistoryRecord = {"created": rfc3339(now)}
            if author:
                entry["author"] = author
            entry["created_by"] = " ".join(c.config.cmd)
            if message:
                entry["comment"] = message
            if empty:
                entry["empty_layer"] = True
            config = _inherited(parent.config)
            config["created"] = rfc3339(now)
            if author:
                config["author"] = author
            if message:
                config["comment"] = message
            config["container"] = c.id
            config["config"] = cfg
            config["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
            config["history"] = [*(parent.config.get("history") or []), entry]
            image = txn.write_image(config, layers)
            self.store.commit_staged(txn, lambda t: t.name(image, ref))
        return self._image(image.id)


def _without_none(config: ContainerConfig) -> ContainerConfig:
    """``config`` without the keys whose value is None (as Docker omits unset ones)."""
    return cast(ContainerConfig, {k: v for k, v in config.items() if v is not None})


def _inherited(config: ImageConfig) -> ImageConfig:
    """What a commit keeps of its parent's config (platform, Docker's extras…), in order."""
    made_here = ("created", "author", "comment", "config", "rootfs", "history")
    return cast(ImageConfig, {k: v for k, v in config.items() if k not in made_here})


_MAX_ID = 2**31 - 1  # as Docker (runc) accepts


def _check_user_ids(user: str) -> None:
    """Refuse a numeric uid or gid the kernel cannot take (``-u 99999999999``), as Docker does,
    before a container record is made."""
    for part in user.split(":", 1):
        if part.isdigit() and int(part) > _MAX_ID:
            raise NbdockerError(
                f"user {user!r}: uids and gids must be in range 0-{_MAX_ID}; give a smaller id "
                "or a user name from the image's /etc/passwd"
            )
