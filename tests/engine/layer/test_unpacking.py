"""Layer tars to overlay directories and back: every kind of entry survives, nothing escapes."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import threading
from pathlib import Path

import pytest

from nbdocker.engine.layer.diff import write_diff
from nbdocker.engine.layer.unpacking import UnsafeLayer, unpack


def _tar(*members: tuple[tarfile.TarInfo, bytes | None]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    buf.seek(0)
    return buf


def _entry(
    name: str, kind: bytes = tarfile.REGTYPE, data: bytes | None = None, **attrs: object
) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    if data is not None:
        info.size = len(data)
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, data


def test_round_trip_keeps_files_links_modes_owners_and_xattrs(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    (upper / "dir" / "sub").mkdir(parents=True)
    (upper / "dir" / "file").write_text("content")
    os.chmod(upper / "dir" / "file", 0o4755)
    os.link(upper / "dir" / "file", upper / "hard")
    os.symlink("dir/file", upper / "sym")
    os.chown(upper / "dir" / "sub", 1000, 1001)
    os.setxattr(upper / "dir" / "file", "user.note", b"kept")
    os.mknod(upper / "gone", stat.S_IFCHR, os.makedev(0, 0))  # whiteout
    os.setxattr(upper / "dir", "trusted.overlay.opaque", b"y")
    os.mkfifo(upper / "fifo")
    layer = io.BytesIO()
    write_diff(upper, layer)
    layer.seek(0)
    with tarfile.open(fileobj=io.BytesIO(layer.getvalue())) as tar:
        names = tar.getnames()
    assert ".wh.gone" in names and "dir/.wh..wh..opq" in names
    out = tmp_path / "out"
    out.mkdir()
    unpack(layer, out)
    st = os.lstat(out / "dir" / "file")
    assert stat.S_IMODE(st.st_mode) == 0o4755
    assert os.lstat(out / "hard").st_ino == st.st_ino
    assert os.readlink(out / "sym") == "dir/file"
    assert os.lstat(out / "dir" / "sub").st_uid == 1000
    assert os.getxattr(out / "dir" / "file", "user.note") == b"kept"
    assert os.getxattr(out / "dir", "trusted.overlay.opaque") == b"y"
    gone = os.lstat(out / "gone")
    assert stat.S_ISCHR(gone.st_mode) and gone.st_rdev == 0
    assert stat.S_ISFIFO(os.lstat(out / "fifo").st_mode)


@pytest.mark.parametrize(
    "members",
    [
        [_entry("../escape", data=b"x")],
        [_entry("a/../../escape", data=b"x")],
        [_entry("link", tarfile.SYMTYPE, linkname="/etc"), _entry("link/passwd", data=b"x")],
        [_entry("hard", tarfile.LNKTYPE, linkname="../../etc/passwd")],
        [_entry("sub/.wh...", data=b"")],  # a whiteout of ".." would delete dest itself
        [_entry("hard", tarfile.LNKTYPE, linkname="missing")],
        [_entry("dir", tarfile.DIRTYPE), _entry("hard", tarfile.LNKTYPE, linkname="dir")],
    ],
    ids=[
        "dotdot",
        "nested-dotdot",
        "through-symlink",
        "hardlink-out",
        "whiteout-dotdot",
        "hardlink-missing",
        "hardlink-dir",
    ],
)
def test_entries_that_would_escape_are_refused(tmp_path: Path, members: list) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(UnsafeLayer):
        unpack(_tar(*members), dest)
    assert not (tmp_path / "escape").exists()
    assert dest.is_dir()


def test_many_small_files_big_files_links_and_times_survive(tmp_path: Path) -> None:
    members = []
    for d in range(20):
        members.append(_entry(f"d{d}", tarfile.DIRTYPE, mode=0o750, mtime=1000 + d))
        for f in range(30):
            data = f"{d}/{f}".encode() * (f + 1)
            members.append(_entry(f"d{d}/f{f}", data=data, mode=0o640, mtime=2000 + f))
    big = os.urandom(3 << 20)  # beyond what a worker is given whole
    members.append(_entry("implicit/parent/big", data=big, mode=0o600, mtime=3000))
    members.append(_entry("d3/hard", tarfile.LNKTYPE, linkname="d1/f2"))
    members.append(_entry("d4/sym", tarfile.SYMTYPE, linkname="../d1/f2"))
    dest = tmp_path / "dest"
    dest.mkdir()
    size = unpack(_tar(*members), dest)
    assert size == sum(len(f"{d}/{f}") * (f + 1) for d in range(20) for f in range(30)) + len(big)
    for d in range(20):
        st = os.lstat(dest / f"d{d}")
        assert (stat.S_IMODE(st.st_mode), st.st_mtime) == (0o750, 1000 + d)  # set after content
        for f in range(30):
            path = dest / f"d{d}" / f"f{f}"
            assert path.read_bytes() == f"{d}/{f}".encode() * (f + 1)
            assert (stat.S_IMODE(os.lstat(path).st_mode), os.lstat(path).st_mtime) == (
                0o640,
                2000 + f,
            )
    assert (dest / "implicit" / "parent" / "big").read_bytes() == big
    assert os.lstat(dest / "d3" / "hard").st_ino == os.lstat(dest / "d1" / "f2").st_ino
    assert os.readlink(dest / "d4" / "sym") == "../d1/f2"


def test_a_path_named_twice_keeps_the_last_entry(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    unpack(
        _tar(
            _entry("a", data=b"file first"),
            _entry("a", tarfile.DIRTYPE),
            _entry("a/inside", data=b"x"),
            _entry("b", tarfile.DIRTYPE),
            _entry("b/inside", data=b"x"),
            _entry("b", data=b"file last"),
            _entry("c", data=b"gone"),
            _entry(".wh.c", data=b""),
        ),
        dest,
    )
    assert (dest / "a" / "inside").read_bytes() == b"x"
    assert (dest / "b").read_bytes() == b"file last"
    gone = os.lstat(dest / "c")
    assert stat.S_ISCHR(gone.st_mode) and gone.st_rdev == 0


def test_an_error_on_a_worker_is_raised_and_no_worker_is_left(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "taken").write_text("not from the layer")  # unpack wants an empty directory
    members = [_entry(f"f{n}", data=b"x") for n in range(100)] + [_entry("taken", data=b"y")]
    before = set(threading.enumerate())
    with pytest.raises(FileExistsError):
        unpack(_tar(*members), dest)
    assert set(threading.enumerate()) <= before
