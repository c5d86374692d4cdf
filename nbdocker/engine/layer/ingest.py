"""Layer tars into the store: validated, hashed and compressed while they stream.

A layer is a tar stream of changes with OCI whiteouts (:mod:`.overlay`). Its *diffID* is the
digest of the plain tar; the store keeps it compressed (:mod:`.compression`) under the digest of
the compressed bytes. Both digests are computed while the bytes stream through, never by
re-reading. :func:`ingest_layer` takes a plain tar (verbatim, or normalised from a root file
system tarball); :func:`ingest_compressed_layer` keeps a blob as it came (a pull, an archive)
and can unpack it into the layer cache in the same pass.
"""

from __future__ import annotations

import lzma
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, cast

import zstandard

from ..chunks import ReadAhead
from ..digest import HashingWriter
from ..errors import ArchiveError
from ..lazy import lazy_dataclass
from ..oci import LAYER_MEDIA_TYPES, Descriptor
from ..store import Ingest, LayerRecord, Transaction
from .compression import compressed_writer, compression_of_media_type, decompressed
from .tarstream import BadMember, TarReader, TarWriter
from .unpacking import UnsafeLayer, clean_name, unpack

if TYPE_CHECKING:
    from ..chunks import Sink

__all__ = [
    "IngestOptions",
    "ingest_compressed_layer",
    "ingest_layer",
    "safe_member_name",
]

_CHUNK = 1 << 20


def safe_member_name(name: str, where: str) -> str:
    """Normalise a tar member name to a relative path (``./bin/sh`` → ``bin/sh``, ``./`` → ``""``);
    refuse names that climb out of the root (``../etc``) or go absurdly deep."""
    try:
        return clean_name(name, "the root filesystem")
    except UnsafeLayer as exc:
        raise ArchiveError(f"{where}: {exc}") from None


class _Tee:
    """Reads from ``source`` and writes every byte read to ``sink`` (to copy while parsing)."""

    def __init__(self, source: IO[bytes], sink: Sink) -> None:
        self._source = source
        self._sink = sink

    def read(self, n: int = -1) -> bytes:
        data = self._source.read(n)
        if data:
            self._sink.write(data)
        return data


@lazy_dataclass(frozen=True)
class _TarStats:
    content_size: int


