"""The fast tar reader and writer agree with :mod:`tarfile` on every dialect layers use."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from nbdocker.engine import ArchiveError, Engine
from nbdocker.engine.layer.tarstream import TarReader, TarWriter

LONG = "deep/" + "d" * 120 + "/" + "f" * 150


def _members() -> list[tuple[tarfile.TarInfo, bytes | None]]:
    out: list[tuple[tarfile.TarInfo, bytes | None]] = []

    def add(
        name: str, kind: bytes = tarfile.REGTYPE, data: bytes | None = None, **kw: object
    ) -> None:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.size = len(data) if data is not None else 0
        info.mtime = 1_700_000_000
        for k, v in kw.items():
            setattr(info, k, v)
        out.append((info, data))

    add("dir", tarfile.DIRTYPE, mode=0o755)
    add("dir/file", data=b"x" * 1000, mode=0o4755, uid=1000, gid=1001)
    add("dir/empty", data=b"")
    add(LONG, data=b"long name")
    add("hard", tarfile.LNKTYPE, linkname="dir/file")
    add("sym", tarfile.SYMTYPE, linkname="/" + "t" * 130)
    add("dev", tarfile.CHRTYPE, devmajor=1, devminor=3)
    add("fifo", tarfile.FIFOTYPE)
    add("big-uid", data=b"u", uid=3_000_000)
    return out


def _describe(info: tarfile.TarInfo) -> tuple[object, ...]:
    return (
        info.name,
        info.type,
        info.size,
        info.mode,
        info.uid,
        info.gid,
        int(info.mtime),
        info.linkname,
        info.devmajor,
        info.devminor,
    )


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_reader_matches_tarfile(fmt: int) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for info, data in _members():
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    raw = buf.getvalue()
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        expected = [
            (_describe(m), tar.extractfile(m).read() if m.isreg() else b"")  # type: ignore[union-attr]
            for m in tar.getmembers()
        ]
    ours = [(_describe(m), d.read()) for m, d in TarReader(io.BytesIO(raw))]
    assert ours == expected


def test_writer_output_reads_back_with_tarfile_and_keeps_xattrs() -> None:
    out = io.BytesIO()
    writer = TarWriter(out)
    for info, data in _members():
        if info.name == "dir/file":
            info.pax_headers = {"SCHILY.xattr.user.note": "kept"}
        writer.add(info, io.BytesIO(data) if data is not None else None)
    writer.close()
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == [i.name for i, _ in _members()]
        file = tar.getmember("dir/file")
        assert file.pax_headers["SCHILY.xattr.user.note"] == "kept"
        assert tar.extractfile(LONG).read() == b"long name"  # type: ignore[union-attr]
    [member] = [m for m, _ in TarReader(io.BytesIO(out.getvalue())) if m.name == "dir/file"]
    assert member.pax_headers["SCHILY.xattr.user.note"] == "kept"


def test_truncated_and_damaged_streams_are_errors() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info, data in _members():
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    raw = buf.getvalue()
    with pytest.raises(EOFError):
        for _ in TarReader(io.BytesIO(raw[:1500])):
            pass
    with pytest.raises(tarfile.ReadError):
        for _ in TarReader(io.BytesIO(b"\x01" * 1024)):
            pass


def _with_pax_header(records: bytes) -> bytes:
    """A tar whose first member carries the (raw) PAX header ``records``."""
    header = tarfile.TarInfo("././@PaxHeader")
    header.type = tarfile.XHDTYPE
    header.size = len(records)
    member = tarfile.TarInfo("file")
    return (
        header.tobuf(tarfile.USTAR_FORMAT)
        + records
        + bytes(-len(records) % 512)
        + member.tobuf(tarfile.USTAR_FORMAT)
        + bytes(1024)
    )


@pytest.mark.parametrize(
    "records",
    [b"no length here\n", b"99 path=x\n", b"7 path=x", b"x path=x\n", b"13 size=big\n"],
    ids=["no-length", "too-long", "no-newline", "not-a-number", "bad-size"],
)
def test_a_malformed_pax_header_is_a_read_error(records: bytes) -> None:
    with pytest.raises(tarfile.ReadError):
        for _ in TarReader(io.BytesIO(_with_pax_header(records))):
            pass


def test_an_import_with_a_malformed_pax_header_is_one_archive_error(tmp_path: Path) -> None:
    engine = Engine(tmp_path / "store")
    with pytest.raises(ArchiveError, match="not a valid tar archive"):
        engine.import_image(io.BytesIO(_with_pax_header(b"no length here\n")), "bad:pax")
    assert engine.images() == []
