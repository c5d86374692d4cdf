"""Fast tar streams for layers (stdlib only; also loaded inside a user namespace).

:mod:`tarfile` handles every tar dialect, but its stream mode copies its buffer on every small
read and write, which dominates when a layer holds tens of thousands of small files. Here the
stream is read and written in large blocks and members' data moves without extra copies;
:class:`tarfile.TarInfo` still parses and builds every header, so names, PAX records, GNU long
names, devices and links mean exactly what they mean to :mod:`tarfile`.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..chunks import Sink, Source


__all__ = ["BadMember", "MemberData", "TarReader", "TarWriter", "check_member"]

BLOCK = 512
_CHUNK = 1 << 20
_ENCODING = "utf-8"
_ERRORS = "surrogateescape"


# What a member's numbers may be: an mtime the kernel's 64-bit nanosecond times hold (about
# 1678–2262), ids a Linux uid_t holds (without (uid_t)-1, which means "unchanged"), device
# numbers a ustar header holds (7 octal digits: PAX has no record for them).
MTIME_RANGE = (-(2**63) / 1e9, (2**63 - 1) / 1e9)
MAX_ID = 2**32 - 2
MAX_DEVICE = 8**7 - 1
MAX_LINK_BYTES = 4095  # PATH_MAX less its NUL: the longest symlink target Linux stores


class BadMember(tarfile.ReadError):
    """A tar member whose header says what no file can be (a NaN time, a negative owner, a NUL
    in its name); ``str()`` names the member and the field."""


def check_member(info: tarfile.TarInfo) -> None:
    """Raise :class:`BadMember` unless every field of ``info`` can be made on Linux as it says:
    a finite mtime in range, owners and device numbers in range, no NUL in the name or link
    target, a link target neither empty nor longer than Linux takes. Every reader of untrusted
    tars (layers, contexts, ADD) calls this, so a hostile header is one line and not an error
    deep in os."""
    name = info.name[:80]
    if "\0" in info.name or "\0" in info.linkname:
        raise BadMember(f"entry {name!r} has a NUL byte in its name or link target")
    mtime = info.mtime
    if not (isinstance(mtime, (int, float)) and MTIME_RANGE[0] <= mtime <= MTIME_RANGE[1]):
        raise BadMember(f"entry {name!r} has modification time {mtime!r}, which no file can have")
    for field in ("uid", "gid"):
        value = getattr(info, field)
        if not 0 <= value <= MAX_ID:
            raise BadMember(f"entry {name!r} has {field} {value}, outside 0–{MAX_ID}")
    if info.size < 0:
        raise BadMember(f"entry {name!r} has a negative size")
    devices = (info.devmajor, info.devminor)
    if (info.ischr() or info.isblk()) and not all(0 <= n <= MAX_DEVICE for n in devices):
        raise BadMember(f"entry {name!r} has device numbers out of range")
    if (info.issym() or info.islnk()) and not info.linkname:
        raise BadMember(f"entry {name!r} is a link to nothing (its target is empty)")
    if len(info.linkname.encode("utf-8", "surrogateescape")) > MAX_LINK_BYTES:
        raise BadMember(
            f"entry {name!r} links to a target longer than the {MAX_LINK_BYTES} bytes Linux takes"
        )


class TarWriter:
    """Write a POSIX (PAX where needed) tar to ``out``; :meth:`close` writes the end marker."""

    def __init__(self, out: Sink) -> None:
        self.out = out
        self.size = 0

    def _write(self, data: bytes) -> None:
        self.out.write(data)
        self.size += len(data)

    def add(self, info: tarfile.TarInfo, data: Source | None = None) -> None:
        """Add a member; a regular file's ``info.size`` bytes are read from ``data``."""
        self._write(info.tobuf(tarfile.PAX_FORMAT, _ENCODING, _ERRORS))
        if info.isreg() and info.size:
            assert data is not None
            left = info.size
            while left:
                chunk = data.read(min(left, _CHUNK))
                if not chunk:
                    raise OSError(f"{info.name}: the file shrank while it was being read")
                self._write(chunk)
                left -= len(chunk)
            pad = -info.size % BLOCK
            if pad:
                self._write(bytes(pad))

    def close(self) -> None:
        self._write(bytes(2 * BLOCK))
        self.out.flush()


