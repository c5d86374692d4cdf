"""The collector behind every ``prune`` verb, and ``system df``: what the store holds and what
could go.

What it never removes:

- an image with a name, unless asked for every image (``image prune -a``); never an image a
  container (running or stopped) was made from, nor the layers, blobs and build-cache records
  such an image stands on;
- anything a running command uses: blobs and unpacked layers are removed only when no load,
  pull, build or import is in flight (``Store.quiet``); while one is, those are left for the
  next collection (:attr:`PruneReport.deferred`), and only names, records, stopped containers
  and leftovers go;
- a running container; a live build's scratch folder, an ingest file being written, a lock
  someone holds (:mod:`nbdocker.engine.leftovers` tells those from the ones killed commands
  left).

What is "dangling" (the default of ``image prune`` and ``builder prune``): an image without any
name (tag or digest reference); a build-cache record that made no image still listed or used by
a container, nor one such an image was built on. ``-a`` widens both to everything unused.

Failure guarantee: every removal is one of the store's own (a transaction of the index, the
cache's records file written whole, a tree removed after it left every list), so a collection
that fails or is killed half-way leaves a sound store with less removed; running it again
finishes the work.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from .. import activity, trees, userns
from ..builder.cache import BuildCache
from ..containers import ContainerStore
from ..errors import Conflict
from ..image import Catalog, Image, diff_ids
from ..layer.unpacked import LayerCache, chain_ids
from ..lazy import lazy_dataclass
from ..leftovers import find_leftovers
from ..store import Store

__all__ = [
    "ALL",
    "DANGLING",
    "DiskUsage",
    "PruneOptions",
    "PruneReport",
    "UsageRow",
    "collect",
    "disk_usage",
    "prune",
    "tree_size",
]

NONE, DANGLING, ALL = "", "dangling", "all"


@lazy_dataclass(frozen=True)
class PruneOptions:
    """What one collection removes: stopped containers; images (:data:`DANGLING` or
    :data:`ALL` unused ones); build cache (dangling or all). Leftovers of killed commands and
    unreachable blobs always go."""

    containers: bool = False
    images: str = NONE
    build_cache: str = NONE


@lazy_dataclass(frozen=True)
class PruneReport:
    containers: tuple[str, ...] = ()  # IDs of the containers removed
    untagged: tuple[str, ...] = ()  # names removed with the images (familiar form)
    images: tuple[str, ...] = ()  # IDs of the images deleted (listed and intermediate)
    build_cache: tuple[str, ...] = ()  # intermediate image IDs dropped, leftovers removed
    reclaimed: int = 0  # bytes
    deferred: bool = False  # blobs and layers left because work was in flight


@lazy_dataclass(frozen=True)
class UsageRow:
    """One line of ``system df``."""

    kind: str  # Images | Containers | Local Volumes | Build Cache
    total: int
    active: int
    size: int
    reclaimable: int


@lazy_dataclass(frozen=True)
class DiskUsage:
    rows: tuple[UsageRow, ...] = ()
    leftovers: tuple[str, ...] = ()  # paths (relative to the store) killed commands left


def tree_size(path: Path) -> int:
    """Bytes of the regular files below ``path`` (or of ``path`` itself), as ``du
    --apparent-size`` counts them; what cannot be read counts as nothing."""
    try:
        st = os.lstat(path)
    except OSError:
        return 0
    if not stat.S_ISDIR(st.st_mode):
        return st.st_size if stat.S_ISREG(st.st_mode) else 0
    total = 0
    for dirpath, _dirs, files in trees.walk(path):  # os.walk recurses (Python 3.11)
        for name in files:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
    return total


def _layer_sizes(store: Store, images: Iterable[Image]) -> dict[str, int]:
    """diffID → content size, for every layer of ``images`` (each counted once)."""
    out: dict[str, int] = {}
    for image in images:
        for diff_id in image.diff_ids:
            if diff_id not in out:
                record = store.layer(diff_id)
                out[diff_id] = record.content_size if record else 0
    return out


def _blob_size(store: Store, digest: str) -> int:
    try:
        return store.blob_path(digest).stat().st_size
    except (OSError, ValueError):
        return 0


def _relative(store: Store, paths: Iterable[Path]) -> tuple[str, ...]:
    return tuple(str(p.relative_to(store.root)) for p in paths)


def disk_usage(store: Store, containers: ContainerStore) -> DiskUsage:
    """``docker system df``: images (sizes as ``images`` counts them, shared layers once),
    containers (their changed files), local volumes (none: nbdocker has none), build cache
    (blobs only the cache reaches, plus what killed builds left). Reclaimable is what the
    matching prune with ``-a`` would free."""
    with store.locked(exclusive=False):
        index = store.read_index()
        catalog = Catalog(store, index)
        cache = BuildCache(store)
        roots = cache.roots()
        listed = store.reachable(d["digest"] for d in index)
        cache_only = store.reachable(roots) - listed
        all_containers = containers.all()
    used = {c.config.image for c in all_containers}
    images = list(catalog.images.values())
    sizes = _layer_sizes(store, images)
    active_sizes = _layer_sizes(store, [i for i in images if i.id in used])
    image_row = UsageRow(
        "Images",
        len(images),
        sum(1 for i in images if i.id in used),
        sum(sizes.values()),
        sum(sizes.values()) - sum(active_sizes.values()),
    )
    upper = {c.id: tree_size(c.upper) for c in all_containers}
    running = [c for c in all_containers if c.state == "running"]
    container_row = UsageRow(
        "Containers",
        len(all_containers),
        len(running),
        sum(upper.values()),
        sum(upper.values()) - sum(upper[c.id] for c in running),
    )
    leftovers = list(find_leftovers(store.root))
    cache_size = sum(_blob_size(store, d) for d in cache_only)
    cache_size += sum(tree_size(p) for p in leftovers)
    builds = sum(1 for a in activity.running(store.root) if a.get("kind") == "build")
    cache_row = UsageRow(
        "Build Cache", len(cache.records()) + len(leftovers), builds, cache_size, cache_size
    )
    volumes = UsageRow("Local Volumes", 0, 0, 0, 0)
    return DiskUsage((image_row, container_row, volumes, cache_row), _relative(store, leftovers))


def prune(
    store: Store, layers: LayerCache, containers: ContainerStore, options: PruneOptions
) -> PruneReport:
    """Remove what ``options`` asks for, what nothing reaches any more, and the leftovers of
    killed commands (see the module docstring for what is never removed)."""
    reclaimed = 0
    removed_containers: list[str] = []
    if options.containers:
        for container in containers.all():
            if container.state == "running":
                continue
            size = tree_size(container.upper)  # (as Docker counts it: the changed files)
            try:
                containers.remove(container, force=False)
            except Conflict:  # started meanwhile
                continue
            removed_containers.append(container.id)
            reclaimed += size

    untagged: list[str] = []
    deleted: list[str] = []
    if options.images:
        with store.transaction() as txn:
            catalog = Catalog(store, txn.index)
            used = {c.config.image for c in containers.all()}
            for image in catalog.images.values():
                if image.id in used or (options.images == DANGLING and image.references):
                    continue
                untagged += [r.familiar for r in image.references]
                txn.forget(image.manifest_digest)
                deleted.append(image.id)

    swept = collect(store, layers, containers, deleted, options.build_cache)
    return PruneReport(
        tuple(removed_containers),
        tuple(untagged),
        tuple(deleted) + swept.images,
        swept.build_cache,
        reclaimed + swept.reclaimed,
        swept.deferred,
    )


def collect(
    store: Store,
    layers: LayerCache,
    containers: ContainerStore,
    deleted: Iterable[str] = (),
    build_cache: str = NONE,
) -> PruneReport:
    """The collection every removal ends with (``rmi``, the prune verbs): the build-cache
    records of the ``deleted`` images (and of the intermediate images only they stood on), with
    ``build_cache`` the dangling or all records, the leftovers of killed commands, and — when no
    work is in flight — the blobs and unpacked layers nothing reaches any more. Returns the
    intermediate images deleted (``images``), the records and leftovers removed (``build_cache``)
    and the bytes freed."""
    deleted = set(deleted)
    leftovers = list(find_leftovers(store.root))  # (measured before the lock sweeps ingest/)
    reclaimed = sum(tree_size(p) for p in leftovers)
    dropped_cache: list[str] = []
    deferred = False
    with store.locked(exclusive=True):
        cache = BuildCache(store)
        catalog = Catalog(store, store.read_index())
        used = {c.config.image for c in containers.all()}  # (intermediate images too)
        in_use = set(catalog.images) | used
        # As Docker: the intermediate images a deleted image was built on go with it, unless
        # something else still stands on them.
        gone_with = sorted(cache.forget(deleted, keep=in_use) - deleted)
        if build_cache:
            keep = used if build_cache == ALL else cache.lineage_of(in_use)
            dropped_cache += sorted({r.image for r in cache.retain(keep)} - set(gone_with))
        for path in leftovers:
            if path.is_dir():
                userns.remove_tree(path)
            else:
                path.unlink(missing_ok=True)
        activity.running(store.root)  # (removes the records of dead processes)
        freed = store.collect_garbage(store.read_index(), cache.roots())
        with store.quiet() as quiet:
            if freed is None or not quiet:
                deferred = True
            else:
                reclaimed += freed
                kept = [
                    store.read_config(i)
                    for i in in_use | {r.image for r in cache.records()}
                    if store.has_blob(i)
                ]
                keep_chains = {c for cfg in kept for c in chain_ids(diff_ids(cfg))}
                for path in layers.unpacked():
                    if "sha256:" + path.name not in keep_chains:
                        reclaimed += tree_size(path)
                layers.prune(keep_chains)
    return PruneReport(
        images=tuple(gone_with),
        build_cache=tuple(dropped_cache) + _relative(store, leftovers),
        reclaimed=reclaimed,
        deferred=deferred,
    )
