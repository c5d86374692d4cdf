"""``nbdocker import``: every tarball format, stdin and URLs, -m/-c, and failures that change
nothing."""

from __future__ import annotations

import io
import json
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.support import RunNbdocker
from tests.support.rootfs import make_rootfs_tarball
from tests.support.store import ref_names, snapshot

ID_LINE = re.compile(rb"sha256:[0-9a-f]{64}\n")


def _inspect(nbdocker: RunNbdocker, image: str) -> dict:
    result = nbdocker("inspect", image)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)[0]


@pytest.mark.parametrize("compression", ["none", "gzip", "bzip2", "xz", "zstd"])
def test_imports_every_compression_to_the_same_image_content(
    nbdocker: RunNbdocker, busybox_rootfs: Path, tmp_path: Path, compression: str
) -> None:
    tarball = make_rootfs_tarball(busybox_rootfs, tmp_path / f"rootfs.{compression}", compression)
    result = nbdocker("import", tarball, "ubuntu:14.04")
    assert result.returncode == 0, result.stderr
    assert ID_LINE.fullmatch(result.stdout)
    info = _inspect(nbdocker, "ubuntu:14.04")
    assert info["Id"] == result.stdout.decode().strip()
    assert info["RepoTags"] == ["ubuntu:14.04"]
    assert info["Comment"] == "Imported from -"
    assert len(info["RootFS"]["Layers"]) == 1
    # The layer holds the rootfs with relative names and without the "." entry.
    layer_diff = info["RootFS"]["Layers"][0]
    assert layer_diff.startswith("sha256:")
    assert info["Size"] > 500_000  # busybox itself


def test_same_rootfs_in_any_compression_is_stored_once(
    nbdocker: RunNbdocker, nbdocker_home: Path, busybox_rootfs: Path, tmp_path: Path
) -> None:
    diff_ids = set()
    for kind in ("gzip", "xz"):
        tarball = make_rootfs_tarball(busybox_rootfs, tmp_path / f"r.{kind}", kind)
        assert nbdocker("import", tarball, f"base:{kind}").returncode == 0
        diff_ids.add(_inspect(nbdocker, f"base:{kind}")["RootFS"]["Layers"][0])
    assert len(diff_ids) == 1
    big_blobs = [
        p for p in (nbdocker_home / "blobs" / "sha256").iterdir() if p.stat().st_size > 100_000
    ]
    assert len(big_blobs) == 1


