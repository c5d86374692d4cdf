"""Layer compression: detect it, undo it while reading, apply it while writing.

gzip uses ISA-L (several times faster than zlib for layers), zstd the ``zstandard`` package;
bzip2 and xz are read (rootfs tarballs, ADD archives) but never written. Writers are
deterministic — no names, no timestamps — so the same tar always compresses to the same blob and
identical layers are stored once.
"""

from __future__ import annotations

import bz2
import contextlib
import io
import lzma
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, cast

import zstandard
from isal import igzip

from ..errors import ArchiveError, UsageError
from ..oci import DOCKER_LAYER_MEDIA_TYPES, LAYER_MEDIA_TYPES

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

    from ..chunks import Sink

__all__ = [
    "Peekable",
    "compressed_writer",
    "compression_of_media_type",
    "decompressed",
    "detect_compression",
]

_CHUNK = 1 << 20
_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)


def compression_of_media_type(media_type: str) -> str:
    """``none``, ``gzip`` or ``zstd`` for a layer media type (OCI's or Docker's)."""
    for table in (LAYER_MEDIA_TYPES, DOCKER_LAYER_MEDIA_TYPES):
        for kind, known in table.items():
            if known == media_type:
                return kind
    raise ArchiveError(f"unsupported layer media type {media_type!r}")


class Peekable(io.RawIOBase):
    """A read-only stream that remembers its first bytes so their format can be detected."""

    def __init__(self, source: IO[bytes], head: bytes) -> None:
        self._source = source
        self._head = head

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._source.read(len(view))
        view[: len(data)] = data
        return len(data)


def detect_compression(head: bytes) -> str:
    """``gzip``, ``bzip2``, ``xz``, ``zstd`` or ``none``, from a stream's first bytes."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return "none"


def _read_head(source: IO[bytes], n: int = 8) -> bytes:
    head = b""
    while len(head) < n:
        chunk = source.read(n - len(head))
        if not chunk:
            break
        head += chunk
    return head


def decompressed(source: IO[bytes]) -> IO[bytes]:
    """A stream of ``source``'s bytes with any gzip, bzip2, xz or zstd compression undone."""
    head = _read_head(source)
    kind = detect_compression(head)
    raw: IO[bytes] = io.BufferedReader(Peekable(source, head), buffer_size=_CHUNK)
    if kind == "gzip":
        return cast(IO[bytes], igzip.GzipFile(fileobj=raw, mode="rb"))  # type: ignore[no-untyped-call]
    if kind == "bzip2":
        return bz2.BZ2File(raw, "rb")
    if kind == "xz":
        return lzma.LZMAFile(raw, "rb")
    if kind == "zstd":
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        return cast(IO[bytes], reader)
    return raw


@contextlib.contextmanager
def compressed_writer(kind: str, sink: Sink) -> Iterator[Sink]:
    """A writable stream compressing into ``sink``; deterministic (no names, no timestamps),
    so the same tar always gives the same blob and identical layers are stored once."""
    if kind == "gzip":
        gz = igzip.GzipFile(filename="", fileobj=sink, mode="wb", mtime=0)  # type: ignore[no-untyped-call]
        try:
            yield gz
        finally:
            gz.close()
    elif kind == "zstd":
        cctx = zstandard.ZstdCompressor(level=3)
        zw = cctx.stream_writer(cast(IO[bytes], sink), closefd=False)  # (it only writes)
        try:
            yield zw
        finally:
            zw.close()  # type: ignore[no-untyped-call]
    elif kind == "none":
        yield sink
    else:
        raise UsageError(f"unknown layer compression {kind!r}: use gzip or zstd")
