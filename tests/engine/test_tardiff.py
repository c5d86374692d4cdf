"""Layer tars to overlay directories and back: every kind of entry survives, nothing escapes."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from nbdocker.engine.tardiff import UnsafeLayer, unpack, write_diff


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
    ],
    ids=["dotdot", "nested-dotdot", "through-symlink", "hardlink-out"],
)
def test_entries_that_would_escape_are_refused(tmp_path: Path, members: list) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(UnsafeLayer):
        unpack(_tar(*members), dest)
    assert not (tmp_path / "escape").exists()
