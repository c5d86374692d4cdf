"""The image store: an OCI image layout in the user's cache, and the engine's notes beside it.

Layout of ``<root>`` (``$NBDOCKER_HOME``, else the platform user cache dir)::

    oci-layout                 {"imageLayoutVersion": "1.0.0"}
    index.json                 one manifest descriptor per reference (annotation
                               org.opencontainers.image.ref.name =
                               "docker.io/library/ubuntu:14.04"),
                               plus descriptors without a name for untagged (dangling) images
    blobs/sha256/<hex>         manifests, configs, compressed layers — content addressed
    meta/layers/<hex>.json     per layer diffID: its blob, media type and sizes (rebuildable)
    ingest/                    blobs being written, not yet part of the store
    builds/<pid>-<random>/     scratch folders of running builds (named by their process, so
                               what a killed one left is known: nbdocker.engine.leftovers)
    activity/<pid>-<n>.json    builds and transfers running now, in any process (see
                               nbdocker.engine.activity; removed when they end)
    .lock                      flock(2) target serialising writers
    .lock-inflight             flock(2) target: shared while work that stages blobs runs,
                               so garbage collection leaves what it may be about to reference

The root is ``0700`` (made so on first use, also for a store made earlier with another mode):
the unpacked layers and containers beside the layout hold the images' files as they are,
device nodes and setuid-root programs included, and no other local user may reach them.

So ``skopeo inspect oci:<root>:docker.io/library/ubuntu:14.04`` reads the store directly.

Images are written and named only through a :class:`Transaction`: :meth:`Transaction.write_image`
stages an image's config and manifest (the config's digest is the image ID), and
:meth:`~Transaction.name`, :meth:`~Transaction.unname` and :meth:`~Transaction.forget` edit the
index the transaction commits. Every verb that makes or names images (import, commit, build,
load, pull, push, tag, rmi) goes through them, so the index's rules live here alone.

Failure guarantees: blobs are written to ``ingest/`` and verified against their digest before they
are renamed into ``blobs/``; ``index.json`` is replaced atomically and last, so it is the commit
point of every change. A :class:`Transaction` that fails leaves the store exactly as it was (its
ingest files are removed). Writers hold an exclusive lock from the start of the commit to its
end; readers take a shared lock, so two processes on one store never see or make a torn state.

Work that stages blobs decides outside the lock that a layer is already stored and then only
references it (a load, pull or build may run for minutes; holding the store lock that long would
stop every other command). So that such a layer cannot vanish before the work commits, the work
holds ``.lock-inflight`` shared for its whole length (:meth:`Store.in_flight`, taken by every
:meth:`Store.staging`), and :meth:`Store.collect_garbage` deletes nothing while anyone holds it:
it is deferred to the next collection that finds the store quiet. Garbage may therefore outlive
an ``rmi`` that ran during a build; a referenced blob never goes.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import field
from pathlib import Path
from typing import IO, TYPE_CHECKING, TypedDict, TypeVar, cast

from .atomic import atomic_write, default_file_mode
from .digest import HashingWriter, check_digest, sha256_digest
from .errors import DigestMismatch, ImageNotFound, StorageError
from .lazy import lazy_dataclass
from .leftovers import owner_gone
from .oci import (
    INDEX_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    REF_NAME,
    Descriptor,
    ImageConfig,
    Index,
    Manifest,
    config_bytes,
    manifest_bytes,
)
from .reference import Reference

__all__ = [
    "ImageEntry",
    "Ingest",
    "LayerRecord",
    "Store",
    "Transaction",
    "default_home",
    "descriptor_in",
    "storage_errors",
]


if TYPE_CHECKING:

    class LayerNote(TypedDict):
        """``meta/layers/<diffID hex>.json``: a :class:`LayerRecord` as the store keeps it."""

        diffID: str
        blob: str
        mediaType: str
        blobSize: int
        tarSize: int
        contentSize: int

else:  # at run time these are the dicts json makes: the names cost nothing to import
    LayerNote = dict


OCI_LAYOUT = {"imageLayoutVersion": "1.0.0"}
PRIVATE_MODE = 0o700  # the store's root (see Store._make_private)
_CHUNK = 1 << 20
_T = TypeVar("_T")


def default_home() -> Path:
    """``$NBDOCKER_HOME`` if set, else the user cache dir (``~/.cache/nbdocker`` on Linux)."""
    env = os.environ.get("NBDOCKER_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs  # only when the store is not given

    return Path(platformdirs.user_cache_dir("nbdocker", appauthor=False))


@contextlib.contextmanager
def storage_errors(root: Path) -> Iterator[None]:
    """Turn the OS errors a full or read-only disk raises into one-line StorageErrors."""
    try:
        yield
    except OSError as exc:
        if isinstance(exc, StorageError):
            raise
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageError(
                f"no space left on the device holding the store {root}: free some space "
                "(nbdocker rmi …) or point NBDOCKER_HOME at a larger disk; nothing was changed"
            ) from None
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise StorageError(
                f"cannot write the store {root} ({exc.strerror}): fix its permissions or point "
                "NBDOCKER_HOME at a writable directory; nothing was changed"
            ) from None
        raise


def _json_bytes(obj: object) -> bytes:
    return json.dumps(obj, indent=2, sort_keys=False).encode() + b"\n"


@lazy_dataclass(frozen=True)
class LayerRecord:
    """What the engine knows of one layer, keyed by its diffID (digest of the plain tar)."""

    diff_id: str
    blob: str  # digest of the stored (compressed) blob
    media_type: str
    blob_size: int
    tar_size: int  # length of the uncompressed tar stream
    content_size: int  # sum of the sizes of the files in it, as Docker counts image size

    def blob_descriptor(self) -> Descriptor:
        """The OCI descriptor of the stored blob, as a manifest lists it."""
        return {"mediaType": self.media_type, "digest": self.blob, "size": self.blob_size}

    def to_json(self) -> LayerNote:
        return {
            "diffID": self.diff_id,
            "blob": self.blob,
            "mediaType": self.media_type,
            "blobSize": self.blob_size,
            "tarSize": self.tar_size,
            "contentSize": self.content_size,
        }

    @classmethod
    def from_json(cls, obj: LayerNote) -> LayerRecord:
        return cls(
            obj["diffID"],
            obj["blob"],
            obj["mediaType"],
            obj["blobSize"],
            obj["tarSize"],
            obj["contentSize"],
        )


class Ingest:
    """A blob being written: bytes go to a temp file under ``ingest/`` and are hashed on the way.

    Call :meth:`finish` to close it and learn its digest; the file becomes part of the store only
    when a :class:`Transaction` commits it.
    """

    def __init__(self, directory: Path) -> None:
        import tempfile  # here, as in atomic_output: only processes that write blobs need it

        fd, name = tempfile.mkstemp(dir=directory, prefix=f"{os.getpid()}-")
        os.fchmod(fd, default_file_mode())
        self.path = Path(name)
        self._file: IO[bytes] = os.fdopen(fd, "wb")
        self.writer = HashingWriter(self._file)
        self.digest = ""
        self.size = 0

    def write(self, data: bytes) -> int:
        return self.writer.write(data)

    def flush(self) -> None:
        """(:meth:`finish` makes the blob durable; a writer's flush has nothing to add.)"""

    def finish(self, expected: str | None = None, what: str = "blob") -> str:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self.digest, self.size = self.writer.digest, self.writer.size
        if expected is not None and expected != self.digest:
            raise DigestMismatch(
                f"{what} was announced as {expected} but its content hashes to {self.digest}; "
                "the source is corrupt or was changed in transit — fetch it again"
            )
        return self.digest

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


@lazy_dataclass(frozen=True)
class ImageEntry:
    """An image as the index lists it: its ID (the config's digest) and its manifest's
    descriptor (without a name)."""

    id: str
    manifest: Descriptor


def _name_of(desc: Descriptor) -> str | None:
    return desc.get("annotations", {}).get(REF_NAME)


def _unnamed(desc: Descriptor) -> Descriptor:
    plain = desc.copy()
    plain.pop("annotations", None)
    return plain


def descriptor_in(index: Sequence[Descriptor], manifest_digest: str) -> Descriptor:
    """The descriptor (without its name) under which ``index`` lists a manifest."""
    for desc in index:
        if desc["digest"] == manifest_digest:
            return _unnamed(desc)
    raise ImageNotFound(f"manifest {manifest_digest} is not in the store")


@lazy_dataclass()
class Transaction:
    """A set of changes to the store, applied all at once by :meth:`Store.transaction` or
    :meth:`Store.commit_staged`: blobs, layer notes, and ``index`` (the manifest descriptors
    of ``index.json``, edited through :meth:`name`, :meth:`unname` and :meth:`forget`)."""

    store: Store
    index: list[Descriptor]
    ingests: list[Ingest] = field(default_factory=list)
    layers: dict[str, LayerRecord] = field(default_factory=dict)
    small_blobs: dict[str, bytes] = field(default_factory=dict)

    def ingest(self) -> Ingest:
        ing = Ingest(self.store.ingest_dir)
        self.ingests.append(ing)
        return ing

    def put_bytes(self, data: bytes, expected: str | None = None, what: str = "blob") -> str:
        digest = sha256_digest(data)
        if expected is not None and digest != expected:
            raise DigestMismatch(
                f"{what} was announced as {expected} but its content hashes to {digest}; "
                "the source is corrupt — fetch or save it again"
            )
        if not self.store.has_blob(digest):
            self.small_blobs[digest] = data
        return digest

    def has_blob(self, digest: str) -> bool:
        return (
            digest in self.small_blobs
            or any(i.digest == digest for i in self.ingests)
            or self.store.has_blob(digest)
        )

    def record_layer(self, record: LayerRecord) -> None:
        self.layers[record.diff_id] = record

    def layer(self, diff_id: str) -> LayerRecord | None:
        return self.layers.get(diff_id) or self.store.layer(diff_id)

    # -- images -----------------------------------------------------------------------------------

    def write_image(self, config: ImageConfig | bytes, layers: Sequence[Descriptor]) -> ImageEntry:
        """Stage an image's config (a document, or the exact bytes of a loaded one) and its OCI
        manifest over ``layers``; the image is listed only once :meth:`name` names it."""
        data = config if isinstance(config, bytes) else config_bytes(config)
        config_digest = self.put_bytes(data)
        mbytes = manifest_bytes(config_digest, len(data), layers)
        manifest: Descriptor = {
            "mediaType": MANIFEST_MEDIA_TYPE,
            "digest": self.put_bytes(mbytes),
            "size": len(mbytes),
        }
        return ImageEntry(config_digest, manifest)

    def entry(self, image_id: str, manifest_digest: str) -> ImageEntry:
        """The listed image ``image_id`` whose manifest is ``manifest_digest``."""
        return ImageEntry(image_id, descriptor_in(self.index, manifest_digest))

    def name(self, image: ImageEntry, ref: Reference | None) -> None:
        """Point ``ref`` at ``image``, moving it from any other image (which stays, unnamed, if
        no name is left on it); with ``ref=None`` make sure the image is listed at least
        unnamed."""
        desc = image.manifest
        index = self.index
        if ref is None:
            if not any(d["digest"] == desc["digest"] for d in index):
                index.append(_unnamed(desc))
            return
        for i, old in enumerate(index):
            if _name_of(old) == str(ref):
                del index[i]
                if not any(d["digest"] == old["digest"] for d in index):
                    index.append(_unnamed(old))
                break
        index[:] = [d for d in index if not (d["digest"] == desc["digest"] and not _name_of(d))]
        named = _unnamed(desc)
        named["annotations"] = {REF_NAME: str(ref)}
        index.append(named)

    def unname(self, ref: Reference) -> None:
        """Remove the name ``ref`` (its image leaves the index with its last name)."""
        for i, desc in enumerate(self.index):
            if _name_of(desc) == str(ref):
                del self.index[i]
                return

    def forget(self, manifest_digest: str) -> None:
        """Remove every name and listing of the manifest (the image leaves the index)."""
        self.index[:] = [d for d in self.index if d["digest"] != manifest_digest]


class Store:
    """Low-level access to one store directory; see the module docstring for its layout."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else default_home()
        self.blobs_dir = self.root / "blobs" / "sha256"
        self.meta_dir = self.root / "meta" / "layers"
        self.ingest_dir = self.root / "ingest"
        self._lock_path = self.root / ".lock"
        self._in_flight_path = self.root / ".lock-inflight"
        self._initialised = False

    # -- set-up and locking ---------------------------------------------------------------------

    def _init(self) -> None:
        if self._initialised:
            return
        with storage_errors(self.root):
            self._make_private()
            for d in (self.blobs_dir, self.meta_dir, self.ingest_dir):
                d.mkdir(parents=True, exist_ok=True)
            if not (self.root / "oci-layout").exists():
                atomic_write(self.root / "oci-layout", json.dumps(OCI_LAYOUT).encode())
            if not (self.root / "index.json").exists():
                atomic_write(self.root / "index.json", _json_bytes(self._empty_index([])))
        self._initialised = True

    def _make_private(self) -> None:
        """Make the root ``0700``: below it lie unpacked layers and containers with the
        images' device nodes and setuid-root programs, which no other local user may reach
        (a store outside a private home, ``NBDOCKER_HOME=/tmp/x``, would show them). A store
        made earlier with another mode is made private now; a root that another user owns
        is left to its owner (only its owner or root may change it). A shared, sticky
        directory (``/tmp`` itself) is refused: the store needs a directory of its own."""
        self.root.mkdir(mode=PRIVATE_MODE, parents=True, exist_ok=True)
        st = os.stat(self.root)
        if st.st_mode & stat.S_ISVTX:
            raise StorageError(
                f"the store {self.root} is a shared directory (sticky, like /tmp): point "
                f"NBDOCKER_HOME at a directory of its own, such as {self.root / 'nbdocker'}"
            )
        if stat.S_IMODE(st.st_mode) != PRIVATE_MODE and st.st_uid == os.geteuid():
            os.chmod(self.root, PRIVATE_MODE)

    @contextlib.contextmanager
    def locked(self, exclusive: bool) -> Iterator[None]:
        """Hold the store lock (shared for readers, exclusive for writers)."""
        self._init()
        with storage_errors(self.root), open(self._lock_path, "a+b") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                if exclusive:
                    self._sweep_ingest()
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    @contextlib.contextmanager
    def in_flight(self) -> Iterator[None]:
        """Mark work that may reference blobs it found in the store without the lock (see the
        module docstring): while the block runs, garbage collection deletes nothing. Nests."""
        self._init()
        with storage_errors(self.root), open(self._in_flight_path, "a+b") as f:
            # Blocks only while a collection is running (it holds this exclusively, briefly).
            fcntl.flock(f.fileno(), fcntl.LOCK_SH)
            yield

    @contextlib.contextmanager
    def quiet(self) -> Iterator[bool]:
        """Whether no work is in flight; if so, none starts until the block ends."""
        self._init()
        with open(self._in_flight_path, "a+b") as f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True

    def _sweep_ingest(self) -> None:
        """Remove ingest files left by processes that died (their pid prefix is gone)."""
        for entry in self.ingest_dir.iterdir():
            if owner_gone(entry.name):
                with contextlib.suppress(OSError):
                    entry.unlink()

    # -- blobs ----------------------------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        return self.blobs_dir / check_digest(digest).split(":", 1)[1]

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def open_blob(self, digest: str) -> IO[bytes]:
        try:
            return open(self.blob_path(digest), "rb")
        except FileNotFoundError:
            raise StorageError(
                f"the store {self.root} is missing blob {digest}: it was damaged outside "
                "nbdocker; remove the affected image (nbdocker rmi -f) and import or pull it again"
            ) from None

    def read_blob(self, digest: str) -> bytes:
        with self.open_blob(digest) as f:
            return f.read()

    def read_json(self, digest: str) -> object:
        """A JSON blob, parsed; :meth:`read_manifest` and :meth:`read_config` for the documents
        the store checked when they entered it."""
        return json.loads(self.read_blob(digest))

    def read_manifest(self, digest: str) -> Manifest:
        """An image manifest the store holds (checked when it entered the store)."""
        return cast(Manifest, self.read_json(digest))

    def read_config(self, digest: str) -> ImageConfig:
        """An image config the store holds (by image ID)."""
        return cast(ImageConfig, self.read_json(digest))

    def blob_digests(self) -> Iterator[str]:
        self._init()
        for entry in self.blobs_dir.iterdir():
            if not entry.name.startswith("."):  # (a temp file of a blob being written)
                yield "sha256:" + entry.name

    # -- layers' notes --------------------------------------------------------------------------

    def layer(self, diff_id: str) -> LayerRecord | None:
        path = self.meta_dir / (check_digest(diff_id).split(":", 1)[1] + ".json")
        try:
            record = LayerRecord.from_json(json.loads(path.read_bytes()))
        except (FileNotFoundError, ValueError, KeyError):
            return None
        return record if self.has_blob(record.blob) else None

    # -- index ----------------------------------------------------------------------------------

    @staticmethod
    def _empty_index(manifests: list[Descriptor]) -> Index:
        return {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": manifests}

    def read_index(self) -> list[Descriptor]:
        """The manifest descriptors of ``index.json`` (call with the lock held)."""
        self._init()
        try:
            data: Index = json.loads((self.root / "index.json").read_bytes())
            manifests = list(data.get("manifests") or [])
        except (OSError, ValueError) as exc:
            raise StorageError(
                f"cannot read {self.root / 'index.json'} ({exc}): the store is damaged; "
                "move it away and import the images again"
            ) from None
        return manifests

    def _index_bytes(self) -> bytes:
        try:
            return (self.root / "index.json").read_bytes()
        except FileNotFoundError:
            return b""

    # -- transactions ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Stage blobs, layer notes and a new index; commit them together, or none of them.

        Large blobs may be ingested before the lock is taken (see :meth:`staging`); the
        transaction itself holds the exclusive lock for its whole body.
        """
        with self.locked(exclusive=True), self.staging() as txn:
            txn.index = self.read_index()
            yield txn
            self._commit(txn)

    @contextlib.contextmanager
    def staging(self) -> Iterator[Transaction]:
        """A transaction without the lock, for long writes; its ingests vanish on error."""
        self._init()
        txn = Transaction(self, [])
        try:
            with self.in_flight(), storage_errors(self.root):
                yield txn
        except BaseException:
            for ing in txn.ingests:
                ing.discard()
            raise

    def commit_staged(self, staged: Transaction, update: Callable[[Transaction], _T]) -> _T:
        """Take the lock, let ``update(txn)`` edit the current index (``txn.name``…), then
        commit the staged blobs and the edits together; return what ``update`` returned."""
        with self.locked(exclusive=True), storage_errors(self.root):
            staged.index = self.read_index()
            result = update(staged)
            self._commit(staged)
            return result

    def _commit(self, txn: Transaction) -> None:
        with storage_errors(self.root):
            for digest, data in txn.small_blobs.items():
                path = self.blob_path(digest)
                if not path.exists():
                    atomic_write(path, data)
            for ing in txn.ingests:
                if not ing.digest:
                    raise StorageError(f"internal error: ingest {ing.path} was never finished")
                target = self.blob_path(ing.digest)
                if target.exists():
                    ing.discard()
                else:
                    os.replace(ing.path, target)
            for record in txn.layers.values():
                name = record.diff_id.split(":", 1)[1] + ".json"
                atomic_write(self.meta_dir / name, _json_bytes(record.to_json()))
            index = _json_bytes(self._empty_index(txn.index))
            # A commit that names nothing new (a cached rebuild under the same tag) leaves the
            # index as it is rather than rewriting and syncing the same bytes.
            if index != self._index_bytes():
                atomic_write(self.root / "index.json", index)
            txn.ingests.clear()

    def collect_garbage(
        self, index: Sequence[Descriptor], roots: frozenset[str] | set[str] = frozenset()
    ) -> int | None:
        """Delete blobs and layer notes that neither a descriptor in ``index`` nor a manifest in
        ``roots`` (the build cache's) reaches; return bytes freed.

        Call with the exclusive lock held, after the index without the removed images is written.
        While work is in flight (:meth:`in_flight`) nothing is deleted and None is returned: that
        work may be about to reference any unreachable blob.
        """
        with self.quiet() as quiet:
            if not quiet:
                return None
            return self._collect_garbage(self.reachable([d["digest"] for d in index], roots))

    def reachable(self, manifests: Iterable[str], more: Iterable[str] = ()) -> set[str]:
        """Every blob the manifests (or indexes) ``manifests`` and ``more`` reach, themselves
        included; unreadable documents reach only themselves."""
        reachable: set[str] = set()
        pending = [*manifests, *sorted(more)]
        while pending:
            digest = pending.pop()
            if digest in reachable:
                continue
            reachable.add(digest)
            try:
                doc = self.read_json(digest)
            except (StorageError, ValueError):
                continue
            if not isinstance(doc, dict):
                continue
            config = doc.get("config")
            if isinstance(config, dict) and isinstance(config.get("digest"), str):
                reachable.add(config["digest"])
            for child in doc.get("layers") or []:
                if isinstance(child, dict) and isinstance(child.get("digest"), str):
                    reachable.add(child["digest"])
            for child in doc.get("manifests") or []:
                if isinstance(child, dict) and isinstance(child.get("digest"), str):
                    pending.append(child["digest"])
        return reachable

    def _collect_garbage(self, reachable: set[str]) -> int:
        freed = 0
        for digest in list(self.blob_digests()):
            if digest not in reachable:
                path = self.blob_path(digest)
                with contextlib.suppress(FileNotFoundError):
                    freed += path.stat().st_size
                    path.unlink()
        for note in self.meta_dir.iterdir():
            if note.name.startswith("."):
                continue
            try:
                blob = json.loads(note.read_bytes())["blob"]
            except (ValueError, KeyError, OSError, TypeError):
                blob = ""
            if blob not in reachable:
                with contextlib.suppress(FileNotFoundError):
                    note.unlink()
        return freed