def test_import_from_stdin_as_in_the_tutorial(nbdocker: RunNbdocker, busybox_tarball: Path) -> None:
    # cat ubuntu-14.04-x86_64-minimal.tar.gz | nbdocker import - ubuntu:14.04
    result = nbdocker("import", "-", "ubuntu:14.04", input=busybox_tarball.read_bytes())
    assert result.returncode == 0, result.stderr
    images = nbdocker("images").stdout.decode().splitlines()
    assert images[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    row = images[1].split()
    assert row[:3] == ["ubuntu", "14.04", result.stdout.decode()[7:19]]


def test_import_from_url(
    nbdocker: RunNbdocker, busybox_tarball: Path, web_server: tuple[str, Path]
) -> None:
    base, root = web_server
    (root / "rootfs.tar.gz").write_bytes(busybox_tarball.read_bytes())
    url = f"{base}/rootfs.tar.gz"
    result = nbdocker("import", url, "fromurl:1")
    assert result.returncode == 0, result.stderr
    assert _inspect(nbdocker, "fromurl:1")["Comment"] == f"Imported from {url}"
    missing = nbdocker("import", f"{base}/nope.tar", "x:1")
    assert missing.returncode == 1
    assert b"404" in missing.stderr and missing.stderr.count(b"\n") == 1


def test_message_and_changes_set_the_config(nbdocker: RunNbdocker, busybox_tarball: Path) -> None:
    result = nbdocker(
        "import",
        "-m",
        "my base",
        "-c",
        'CMD ["/bin/sh", "-c", "echo hi"]',
        "-c",
        "ENV A=1 B=2",
        "-c",
        "ENV C=$A-x",
        "-c",
        "EXPOSE 80 53/udp",
        "-c",
        "LABEL team=edu",
        "-c",
        "USER nobody",
        "-c",
        "WORKDIR /srv",
        "-c",
        "WORKDIR app",
        "-c",
        "VOLUME /data",
        "-c",
        "ENTRYPOINT /bin/echo",
        busybox_tarball,
        "custom:1",
    )
    assert result.returncode == 0, result.stderr
    info = _inspect(nbdocker, "custom:1")
    cfg = info["Config"]
    assert info["Comment"] == "my base"
    assert cfg["Env"] == ["A=1", "B=2", "C=1-x"]
    assert cfg["Cmd"] == ["/bin/sh", "-c", "echo hi"]  # set alongside, so ENTRYPOINT keeps it
    assert cfg["Entrypoint"] == ["/bin/sh", "-c", "/bin/echo"]
    assert cfg["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert cfg["Labels"] == {"team": "edu"}
    assert cfg["User"] == "nobody"
    assert cfg["WorkingDir"] == "/srv/app"
    assert cfg["Volumes"] == {"/data": {}}


def _tarball_with_mtimes(path: Path, mtimes: dict[str, int]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, mtime in mtimes.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = 1, mtime
            tar.addfile(info, io.BytesIO(b"x"))
    return path


def test_reimporting_the_same_tarball_gives_the_same_image_and_keeps_the_cache(
    nbdocker: RunNbdocker, tmp_path: Path
) -> None:
    tarball = _tarball_with_mtimes(tmp_path / "root.tar", {"a": 1_000_000, "b": 2_000_000})
    first = nbdocker("import", tarball, "base:1")
    assert first.returncode == 0, first.stderr
    # created is the tarball's newest mtime, not the time of the import
    assert _inspect(nbdocker, "base:1")["Created"].startswith("1970-01-24T03:33:20")
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM base:1\nLABEL step=one\n")
    built = nbdocker("build", "-t", "app:1", tmp_path / "ctx")
    assert built.returncode == 0 and b"Using cache" not in built.stdout

    # the same content again, from another file: the same ID, and the build stays cached
    copy = tmp_path / "copy.tar"
    copy.write_bytes(tarball.read_bytes())
    again = nbdocker("import", copy, "base:1")
    assert again.stdout == first.stdout
    rebuilt = nbdocker("build", "-t", "app:1", tmp_path / "ctx")
    assert rebuilt.returncode == 0 and rebuilt.stdout.count(b"Using cache") == 1
    assert b"<none>" not in nbdocker("images").stdout  # nothing left behind

    # other options make another image; SOURCE_DATE_EPOCH sets the time
    assert nbdocker("import", "-m", "other", tarball).stdout != first.stdout
    stamped = nbdocker("import", tarball, "base:2", env={"SOURCE_DATE_EPOCH": "86400"})
    assert stamped.stdout != first.stdout
    assert _inspect(nbdocker, "base:2")["Created"].startswith("1970-01-02T00:00:00")
    bad = nbdocker("import", tarball, "base:3", env={"SOURCE_DATE_EPOCH": "soon"})
    assert bad.returncode == 2 and b"SOURCE_DATE_EPOCH" in bad.stderr


def test_import_without_a_name_makes_a_dangling_image(
    nbdocker: RunNbdocker, busybox_tarball: Path
) -> None:
    result = nbdocker("import", busybox_tarball)
    assert result.returncode == 0
    rows = nbdocker("images").stdout.decode().splitlines()[1:]
    assert [r.split()[:3] for r in rows] == [["<none>", "<none>", result.stdout.decode()[7:19]]]


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _plain_tar_bytes(rootfs: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(rootfs / "bin" / "busybox", "bin/busybox")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("case", "make_args", "code", "needle"),
    [
        ("missing file", lambda d: ["import", str(d / "nope.tar.gz"), "x:1"], 1, "no such file"),
        (
            "bad reference",
            lambda d: ["import", str(d / "good.tar.gz"), "Bad:Name"],
            1,
            "invalid reference format",
        ),
        (
            "truncated gzip",
            lambda d: ["import", str(d / "trunc.tar.gz"), "x:1"],
            1,
            "not a valid tar",
        ),
        (
            "truncated plain tar",
            lambda d: ["import", str(d / "trunc.tar"), "x:1"],
            1,
            "not a valid tar",
        ),
        ("not a tarball", lambda d: ["import", str(d / "junk.bin"), "x:1"], 1, "not a valid tar"),
        ("path escaping", lambda d: ["import", str(d / "evil.tar"), "x:1"], 1, "outside the root"),
        (
            "bad change",
            lambda d: ["import", "-c", "RUN true", str(d / "good.tar.gz"), "x:1"],
            1,
            "does not support RUN",
        ),
        ("directory", lambda d: ["import", str(d), "x:1"], 2, "is a directory"),
        ("malformed URL", lambda d: ["import", "http://[::1", "x:1"], 1, "not a valid address"),
        (
            "unknown flag",
            lambda d: ["import", "--bogus", str(d / "good.tar.gz")],
            2,
            "unrecognized arguments",
        ),
        ("no source", lambda d: ["import"], 2, "required"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    nbdocker: RunNbdocker,
    nbdocker_home: Path,
    busybox_tarball: Path,
    busybox_rootfs: Path,
    tmp_path: Path,
    case: str,
    make_args,
    code: int,
    needle: str,
) -> None:
    (tmp_path / "good.tar.gz").write_bytes(busybox_tarball.read_bytes())
    (tmp_path / "trunc.tar.gz").write_bytes(_truncated(busybox_tarball.read_bytes()))
    (tmp_path / "trunc.tar").write_bytes(_truncated(_plain_tar_bytes(busybox_rootfs)))
    (tmp_path / "junk.bin").write_bytes(b"this is not a tarball at all\n" * 100)
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w") as tar:
        info = tarfile.TarInfo("../../etc/evil")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    (tmp_path / "evil.tar").write_bytes(evil.getvalue())
    assert nbdocker("import", busybox_tarball, "keep:1").returncode == 0
    before = snapshot(nbdocker_home)
    result = nbdocker(*make_args(tmp_path))
    assert result.returncode == code, (case, result.stderr)
    err = result.stderr.decode()
    assert needle in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert snapshot(nbdocker_home) == before
    assert not any((nbdocker_home / "ingest").iterdir())


@pytest.mark.root
def test_full_disk_is_reported_and_changes_nothing(
    nbdocker: RunNbdocker, busybox_rootfs: Path, tmp_path: Path
) -> None:
    import os

    if os.geteuid() != 0:
        from tests.support.real import require

        require("root", "mounting a small tmpfs needs root")
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1600k", "tmpfs", str(small)], check=True)
    try:
        env = {"NBDOCKER_HOME": str(small / "home")}
        tiny = make_rootfs_tarball(busybox_rootfs / "etc", tmp_path / "tiny.tar", "none")
        assert nbdocker("import", tiny, "tiny:1", env=env).returncode == 0
        before = snapshot(small / "home")
        random_root = tmp_path / "random"
        (random_root / "data").mkdir(parents=True)
        (random_root / "data" / "blob").write_bytes(os.urandom(3_000_000))  # incompressible
        big = make_rootfs_tarball(random_root, tmp_path / "big.tar", "none")
        result = nbdocker("import", big, "big:1", env=env)
        assert result.returncode == 1
        err = result.stderr.decode()
        assert "no space left" in err and err.count("\n") == 1, err
        assert snapshot(small / "home") == before
        assert ref_names(small / "home") == ["docker.io/library/tiny:1"]
        assert not any((small / "home" / "ingest").iterdir())
    finally:
        subprocess.run(["umount", str(small)], check=True)