def _copy_verbatim(source: IO[bytes], sink: Sink, where: str) -> _TarStats:
    """Copy a tar stream byte for byte while parsing it, to validate it and measure its files."""
    tee = _Tee(source, sink)
    size = 0
    try:
        for member, _ in TarReader(tee):
            safe_member_name(member.name, where)
            if member.isreg():
                size += member.size
        while tee.read(_CHUNK):
            pass
    except (tarfile.TarError, EOFError, OSError, zstandard.ZstdError, lzma.LZMAError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise  # a real I/O error (disk full) — storage_errors() words it
        raise _archive_error(where, exc) from None
    return _TarStats(size)


def _unpack_verbatim(source: IO[bytes], sink: Sink, dest: Path, where: str) -> _TarStats:
    """Unpack a layer tar into ``dest`` while copying its bytes to ``sink`` (for its digest)."""
    tee = _Tee(source, sink)
    try:
        size = unpack(tee, dest)
        while tee.read(_CHUNK):
            pass
    except UnsafeLayer as exc:
        raise ArchiveError(f"{where}: {exc}") from None
    except (tarfile.TarError, EOFError, OSError, zstandard.ZstdError, lzma.LZMAError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None and not isinstance(exc, EOFError):
            raise  # a real I/O error (disk full) — storage_errors() words it
        raise _archive_error(where, exc) from None
    return _TarStats(size)


def _normalise(
    source: IO[bytes],
    sink: Sink,
    where: str,
    on_member: Callable[[tarfile.TarInfo], None] | None = None,
) -> _TarStats:
    """Rewrite a root-filesystem tarball as a layer: relative names, no ``.`` entry, PAX.
    ``on_member`` sees every member as read (import takes the newest mtime from it)."""
    size = 0
    out = TarWriter(sink)
    try:
        for member, data in TarReader(source):
            if on_member is not None:
                on_member(member)
            name = safe_member_name(member.name, where)
            if not name:
                continue
            member.name = name
            if member.islnk():
                member.linkname = safe_member_name(member.linkname, where)
            if member.isreg():
                size += member.size
                out.add(member, data)
            else:
                member.size = 0
                out.add(member)
        out.close()
    except ArchiveError:
        raise
    except (tarfile.TarError, EOFError, OSError, zstandard.ZstdError, lzma.LZMAError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise  # a real I/O error (disk full) — storage_errors() words it
        raise _archive_error(where, exc) from None
    return _TarStats(size)


def _archive_error(where: str, exc: BaseException) -> ArchiveError:
    if isinstance(exc, BadMember):
        return ArchiveError(f"{where}: {exc}; rebuild the tarball without that entry")
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, EOFError) or "unexpected end" in detail:
        detail = "it ends early (truncated)"
    return ArchiveError(
        f"{where}: not a valid tar archive ({detail}); check the file is complete and is a tar, "
        "optionally compressed with gzip, bzip2, xz or zstd"
    )


@lazy_dataclass(frozen=True)
class IngestOptions:
    compression: str = "gzip"
    normalise: bool = False  # rewrite a rootfs tarball as a layer (import), else copy verbatim
    expected_diff_id: str | None = None


def ingest_layer(
    txn: Transaction,
    plain_tar: IO[bytes],
    where: str,
    options: IngestOptions,
    on_bytes: Callable[[int], None] | None = None,
    content_size: Callable[[], int] | None = None,
    on_member: Callable[[tarfile.TarInfo], None] | None = None,
) -> LayerRecord:
    """Store a plain (uncompressed) tar stream as a layer blob and return its record.

    The tar is validated while it streams; with ``expected_diff_id`` its digest must match (a
    docker archive's layer must hash to the diffID its config names). If a layer with the same
    diffID is already stored, nothing new is written. A tar nbdocker wrote itself (a container's
    changes) is trusted instead of parsed: ``content_size`` then tells, once the stream has
    ended, the size of the files in it. ``on_member`` (with ``normalise``) sees each member of
    the tarball as it streams.
    """
    ing: Ingest = txn.ingest()
    diff = HashingWriter(_NullSink())
    with compressed_writer(options.compression, ing) as comp:

        class _Both:
            def write(self, data: bytes) -> int:
                diff.write(data)
                comp.write(data)
                if on_bytes is not None:
                    on_bytes(len(data))
                return len(data)

            def flush(self) -> None:
                pass

        if content_size is not None:
            sink = _Both()
            while chunk := plain_tar.read(_CHUNK):
                sink.write(chunk)
            stats = _TarStats(content_size())
        elif options.normalise:
            stats = _normalise(plain_tar, _Both(), where, on_member)
        else:
            stats = _copy_verbatim(plain_tar, _Both(), where)
    if options.expected_diff_id is not None and diff.digest != options.expected_diff_id:
        raise ArchiveError(
            f"{where}: layer content hashes to {diff.digest} but the image config says "
            f"{options.expected_diff_id}; the archive is corrupt — save it again"
        )
    ing.finish()
    existing = txn.layer(diff.digest)
    if existing is not None:
        txn.ingests.remove(ing)
        ing.discard()
        return existing
    record = LayerRecord(
        diff_id=diff.digest,
        blob=ing.digest,
        media_type=LAYER_MEDIA_TYPES[options.compression],
        blob_size=ing.size,
        tar_size=diff.size,
        content_size=stats.content_size,
    )
    txn.record_layer(record)
    return record


def ingest_compressed_layer(
    txn: Transaction,
    blob: IO[bytes],
    descriptor: Descriptor,
    expected_diff_id: str,
    where: str,
    unpack_into: Path | None = None,
) -> LayerRecord:
    """Store an already compressed layer blob as it is, checking both of its digests: a blob
    that does not hash to ``descriptor``'s digest raises DigestMismatch (also when it is too
    damaged to decompress), content that does not hash to ``expected_diff_id`` ArchiveError.

    With ``unpack_into`` (an empty directory) the layer is also unpacked there in overlay form
    in the same pass, so that it runs without a second decompression; on error the caller
    removes that directory."""
    existing = txn.layer(expected_diff_id)
    if existing is not None:
        return existing
    ing = txn.ingest()
    kind = compression_of_media_type(descriptor["mediaType"])
    diff = HashingWriter(_NullSink())
    what = f"{where}: layer blob"
    with ReadAhead(blob, ing) as stored:  # the blob is stored on one thread, used on this one
        stream = cast(IO[bytes], stored)
        try:
            if unpack_into is None:
                stats = _copy_verbatim(decompressed(stream), diff, where)
            else:
                stats = _unpack_verbatim(decompressed(stream), diff, unpack_into, where)
        except ArchiveError:
            # A corrupt download usually fails to decompress before its digest is known: store
            # the rest, so that bytes which do not match their digest are reported as that.
            stored.drain()
            ing.finish(descriptor["digest"], what=what)
            raise
        stored.drain()
    ing.finish(descriptor["digest"], what=what)
    if ing.size != descriptor["size"]:  # the digest matched: the descriptor lies about its size
        raise ArchiveError(
            f"{where}: the layer blob is {ing.size} bytes but its descriptor says "
            f"{descriptor['size']}; the manifest is corrupt — save or push it again"
        )
    if diff.digest != expected_diff_id:
        raise ArchiveError(
            f"{where}: layer content hashes to {diff.digest} but the image config says "
            f"{expected_diff_id}; the archive is corrupt — save it again"
        )
    media_type = LAYER_MEDIA_TYPES.get(kind, descriptor["mediaType"])
    record = LayerRecord(
        expected_diff_id, ing.digest, media_type, ing.size, diff.size, stats.content_size
    )
    txn.record_layer(record)
    return record


class _NullSink:
    def write(self, data: bytes) -> int:
        return len(data)

    def flush(self) -> None:
        pass