class TarReader:
    """Iterate over the members of a tar stream: ``for info, data in TarReader(stream)``.

    ``data`` reads the member's content (regular files); what a loop leaves unread is skipped.
    Raises :class:`tarfile.ReadError` for a damaged header and :class:`EOFError` for a stream
    that ends early (truncated).
    """

    def __init__(self, stream: Source) -> None:
        self.stream = stream
        self._buf = bytearray()
        self._pos = 0
        self.offset = 0

    def _fill(self, need: int) -> None:
        while len(self._buf) - self._pos < need:
            chunk = self.stream.read(max(_CHUNK, need))
            if not chunk:
                raise EOFError("unexpected end of data")
            if self._pos:
                del self._buf[: self._pos]
                self._pos = 0
            self._buf += chunk

    def _take(self, n: int) -> bytes:
        self._fill(n)
        out = bytes(self._buf[self._pos : self._pos + n])
        self._pos += n
        self.offset += n
        return out

    def _spans(self, n: int) -> Iterator[tuple[int, int]]:
        """Consume the next ``n`` bytes: each piece's (start, end) in the buffer, given before
        the reader moves past it."""
        while n:
            available = len(self._buf) - self._pos
            if available == 0:
                self._fill(1)
                continue
            start = self._pos
            step = min(n, available)
            yield start, start + step
            self._pos += step
            self.offset += step
            n -= step

    def _skip(self, n: int) -> None:
        for _ in self._spans(n):
            pass

    def _read_data(self, n: int) -> Iterator[bytes]:
        for start, end in self._spans(n):
            yield bytes(self._buf[start:end])

    def __iter__(self) -> Iterator[tuple[tarfile.TarInfo, MemberData]]:
        pax: dict[str, str] = {}
        global_pax: dict[str, str] = {}
        long_name: str | None = None
        long_link: str | None = None
        while True:
            header = self._take(BLOCK)
            if header == bytes(BLOCK):
                return  # end of archive (the second zero block and padding are not needed)
            try:
                info = tarfile.TarInfo.frombuf(header, _ENCODING, _ERRORS)
            except tarfile.HeaderError as exc:
                raise tarfile.ReadError(
                    f"bad tar header at byte {self.offset - BLOCK}: {exc}"
                ) from None
            padded = info.size + (-info.size % BLOCK)  # of this header's own data
            if info.type in (tarfile.XHDTYPE, tarfile.XGLTYPE, b"X"):
                records = _parse_pax(self._take(padded)[: info.size])
                (global_pax if info.type == tarfile.XGLTYPE else pax).update(records)
                continue
            if info.type in (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK):
                value = self._take(padded)[: info.size].rstrip(b"\0").decode(_ENCODING, _ERRORS)
                if info.type == tarfile.GNUTYPE_LONGNAME:
                    long_name = value
                else:
                    long_link = value
                continue
            records = {**global_pax, **pax}
            if long_name is not None:
                info.name = long_name
            if long_link is not None:
                info.linkname = long_link
            if records:
                _apply_pax(info, records)
            pax, long_name, long_link = {}, None, None
            check_member(info)
            if info.type == tarfile.GNUTYPE_SPARSE:
                raise tarfile.ReadError(f"{info.name}: sparse members are not supported")
            size = info.size if info.isreg() else 0  # links etc. carry no data in layers
            data = MemberData(self, size)
            yield info, data
            data.finish()
            self._skip(-size % BLOCK)


class MemberData:
    """A member's content as a :class:`TarReader` loop gets it: ``read(n)`` and ``chunks()``."""

    def __init__(self, reader: TarReader, size: int) -> None:
        self._reader = reader
        self._left = size

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes of the member (all that is left with ``n < 0``)."""
        if n < 0:
            return b"".join(self.chunks())
        if self._left == 0 or n == 0:
            return b""
        reader = self._reader
        if len(reader._buf) == reader._pos:
            reader._fill(1)
        step = min(n, self._left, len(reader._buf) - reader._pos)
        out = bytes(reader._buf[reader._pos : reader._pos + step])
        reader._pos += step
        reader.offset += step
        self._left -= step
        return out

    def chunks(self) -> Iterator[bytes]:
        left, self._left = self._left, 0
        yield from self._reader._read_data(left)

    def finish(self) -> None:
        if self._left:
            self._reader._skip(self._left)
            self._left = 0


def _parse_pax(data: bytes) -> dict[str, str]:
    """The records of a PAX header (``"%d %s=%s\n"``); ReadError for anything malformed."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        try:
            length = int(data[pos:space]) if space > pos else 0
        except ValueError:
            length = 0
        if length <= space - pos or pos + length > len(data) or data[pos + length - 1] != 0x0A:
            raise tarfile.ReadError(f"bad PAX record at offset {pos} of its header")
        record = data[space + 1 : pos + length - 1]  # without the trailing newline
        key, _, value = record.partition(b"=")
        records[key.decode(_ENCODING, _ERRORS)] = value.decode(_ENCODING, _ERRORS)
        pos += length
    return records


_NUMERIC_PAX = {"size": "size", "uid": "uid", "gid": "gid", "mtime": "mtime"}


def _apply_pax(info: tarfile.TarInfo, records: dict[str, str]) -> None:
    for key, value in records.items():
        if key == "path":
            info.name = value
        elif key == "linkpath":
            info.linkname = value
        elif key in _NUMERIC_PAX:
            try:
                number = float(value) if key == "mtime" else int(value)
            except ValueError:
                raise tarfile.ReadError(f"bad PAX record {key}={value!r}") from None
            setattr(info, key, number)
        elif key in ("uname", "gname"):
            setattr(info, key, value)
    info.pax_headers = dict(records)
