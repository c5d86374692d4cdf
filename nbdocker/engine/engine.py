"""The engine API: every operation the CLI and the notebook offer, on one store.

>>> engine = Engine()                       # the store in $NBDOCKER_HOME or the user cache
>>> image = engine.import_image("rootfs.tar.gz", "ubuntu:14.04")
>>> engine.tag(image.id, "ouruser/base:v1")
>>> [row.tag for row in engine.images("ubuntu")]
['14.04']

Every method either completes or raises an :class:`~nbdocker.engine.errors.NbdockerError` and
leaves the store exactly as it was. Long work reports :mod:`~nbdocker.engine.events`.

:class:`Engine` is a facade: it holds the store, composes the layer cache and the container
service, and each verb calls the package that does the work (the builder, the registry client,
archives).
Nothing in the engine imports this module; only the package's ``__init__`` and the front ends
do (ARCHITECTURE.md).

A command-line process runs one verb, and what it does not use should cost it no start-up
time: the packages that do the work (the builder, layers, containers) are imported here as
packages and load a module only when a verb first uses one of their names; the registry client
and archives, which only their own verbs use, are imported by those verbs (ARCHITECTURE.md,
"Start-up").
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, cast

from . import builder, containers, dockerfile, housekeeping, layer, sandbox, userns
from .activity import ActivityRecord
from .builder.options import BuildOptions
from .errors import Conflict, ImageNotFound, InvalidReference, UsageError
from .events import Event, EventSink, Progress, TaskDone, TaskStarted, ignore
from .image import Catalog, Image, new_config
from .lazy import lazy_dataclass
from .oci import MANIFEST_MEDIA_TYPE, Descriptor, parse_time, rfc3339
from .reference import Reference, parse_reference
from .store import ImageEntry, Store, Transaction
from .system import system_info

if TYPE_CHECKING:
    import tarfile

    from .builder.cache import BuildCache
    from .containers import Container, ContainerService, ContainerStore, RunOptions
    from .housekeeping import DiskUsage, FsckReport, PruneOptions, PruneReport
    from .layer.container_fs import Change
    from .layer.unpacked import LayerCache
    from .registry import PushResult, RegistrySettings
    from .system import SystemInfo

__all__ = ["BuildOptions", "Engine", "HistoryEntry", "ImageRow", "Removal"]

_CHUNK = 1 << 20


@lazy_dataclass(frozen=True)
class ImageRow:
    """One line of ``images``: an image under one of its tags (or ``<none>``)."""

    repository: str  # familiar name, or "<none>"
    tag: str  # or "<none>"
    digest: str  # manifest digest known from a registry, or "<none>"
    image: Image

    @property
    def id(self) -> str:
        return self.image.id

    @property
    def created(self) -> datetime | None:
        return self.image.created

    @property
    def size(self) -> int:
        return self.image.size


@lazy_dataclass(frozen=True)
class HistoryEntry:
    image: str  # image ID for the top entry, "<missing>" for the ones below
    created: datetime | None
    created_by: str
    size: int
    comment: str
    empty_layer: bool


@lazy_dataclass(frozen=True)
class Removal:
    action: str  # "Untagged" or "Deleted"
    what: str


class _CountingReader:
    def __init__(self, source: IO[bytes], report: Callable[[int], None]) -> None:
        self._source = source
        self._report = report
        self.done = 0

    def read(self, n: int = -1) -> bytes:
        data = self._source.read(n)
        self.done += len(data)
        self._report(self.done)
        return data

    def readable(self) -> bool:
        return True


class Engine:
    """All image operations on one store (``home`` defaults to ``$NBDOCKER_HOME`` or the cache).

    ``on_event`` receives progress events; ``compression`` is the layer compression new layers
    are stored with (``gzip`` unless ``$NBDOCKER_COMPRESSION`` says ``zstd``).
    """

    def __init__(
        self,
        home: Path | str | None = None,
        *,
        on_event: EventSink | None = None,
        compression: str | None = None,
    ) -> None:
        self.store = Store(home)
        self.on_event: EventSink = on_event or ignore
        self.compression = compression or os.environ.get("NBDOCKER_COMPRESSION", "gzip")
        if self.compression not in ("gzip", "zstd"):
            raise UsageError(
                f"unknown layer compression {self.compression!r} (NBDOCKER_COMPRESSION): "
                "use gzip or zstd"
            )
        # The layers' form follows the sandbox's isolation level in use (chosen on first need).
        root = self.store.root
        userns.read_form_from(lambda: sandbox.layer_form(root))

    @property
    def home(self) -> Path:
        return self.store.root

    @property
    def layer_cache(self) -> LayerCache:
        """The unpacked layers containers and RUN steps run on (``<home>/layers``)."""
        return layer.LayerCache(self.store)

    @property
    def containers(self) -> ContainerStore:
        """The containers of this store (``<home>/containers``)."""
        return containers.ContainerStore(self.store.root)

    def _container_service(self) -> ContainerService:
        return containers.ContainerService(self.store, self.layer_cache, self.compression, self.get)

    _recording = False

    @contextlib.contextmanager
    def _recorded(self, kind: str, title: str) -> Iterator[None]:
        """Keep this work's record in the store's ``activity/`` (:mod:`.activity`) while the
        block runs, fed by the events it emits, so other processes see it and its progress.
        Work nested in it (a build's pull of its base) is part of it and gets no record."""
        if self._recording:
            yield
            return
        record = ActivityRecord(self.home, kind, title).begin()
        outer = self.on_event

        def sink(event: Event) -> None:
            record.apply(event)
            outer(event)

        self.on_event, self._recording = sink, True
        try:
            yield
        finally:
            self.on_event, self._recording = outer, False
            record.end()

    # -- reading --------------------------------------------------------------------------------

    def _catalog(self, index: list[Descriptor] | None = None) -> Catalog:
        """The index's images, and the build cache's intermediate images by ID (call with the
        store lock held)."""
        index = self.store.read_index() if index is None else index
        return Catalog(self.store, index, self._build_cache().intermediate_images)

    def get(self, image: str) -> Image:
        """The image a reference, ID or ID prefix names (also an intermediate image a build
        made, by ID); ImageNotFound if none."""
        with self.store.locked(exclusive=False):
            return self._catalog().resolve(image)

    def images(self, reference: str | None = None, *, all: bool = False) -> list[ImageRow]:
        """Rows of ``docker images [REPO[:TAG]]``, newest first.

        ``reference`` filters by repository (``ouruser/sinatra``) or repository and tag
        (``ouruser/sinatra:v2``); shell-style wildcards are allowed as in ``docker images``.
        ``all`` adds the intermediate images builds made (kept by the build cache).
        """
        with self.store.locked(exclusive=False):
            catalog = self._catalog()
            found = [catalog.intermediate_image(i) for i in catalog.intermediate] if all else []
        intermediate = [image for image in found if image is not None]
        repo_pat, tag_pat = _filter_patterns(reference)
        rows: list[ImageRow] = []
        for image in catalog.images.values():
            digests = {r.name: r.digest for r in image.digests}
            if image.tags:
                for ref in image.tags:
                    rows.append(
                        ImageRow(
                            ref.familiar_name,
                            ref.tag or "<none>",
                            digests.get(ref.name) or "<none>",
                            image,
                        )
                    )
            elif image.digests:
                for ref in image.digests:
                    rows.append(
                        ImageRow(ref.familiar_name, "<none>", ref.digest or "<none>", image)
                    )
            elif reference is None:
                rows.append(ImageRow("<none>", "<none>", "<none>", image))
        if reference is None:
            rows += [ImageRow("<none>", "<none>", "<none>", image) for image in intermediate]
        if repo_pat is not None:
            rows = [
                r
                for r in rows
                if _repo_matches(r.repository, repo_pat)
                and (tag_pat is None or fnmatch.fnmatchcase(r.tag, tag_pat))
            ]
        epoch = datetime.fromtimestamp(0, timezone.utc)
        rows.sort(key=lambda r: (r.created or epoch, r.repository, r.tag), reverse=True)
        return rows

    def history(self, image: str) -> list[HistoryEntry]:
        """The image's history, newest first, each entry with the size of the layer it made."""
        img = self.get(image)
        history = img.config.get("history") or []
        layer_ids = img.diff_ids
        sizes: list[int] = []
        for diff_id in layer_ids:
            record = self.store.layer(diff_id)
            sizes.append(record.content_size if record else 0)
        if not history:  # images without history: one entry per layer
            history = [{"created_by": ""} for _ in layer_ids]
        entries: list[HistoryEntry] = []
        layer = 0
        for item in history:
            empty = bool(item.get("empty_layer"))
            size = 0
            if not empty and layer < len(sizes):
                size = sizes[layer]
                layer += 1
            entries.append(
                HistoryEntry(
                    "<missing>",
                    parse_time(item.get("created")),
                    item.get("created_by", ""),
                    size,
                    item.get("comment", ""),
                    empty,
                )
            )
        entries.reverse()
        if entries:
            top = entries[0]
            entries[0] = HistoryEntry(
                img.id, top.created, top.created_by, top.size, top.comment, top.empty_layer
            )
        return entries

    def inspect(self, image: str) -> dict[str, object]:
        """``docker inspect`` of an image: Docker's keys and value shapes."""
        img = self.get(image)
        cfg = img.run_config
        return {
            "Id": img.id,
            "RepoTags": [r.familiar for r in img.tags],
            "RepoDigests": [r.familiar for r in img.digests],
            "Parent": "",
            "Comment": img.config.get("comment", ""),
            "Created": img.config.get("created", ""),
            "DockerVersion": img.config.get("docker_version", ""),
            "Author": img.config.get("author", ""),
            "Config": {
                "Hostname": "",
                "Domainname": "",
                "User": cfg.get("User", ""),
                "ExposedPorts": cfg.get("ExposedPorts"),
                "Env": cfg.get("Env"),
                "Cmd": cfg.get("Cmd"),
                "Healthcheck": cfg.get("Healthcheck"),
                "ArgsEscaped": cfg.get("ArgsEscaped"),
                "Image": "",
                "Volumes": cfg.get("Volumes"),
                "WorkingDir": cfg.get("WorkingDir", ""),
                "Entrypoint": cfg.get("Entrypoint"),
                "OnBuild": cfg.get("OnBuild"),
                "Labels": cfg.get("Labels"),
                "StopSignal": cfg.get("StopSignal"),
                "Shell": cfg.get("Shell"),
            },
            "Architecture": img.config.get("architecture", ""),
            "Variant": img.config.get("variant"),
            "Os": img.config.get("os", ""),
            "Size": img.size,
            "VirtualSize": img.size,
            "RootFS": {"Type": "layers", "Layers": img.diff_ids},
            "Metadata": {"LastTagTime": ""},
        }

    # -- writing --------------------------------------------------------------------------------

    def import_image(
        self,
        source: str | os.PathLike[str] | IO[bytes],
        reference: str | None = None,
        *,
        message: str | None = None,
        change: Sequence[str] = (),
        source_date_epoch: int | None = None,
    ) -> Image:
        """``docker import``: make a one-layer image from a root filesystem tarball.

        ``source`` is a path, an ``http(s)://`` URL, ``-`` is not accepted here (pass the stream),
        or a binary stream. Plain, gzip, bzip2, xz and zstd tarballs are accepted. ``change`` holds
        Dockerfile instructions applied to the config (``CMD ["/bin/sh"]``, ``ENV A=b``, …).
        On error nothing is stored and nothing is tagged.

        The image is a function of the tarball's content and the options: its creation time is
        ``source_date_epoch`` when given, else the newest modification time in the tarball
        (Docker stamps the time of the import instead). So importing the same tarball again
        gives the same image ID, and the build steps cached on it stay valid.
        """
        ref = parse_reference(reference) if reference else None
        container_config = dockerfile.apply_changes({}, change)
        newest = 0

        def note_mtime(member: tarfile.TarInfo) -> None:
            nonlocal newest
            newest = max(newest, int(member.mtime))

        with (
            self._recorded("import", _source_title(source)),
            self.store.staging() as txn,
            self._open_source(source) as (stream, where, total),
        ):
            self.on_event(TaskStarted("import", where, total))

            def report(done: int) -> None:
                self.on_event(Progress("import", where, done, total))

            counted = _CountingReader(stream, report)
            record = layer.ingest_layer(
                txn,
                layer.decompressed(cast(IO[bytes], counted)),
                where,
                layer.IngestOptions(compression=self.compression, normalise=True),
                on_member=note_mtime,
            )
            comment = message or f"Imported from {'-' if where.startswith('/') else where}"
            seconds = source_date_epoch if source_date_epoch is not None else newest
            created = datetime.fromtimestamp(seconds, timezone.utc)
            config = new_config(
                [record.diff_id],
                [{"created": rfc3339(created), "comment": comment}],
                container_config,
                created=created,
                comment=comment,
            )
            image = txn.write_image(config, [record.blob_descriptor()])
            self.store.commit_staged(txn, lambda t: t.name(image, ref))
        self.on_event(TaskDone("import", where, image.id))
        return self.get(image.id)

    def _build_cache(self) -> BuildCache:
        return builder.BuildCache(self.store)

    def build(
        self,
        context: str | os.PathLike[str] | IO[bytes] | None,
        options: BuildOptions | None = None,
    ) -> Image:
        """``docker build``: run a Dockerfile; return the final image (named by ``options.tags``).

        ``context`` is a directory, a tar stream (or a stream holding just a Dockerfile, as with
        ``docker build - < Dockerfile``), or None for no context. Reports build events
        (:mod:`.events`). On error or interrupt nothing is named; completed steps stay cached.
        """
        options = options or BuildOptions()
        services = builder.BuildServices(self.store, self.compression, self._pull_image)
        # In flight for its whole length: a step may reuse a cached layer found minutes before
        # the image that references it is committed.
        with self._recorded("build", _build_title(context, options)), self.store.in_flight():
            return builder.run_build(services, context, options, self.on_event)

    def _pull_image(self, reference: str) -> Image:
        """What a build does with an image it lacks (FROM, COPY --from): pull it."""
        return self.pull(reference)

    @contextlib.contextmanager
    def _open_source(
        self, source: str | os.PathLike[str] | IO[bytes]
    ) -> Iterator[tuple[IO[bytes], str, int | None]]:
        if not isinstance(source, (str, os.PathLike)):
            yield source, "-", None
            return
        text = os.fspath(source)
        if text.startswith(("http://", "https://")):
            from .archive import open_url  # (httpx) only an import from a URL loads it

            with open_url(text) as (stream, total):
                yield stream, text, total
            return
        path = Path(text)
        try:
            f = open(path, "rb")  # noqa: SIM115 - `with f` below
        except FileNotFoundError:
            raise ImageNotFound(
                f"{text}: no such file; give the path of a root filesystem tarball, a URL or - "
                "for standard input"
            ) from None
        except IsADirectoryError:
            raise UsageError(
                f"{text}: is a directory; make a tarball of it first (tar -C {text} -c .)"
            ) from None
        with f:
            yield f, str(path.resolve()), path.stat().st_size

    def tag(self, source: str, target: str) -> Reference:
        """``docker tag``: point ``target`` (normalised, ``:latest`` by default) at an image."""
        ref = parse_reference(target)
        if ref.digest is not None:
            raise UsageError(f"tag {target!r}: a tag cannot carry a digest; drop the @sha256:…")
        with self.store.transaction() as txn:
            image = self._catalog(txn.index).resolve(source)
            txn.name(ImageEntry(image.id, _manifest_descriptor(self.store, image)), ref)
        return ref

    def remove(self, images: Sequence[str], *, force: bool = False) -> list[Removal]:
        """``docker rmi``: untag each name; delete an image when no name is left on it.

        By ID, an image tagged in several repositories needs ``force``. All of ``images`` are
        checked before anything changes, so an error leaves every image in place.
        """
        removals: list[Removal] = []
        with self.store.transaction() as txn:
            catalog = self._catalog(txn.index)
            children = {r.parent for r in self._build_cache().records()}
            for text in images:
                image = catalog.resolve(text)
                named = _named_ref(catalog, text)
                if image.id not in catalog.images and image.id in children:
                    raise Conflict(
                        f"conflict: unable to delete {image.short_id} (cannot be forced) - "
                        "image has dependent child images; remove the images built on it first"
                    )
                if named is not None:
                    txn.unname(named)
                    removals.append(Removal("Untagged", named.familiar))
                    if named.digest is None and not any(
                        r.name == named.name and r.digest is None and r != named
                        for r in image.references
                    ):
                        # As Docker: with the repository's last tag go its digest names
                        # (repo@sha256:… of a pull), which would otherwise keep the image.
                        for ref in image.references:
                            if ref.name == named.name and ref.digest is not None:
                                txn.unname(ref)
                                removals.append(Removal("Untagged", ref.familiar))
                    catalog = self._catalog(txn.index)
                    if image.id in catalog.images and catalog.images[image.id].references:
                        continue
                else:
                    repos = {r.name for r in image.references}
                    if len(repos) > 1 and not force:
                        raise Conflict(
                            f"conflict: unable to delete {image.short_id} (must be forced) - "
                            "image is referenced in multiple repositories; use rmi -f or "
                            "remove its tags one by one"
                        )
                    for ref in image.references:
                        txn.unname(ref)
                        removals.append(Removal("Untagged", ref.familiar))
                users = [c.name for c in self.containers.all() if c.config.image == image.id]
                if users:
                    if not force:
                        raise Conflict(
                            f"conflict: unable to delete {image.short_id} (must be forced) - "
                            f"image is being used by container {users[0]}; remove the "
                            "container first (nbdocker rm) or use rmi -f to untag only"
                        )
                    entry = ImageEntry(image.id, _manifest_descriptor(self.store, image))
                    txn.name(entry, None)  # keep it, untagged
                    catalog = self._catalog(txn.index)
                    continue
                txn.forget(image.manifest_digest)
                removals.append(Removal("Deleted", image.id))
                catalog = self._catalog(txn.index)
        deleted = {r.what for r in removals if r.action == "Deleted"}
        swept = housekeeping.collect(self.store, self.layer_cache, self.containers, deleted)
        removals += [Removal("Deleted", image_id) for image_id in swept.images]
        return removals

    def save(self, images: Sequence[str], out: IO[bytes], *, format: str = "docker") -> None:
        """``docker save``: write images to ``out`` as a docker archive (loads in
        ``docker load``; also an OCI layout) or, with ``format="oci"``, an OCI archive."""
        with self.store.locked(exclusive=False):
            catalog = self._catalog()
            chosen: list[tuple[Image, list[Reference]]] = []
            for text in images:
                image = catalog.resolve(text)
                named = _named_ref(catalog, text)
                refs = [named] if named is not None else list(image.tags)
                chosen.append((image, refs))
            from .archive import write_archive

            write_archive(self.store, chosen, out, format, self.on_event)

    def load(self, source: IO[bytes]) -> list[str]:
        """``docker load``: read a docker or OCI archive; return what was loaded (names, or IDs
        of untagged images). Every blob is verified; on error nothing is stored or tagged."""
        from .archive import read_archive

        with self._recorded("load", _source_title(source)), self.store.staging() as txn:
            loaded = read_archive(txn, source, self.compression, self.on_event)
            staged = [(txn.write_image(img.config_bytes, img.layers), img) for img in loaded]

            def update(t: Transaction) -> list[str]:
                out: list[str] = []
                for entry, img in staged:
                    if img.references:
                        for ref in img.references:
                            t.name(entry, ref)
                            out.append(ref.familiar)
                    else:
                        t.name(entry, None)
                        out.append(entry.id)
                return out

            return self.store.commit_staged(txn, update)

    # -- containers (logic in nbdocker.engine.containers) ---------------------------------------

    def create(
        self, image: str, command: Sequence[str] = (), options: RunOptions | None = None
    ) -> Container:
        """``docker create``: a container from ``image`` (not started)."""
        return self._container_service().create(image, command, options)

    def start(
        self,
        container: str,
        *,
        stdin: int | None = None,
        stdout: int | None = None,
        stderr: int | None = None,
    ) -> int:
        """``docker start -a``: run the container's command (again, on the same file system)
        until it ends; return its exit code. ``ps -a`` shows the state recorded."""
        service = self._container_service()
        return service.start(container, stdin=stdin, stdout=stdout, stderr=stderr)

    def ps(self, *, all: bool = False) -> list[Container]:
        """``docker ps``: running containers, or with ``all`` every container, newest first."""
        return self._container_service().ps(all=all)

    def remove_container(self, container: str, *, force: bool = False) -> Container:
        """``docker rm``: delete a container (``force`` kills it first if it runs)."""
        return self._container_service().remove_container(container, force=force)

    def diff(self, container: str) -> list[Change]:
        """``docker diff``: what the container changed, as (kind, path) pairs."""
        return self._container_service().diff(container)

    def export(self, container: str, out: IO[bytes]) -> None:
        """``docker export``: the container's root file system as a tar stream."""
        self._container_service().export(container, out)

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
        """``docker commit``: the container's changes as one new layer on its image, named
        ``reference``; ``change`` as ``-c``; a running container paused meanwhile unless
        ``pause`` is False. On error nothing is stored or tagged."""
        return self._container_service().commit(
            container, reference, message=message, author=author, change=change, pause=pause
        )

    # -- registries (logic in nbdocker.engine.registry) -----------------------------------------

    def pull(self, reference: str, *, settings: RegistrySettings | None = None) -> Image:
        """``docker pull``: fetch ``name[:tag]`` or ``name@sha256:…`` from its registry.

        Reports per layer ``TaskStarted``/``Progress``/``TaskDone("pull", <short digest>,
        "Pull complete" | "Already exists")``, then ``TaskDone("pull", <reference>,
        "Downloaded newer image" | "Image is up to date")``. Every blob is verified; on error
        nothing is stored or tagged. ``settings`` default to the environment's.
        """
        from .registry import RegistrySettings  # httpx: only the registry verbs load it
        from .registry.pull import pull

        with self._recorded("pull", reference):
            result = pull(
                self.store,
                self.layer_cache,
                reference,
                settings or RegistrySettings.from_env(),
                self.on_event,
            )
        return result.image

    def push(self, reference: str, *, settings: RegistrySettings | None = None) -> list[PushResult]:
        """``docker push``: the tag ``reference`` names, or every tag of its repository.

        Reports per layer ``TaskDone("push", <short digest>, "Pushed" | "Layer already
        exists" | "Mounted from <repo>")``. A tag reaches the registry only with its manifest,
        after all its blobs; locally, pushed images gain their ``name@digest`` reference.
        """
        from .registry import RegistrySettings
        from .registry.push import push

        settings = settings or RegistrySettings.from_env()
        with self._recorded("push", reference):
            return push(self.store, reference, settings, self.on_event)

    def login(
        self,
        server: str | None,
        username: str,
        password: str,
        *,
        settings: RegistrySettings | None = None,
    ) -> str:
        """``docker login``: check the credentials with the registry, then store them in
        Docker's config.json (or its credential helper); return the registry's name."""
        from .registry import RegistrySettings
        from .registry.login import login

        settings = settings or RegistrySettings.from_env()
        return login(server, username, password, settings)

    def info(self) -> SystemInfo:
        """``docker info``: the store, the isolation level in use and why not a stronger one,
        overlay or copy, rootless or not, compression and versions (probes the sandbox)."""
        rows = self.ps(all=True)
        return system_info(
            self.store.root,
            self.compression,
            images=len({row.id for row in self.images(all=True)}),
            containers=len(rows),
            running=sum(1 for c in rows if c.state == "running"),
        )

    # -- housekeeping (logic in nbdocker.engine.housekeeping) -------------------------------------

    def disk_usage(self) -> DiskUsage:
        """``docker system df``: images, containers, local volumes and build cache, each with
        its count, how many are in use, its size and what a prune could reclaim."""
        return housekeeping.disk_usage(self.store, self.containers)

    def prune(self, options: PruneOptions) -> PruneReport:
        """``image prune``, ``container prune``, ``builder prune`` and ``system prune``: remove
        what ``options`` asks for, what nothing reaches any more, and what killed commands left.
        Never removes what a named image (unless asked for every unused image), a container or
        running work needs (:mod:`.housekeeping.collector`)."""
        return housekeeping.prune(self.store, self.layer_cache, self.containers, options)

    def fsck(self, *, repair: bool = False) -> FsckReport:
        """``nbdocker fsck``: check every blob, reference and unpacked layer; with ``repair``,
        remove what is broken and can be made again (:mod:`.housekeeping.check`). Reports
        ``TaskStarted``/``Progress``/``TaskDone`` events for the blobs and the layers."""
        return housekeeping.fsck(self.store, self.layer_cache, self.on_event, repair=repair)

    def logout(self, server: str | None) -> tuple[str, bool]:
        """``docker logout``: forget a registry's credentials; (registry, whether any were)."""
        from .registry.login import logout

        return logout(server)


# -- activity records ------------------------------------------------------------------------------


def _source_title(source: str | os.PathLike[str] | IO[bytes]) -> str:
    """How an activity record names what is imported or loaded: a URL, a file's name, ``-``."""
    if not isinstance(source, (str, os.PathLike)):
        return "-"
    text = os.fspath(source)
    return text if text.startswith(("http://", "https://")) else Path(text).name


def _build_title(context: object, options: BuildOptions) -> str:
    """How an activity record names a build: its tags, else its context folder's name."""
    if options.tags:
        return ", ".join(options.tags)
    if isinstance(context, (str, os.PathLike)) and os.fspath(context) not in ("", "-"):
        return Path(os.fspath(context)).resolve().name or os.fspath(context)
    return "an image"


# -- helpers --------------------------------------------------------------------------------------


def _manifest_descriptor(store: Store, image: Image) -> Descriptor:
    return {
        "mediaType": image.manifest.get("mediaType", MANIFEST_MEDIA_TYPE),
        "digest": image.manifest_digest,
        "size": store.blob_path(image.manifest_digest).stat().st_size,
    }


def _named_ref(catalog: Catalog, text: str) -> Reference | None:
    """The reference ``text`` names, if it names one in the store (rather than an ID)."""
    try:
        ref = parse_reference(text)
    except InvalidReference:
        return None
    return ref if ref in catalog.by_name else None


def _filter_patterns(reference: str | None) -> tuple[str | None, str | None]:
    if not reference:
        return None, None
    head, sep, tag = reference.rpartition(":")
    if sep and "/" not in tag:
        return head, tag
    return reference, None


def _repo_matches(repository: str, pattern: str) -> bool:
    if fnmatch.fnmatchcase(repository, pattern):
        return True
    try:
        ref = parse_reference(pattern, default_tag=False)
    except InvalidReference:
        return False
    return repository == ref.familiar_name
