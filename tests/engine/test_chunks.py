"""Chunk streams: reads of any size over chunks; a read-ahead thread that copies to a sink."""

from __future__ import annotations

import io
import threading

import pytest

from nbdocker.engine.chunks import ChunkStream, ReadAhead


class _Chunks(ChunkStream):
    def __init__(self, chunks: list[bytes]) -> None:
        super().__init__()
        self._left = list(chunks)

    def _next_chunk(self) -> bytes:
        return self._left.pop(0) if self._left else b""


def test_reads_are_whole_across_chunks_and_short_only_at_the_end() -> None:
    stream = _Chunks([b"ab", b"", b"cdef", b"g"])  # an empty chunk is the end
    assert stream.read(3) == b"ab"
    stream = _Chunks([b"ab", b"cdef", b"g"])
    assert [stream.read(3), stream.read(3), stream.read(3)] == [b"abc", b"def", b"g"]
    assert stream.read(3) == b""
    assert _Chunks([b"ab", b"cd"]).read() == b"abcd"


def test_read_ahead_copies_everything_to_the_sink() -> None:
    data = bytes(range(256)) * 20_000  # several chunks
    sink = io.BytesIO()
    with ReadAhead(io.BytesIO(data), sink) as stream:
        assert stream.read(10) == data[:10]
        stream.drain()
        assert sink.getvalue() == data


class _Broken(io.RawIOBase):
    def readinto(self, buffer: memoryview) -> int:
        raise OSError(5, "the disk went away")


def test_read_ahead_raises_the_sources_error_on_every_read() -> None:
    with ReadAhead(_Broken(), io.BytesIO()) as stream:
        for _ in range(2):
            with pytest.raises(OSError, match="went away"):
                stream.read(1)


def test_leaving_early_stops_the_thread() -> None:
    before = set(threading.enumerate())
    sink = io.BytesIO()
    with ReadAhead(io.BytesIO(bytes(64 << 20)), sink) as stream:
        stream.read(1)
    written = sink.tell()
    assert set(threading.enumerate()) <= before
    assert written < 64 << 20  # it stopped reading ahead
