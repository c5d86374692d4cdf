"""``debian_rootfs()``'s cache: always a tarball, and an entry that is not one is made again.

The real mmdebstrap runs in the session's ``debian_tarball`` fixture (with an empty cache in
CI). Here a stand-in on ``PATH`` behaves like it where it matters — it writes a directory when
the output name does not end in ``.tar`` and no ``--format`` is given — and counts its runs, so
each poisoned cache entry a user could have is checked in milliseconds.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from nbdocker.notebook.rootfs import debian_rootfs

FAKE_MMDEBSTRAP = """#!{python}
import io, os, sys, tarfile
with open(os.environ["FAKE_MMDEBSTRAP_LOG"], "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\\n")
out = sys.argv[-1]
if "--format=tar" not in sys.argv and not out.endswith(".tar"):
    os.makedirs(os.path.join(out, "etc"))
    sys.exit(0)
with tarfile.open(out, "w") as tar:
    data = b"12.0\\n"
    info = tarfile.TarInfo("etc/debian_version")
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
"""


@pytest.fixture
def fake_mmdebstrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "mmdebstrap"
    import sys

    tool.write_text(FAKE_MMDEBSTRAP.format(python=sys.executable))
    tool.chmod(0o755)
    log = tmp_path / "runs.log"
    log.touch()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_MMDEBSTRAP_LOG", str(log))
    return log


def _runs(log: Path) -> int:
    return len(log.read_text().splitlines())


def _members(path: Path) -> list[str]:
    with tarfile.open(path) as tar:
        return tar.getnames()


def test_makes_a_tarball_not_a_directory(tmp_path: Path, fake_mmdebstrap: Path) -> None:
    path = debian_rootfs(cache=tmp_path / "cache")
    assert path.is_file() and _members(path) == ["etc/debian_version"]
    assert "--format=tar" in fake_mmdebstrap.read_text()
    assert [p.name for p in (tmp_path / "cache").iterdir() if p.name != ".lock"] == [path.name]


def test_a_good_entry_is_reused(tmp_path: Path, fake_mmdebstrap: Path) -> None:
    first = debian_rootfs(cache=tmp_path / "cache")
    second = debian_rootfs(cache=tmp_path / "cache")
    assert first == second and _runs(fake_mmdebstrap) == 1


def _directory(path: Path) -> None:
    (path / "etc").mkdir(parents=True)


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _cut_short(path: Path) -> None:
    good = path.with_name("good.tar")
    with tarfile.open(good, "w") as tar:
        tar.add(__file__, "a")
        tar.add(__file__, "b")
    path.write_bytes(good.read_bytes()[:1536])
    good.unlink()


def _not_a_tar(path: Path) -> None:
    path.write_bytes(b"<html>proxy error</html>" * 100)


@pytest.mark.parametrize("poison", [_directory, _empty, _cut_short, _not_a_tar])
def test_a_bad_entry_is_made_again(tmp_path: Path, fake_mmdebstrap: Path, poison: object) -> None:
    cache = tmp_path / "cache"
    name = debian_rootfs(cache=cache).name
    (cache / name).unlink()
    poison(cache / name)  # type: ignore[operator]
    path = debian_rootfs(cache=cache)
    assert path.name == name and path.is_file()
    assert _members(path) == ["etc/debian_version"]
    assert _runs(fake_mmdebstrap) == 2
