"""Streams made of chunks: :class:`ChunkStream` serves reads of any size from a source of chunks
(a blob's HTTP body, a queue); :class:`ReadAhead` reads a stream on a thread of its own; and
:class:`Sink`, what every byte-stream writer here writes into (a file, a pipe, a hasher).

Why ReadAhead: storing a layer blob (receiving it, hashing it, writing it to the store) costs
about as much as using it (inflating, hashing and unpacking the tar), and both are mostly work
done without the GIL (sockets, sha256, file writes, ISA-L), so on two threads the two overlap
and a big layer arrives in about the time of the slower half instead of the sum.
"""

from __future__ import annotations

import io
import queue
import threading
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["ChunkStream", "ReadAhead", "Sink", "Source"]


class Sink(Protocol):
    """Where a writer sends bytes: a binary file, a pipe, a compressor, a hasher."""

    def write(self, data: bytes, /) -> int: ...

    def flush(self) -> object: ...


class Source(Protocol):
    """Where a reader takes bytes from: ``read(n)`` gives up to ``n`` (b"" at the end)."""

    def read(self, n: int = -1, /) -> bytes: ...


_CHUNK = 1 << 20
_DEPTH = 8  # chunks a ReadAhead reads ahead at most


class ChunkStream(io.RawIOBase):
    """A readable stream of the chunks :meth:`_next_chunk` returns (b"" at the end).

    ``read(n)`` returns ``n`` bytes, fewer only at the end: a caller never loops for a whole
    small object, and consumers downstream (hashing, inflating, writing) get large pieces.
    """

    def __init__(self) -> None:
        super().__init__()
        self._piece = memoryview(b"")  # of the last chunk, not yet read

    def _next_chunk(self) -> bytes:
        raise NotImplementedError

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        want = (1 << 62) if size is None or size < 0 else size
        pieces: list[memoryview] = []
        while want:
            if not self._piece:
                self._piece = memoryview(self._next_chunk())
                if not self._piece:
                    break
            piece = self._piece[:want]
            self._piece = self._piece[len(piece) :]
            pieces.append(piece)
            want -= len(piece)
        return b"".join(pieces)

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)


class ReadAhead(ChunkStream):
    """``source``'s bytes, read ahead on a thread that first writes each chunk to ``sink``.

    An error reading ``source`` or writing ``sink`` is raised by ``read()`` (and every read
    after it). :meth:`close` (leaving a ``with`` block) stops the thread and returns once it has
    stopped, so nothing is written to ``sink`` afterwards; after :meth:`drain` it has all of
    ``source``.
    """

    def __init__(self, source: Source, sink: Sink) -> None:
        super().__init__()
        self._chunks: queue.Queue[bytes | BaseException] = queue.Queue(_DEPTH)
        self._stop = threading.Event()
        self._ended = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(source, sink), name="nbd-read-ahead", daemon=True
        )
        self._thread.start()

    def _run(self, source: Source, sink: Sink) -> None:
        try:
            while not self._stop.is_set():
                chunk: bytes = source.read(_CHUNK)
                if chunk:
                    sink.write(chunk)
                self._put(chunk)
                if not chunk:
                    return
        except BaseException as exc:  # handed to the reader, who raises it
            self._put(exc)

    def _put(self, item: bytes | BaseException) -> None:
        while not self._stop.is_set():
            try:
                self._chunks.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _next_chunk(self) -> bytes:
        if self._error is not None:
            raise self._error
        if self._ended:
            return b""
        item = self._chunks.get()
        if isinstance(item, BaseException):
            self._error = item
            raise item
        self._ended = not item
        return item

    def drain(self) -> None:
        """Read what is left, so that ``sink`` has all of ``source``."""
        while self.read(_CHUNK):
            pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        super().close()
