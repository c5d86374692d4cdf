"""The container half of the engine API: run, start, ps, rm, diff, export and commit.

:class:`~nbdocker.engine.Engine` inherits these; they use its store, image lookup and image
staging. A container is created from an image, run in the sandbox on the image's unpacked
layers plus its own upper dir, and committed by turning that upper dir into one new layer.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from . import userns
from .errors import UsageError
from .image import Image, rfc3339
from .lazy_dataclasses import lazy_dataclass
from .reference import parse_reference

if TYPE_CHECKING:
    from .containers import Container, ContainerStore
    from .layercache import LayerCache
    from .rootfs_view import Change
    from .store import Store, Transaction

__all__ = ["ContainerVerbs", "RunOptions"]


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


class ContainerVerbs:
    store: Store
    compression: str

    # provided by Engine
    def get(self, image: str) -> Image:
        raise NotImplementedError

    def _stage_image(
        self, txn: Transaction, config: dict[str, Any], layers: list[dict[str, Any]]
    ) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    @property
    def containers(self) -> ContainerStore:
        from .containers import ContainerStore

        return ContainerStore(self.store.root)

    @property
    def layer_cache(self) -> LayerCache:
        from .layercache import LayerCache

        return LayerCache(self.store)

    def _isolation(self, requested: str | None) -> str:
        """Make ``requested`` (None: the level in use, or ``$NBDOCKER_ISOLATION``, or the
        strongest available) this process's level; return its name."""
        from .sandbox._levels import level_for

        return level_for(requested or None, self.store.root).level

    @staticmethod
    def _opaque_xattr() -> str:
        return "trusted.overlay.opaque" if os.geteuid() == 0 else "user.overlay.opaque"

    def create(
        self, image: str, command: Sequence[str] = (), options: RunOptions | None = None
    ) -> Container:
        """``docker create``: a container from ``image`` (not started)."""
        from .containers import RunConfig

        options = options or RunOptions()
        level = self._isolation(options.isolation)
        img = self.get(image)
        cfg = img.config.get("config") or {}
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
        config = RunConfig(
            image=img.id,
            image_name=image,
            entrypoint=entrypoint,
            cmd=cmd,
            env=_merge_env(cfg.get("Env") or [], env_extra),
            workdir=options.workdir or cfg.get("WorkingDir") or "/",
            user=options.user if options.user is not None else cfg.get("User", ""),
            network=options.network,
            mounts=tuple(_parse_volume(v) for v in options.volumes),
            tty=options.tty,
            stdin=options.interactive,
            isolation=level,
        )
        return self.containers.create(config, options.name)

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
        from .sandbox import KEPT_ROOTS, BindMount, SandboxSpec, Started
        from .sandbox import run as sandbox_run

        store = self.containers
        c = store.get(container)
        self._isolation(c.config.isolation)
        image = self.get(c.config.image)
        layers = self.layer_cache.ensure(image.diff_ids, self._opaque_xattr())
        spec = SandboxSpec(
            layers=tuple(layers),
            upper=c.upper,
            work=c.work,
            argv=c.config.argv,
            env=c.config.env,
            cwd=c.config.workdir,
            user=c.config.user,
            hostname=c.short_id,
            network="none" if c.config.network == "none" else "host",
            mounts=tuple(BindMount(Path(s), t, ro) for s, t, ro in c.config.mounts),
            tty=c.config.tty,
            stdin=c.config.stdin,
            trash=self.store.root / ".trash",
            kept_roots=self.store.root / KEPT_ROOTS,
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

            def on_start(started: Started) -> None:
                with contextlib.suppress(FileNotFoundError):
                    store.save(replace(c, pid=started.pid))

            try:
                code = sandbox_run(spec, stdin, stdout, stderr, on_start=on_start)
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
        out = self.containers.all()
        return out if all else [c for c in out if c.state == "running"]

    def remove_container(self, container: str, *, force: bool = False) -> Container:
        """``docker rm``: delete a container (``force`` kills it first if it runs)."""
        store = self.containers
        c = store.get(container)
        store.remove(c, force)
        return c

    def diff(self, container: str) -> list[Change]:
        """``docker diff``: what the container changed, as (kind, path) pairs."""
        import subprocess

        c = self.containers.get(container)
        self._isolation(c.config.isolation)
        image = self.get(c.config.image)
        layers = self.layer_cache.ensure(image.diff_ids, self._opaque_xattr())
        if not userns.needed():
            from .rootfs_view import changes

            return changes(tuple(layers), c.upper)
        proc = userns.spawn(
            "rootfs_view",
            "changes",
            str(c.upper),
            *map(str, layers),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out = proc.stdout.read().decode() if proc.stdout else ""
        userns.finish(proc, f"reading the changes of container {c.short_id}")
        return [(line[0], line[2:]) for line in out.splitlines()]

    def export(self, container: str, out: IO[bytes]) -> None:
        """``docker export``: the container's root file system as a tar stream."""
        import subprocess

        c = self.containers.get(container)
        self._isolation(c.config.isolation)
        image = self.get(c.config.image)
        layers = self.layer_cache.ensure(image.diff_ids, self._opaque_xattr())
        if not userns.needed():
            from .rootfs_view import export_tar

            export_tar(tuple(layers), c.upper, out)
            return
        proc = userns.spawn(
            "rootfs_view",
            "export",
            str(c.upper),
            *map(str, layers),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None
        while chunk := proc.stdout.read(1 << 20):
            out.write(chunk)
        userns.finish(proc, f"exporting container {c.short_id}")

    def commit(
        self,
        container: str,
        reference: str | None = None,
        *,
        message: str | None = None,
        author: str | None = None,
        change: Sequence[str] = (),
    ) -> Image:
        """``docker commit``: the container's changes as one new layer on its image.

        The new config is the container's (its command, env, working dir, user) with ``change``
        applied; the history gains an entry with ``message`` and ``author``. On error nothing is
        stored or tagged.
        """
        from .changes import apply_changes
        from .engine import _name_image  # shared index edit
        from .upper import ingest_upper

        ref = parse_reference(reference) if reference else None
        c = self.containers.get(container)
        self._isolation(c.config.isolation)
        parent = self.get(c.config.image)
        cfg = dict(parent.config.get("config") or {})
        cfg["Env"] = list(c.config.env) or None
        cfg["Cmd"] = list(c.config.cmd) or None
        cfg["Entrypoint"] = list(c.config.entrypoint) or None
        cfg["WorkingDir"] = "" if c.config.workdir == "/" else c.config.workdir
        cfg["User"] = c.config.user
        cfg = apply_changes({k: v for k, v in cfg.items() if v is not None}, change)
        now = datetime.now(timezone.utc)
        empty = not any(c.upper.iterdir())
        with self.store.staging() as txn:
            layers = [
                {k: d[k] for k in ("mediaType", "digest", "size")}
                for d in parent.manifest["layers"]
            ]
            diff_ids = list(parent.diff_ids)
            if not empty:
                record = ingest_upper(txn, c.upper, f"container {c.short_id}", self.compression)
                layers.append(record.blob_descriptor())
                diff_ids.append(record.diff_id)
            entry: dict[str, Any] = {"created": rfc3339(now)}
            if author:
                entry["author"] = author
            entry["created_by"] = " ".join(c.config.cmd)
            if message:
                entry["comment"] = message
            if empty:
                entry["empty_layer"] = True
            config = {
                k: v
                for k, v in parent.config.items()
                if k not in ("created", "author", "comment", "config", "rootfs", "history")
            }
            config["created"] = rfc3339(now)
            if author:
                config["author"] = author
            if message:
                config["comment"] = message
            config["container"] = c.id
            config["config"] = cfg
            config["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
            config["history"] = [*(parent.config.get("history") or []), entry]
            staged = self._stage_image(txn, config, layers)
            self.store.commit_staged(txn, lambda t: _name_image(t, staged, ref))
        return self.get(staged[0])
