"""``images``, ``tag``, ``rmi``, ``history`` and ``inspect``: Docker's semantics and output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import DOCKER_CONFIG_KEYS, RunNbdocker, ok
from tests.support.store import ref_names, snapshot


def _import(nbdocker: RunNbdocker, tarball: Path, *args: str) -> str:
    return ok(nbdocker("import", *args, tarball)).strip()


@pytest.fixture
def sinatra(nbdocker: RunNbdocker, busybox_tarball: Path) -> str:
    """The tutorial's repository: one image tagged ouruser/sinatra:latest."""
    return _import(nbdocker, busybox_tarball, "-m", "base")


def test_tag_and_filter_by_repository_as_in_the_tutorial(
    nbdocker: RunNbdocker, busybox_tarball: Path, sinatra: str, nbdocker_home: Path
) -> None:
    short = sinatra[7:19]
    ok(nbdocker("tag", short, "ouruser/sinatra"))
    ok(nbdocker("tag", short, "ouruser/sinatra:devel"))
    ok(nbdocker("tag", "ouruser/sinatra", "ouruser/sinatra:v2"))
    _import(nbdocker, busybox_tarball, "-c", "ENV X=1", "-m", "other")
    ok(nbdocker("tag", "sha256:" + sinatra[7:], "training/sinatra"))
    out = ok(nbdocker("images", "ouruser/sinatra")).splitlines()
    assert out[0] == "REPOSITORY        TAG       IMAGE ID       CREATED          SIZE" or out[
        0
    ].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    rows = [line.split() for line in out[1:]]
    assert sorted(r[1] for r in rows) == ["devel", "latest", "v2"]
    assert {r[0] for r in rows} == {"ouruser/sinatra"}
    assert {r[2] for r in rows} == {short}
    assert all(r[-1].endswith("MB") for r in rows)
    assert ok(nbdocker("images", "ouruser/sinatra:v2")).count("\n") == 2
    assert ok(nbdocker("images", "ouruser/*")).count("\n") == 4
    assert ref_names(nbdocker_home) == [
        "docker.io/ouruser/sinatra:devel",
        "docker.io/ouruser/sinatra:latest",
        "docker.io/ouruser/sinatra:v2",
        "docker.io/training/sinatra:latest",
    ]
    everything = ok(nbdocker("images")).splitlines()[1:]
    assert len(everything) == 5  # four tags of one image + the untagged second image
    assert any(r.startswith("<none>") for r in everything)


def test_quiet_no_trunc_digests_and_json(nbdocker: RunNbdocker, sinatra: str) -> None:
    ok(nbdocker("tag", sinatra, "a:1"))
    ok(nbdocker("tag", sinatra, "b:1"))
    assert ok(nbdocker("images", "-q")) == sinatra[7:19] + "\n"
    assert ok(nbdocker("images", "-q", "--no-trunc")) == sinatra + "\n"
    header = ok(nbdocker("images", "--digests")).splitlines()[0].split()
    assert header[:3] == ["REPOSITORY", "TAG", "DIGEST"]
    lines = ok(nbdocker("images", "--format", "json")).splitlines()
    objs = [json.loads(line) for line in lines]
    assert {o["Repository"] for o in objs} == {"a", "b"}
    assert {o["ID"] for o in objs} == {sinatra[7:19]}
    assert all(o["CreatedSince"].endswith("ago") for o in objs)


def test_moving_a_tag_leaves_the_old_image_dangling(
    nbdocker: RunNbdocker, busybox_tarball: Path
) -> None:
    first = _import(nbdocker, busybox_tarball, "-m", "one")
    ok(nbdocker("tag", first, "app:1"))
    second = _import(nbdocker, busybox_tarball, "-m", "two")
    ok(nbdocker("tag", second, "app:1"))
    rows = [r.split() for r in ok(nbdocker("images")).splitlines()[1:]]
    assert ["app", "1", second[7:19]] in [r[:3] for r in rows]
    assert ["<none>", "<none>", first[7:19]] in [r[:3] for r in rows]


def test_rmi_untags_then_deletes_and_frees_blobs(
    nbdocker: RunNbdocker, sinatra: str, nbdocker_home: Path
) -> None:
    blobs_before = set((nbdocker_home / "blobs" / "sha256").iterdir())
    ok(nbdocker("tag", sinatra, "ouruser/sinatra:v2"))
    ok(nbdocker("tag", sinatra, "ouruser/sinatra:devel"))
    assert ok(nbdocker("rmi", "ouruser/sinatra:devel")) == "Untagged: ouruser/sinatra:devel\n"
    out = ok(nbdocker("rmi", "ouruser/sinatra:v2"))
    assert out == f"Untagged: ouruser/sinatra:v2\nDeleted: {sinatra}\n"
    assert ok(nbdocker("images")).count("\n") == 1
    assert not any((nbdocker_home / "blobs" / "sha256").iterdir())
    assert blobs_before  # there was something to free


def test_rmi_by_id_across_repositories_needs_force(
    nbdocker: RunNbdocker, sinatra: str, nbdocker_home: Path
) -> None:
    ok(nbdocker("tag", sinatra, "ouruser/sinatra:v2"))
    ok(nbdocker("tag", sinatra, "training/sinatra"))
    before = snapshot(nbdocker_home)
    refused = nbdocker("rmi", sinatra[7:19])
    assert refused.returncode == 1
    assert b"must be forced" in refused.stderr and refused.stderr.count(b"\n") == 1
    assert snapshot(nbdocker_home) == before
    out = ok(nbdocker("rmi", "-f", sinatra[7:19])).splitlines()
    assert sorted(out[:-1]) == ["Untagged: ouruser/sinatra:v2", "Untagged: training/sinatra:latest"]
    assert out[-1] == f"Deleted: {sinatra}"


def test_rmi_of_several_stops_before_changing_anything_on_an_unknown_one(
    nbdocker: RunNbdocker, sinatra: str, nbdocker_home: Path
) -> None:
    ok(nbdocker("tag", sinatra, "keep:1"))
    before = snapshot(nbdocker_home)
    result = nbdocker("rmi", "keep:1", "ghost:1")
    assert result.returncode == 1
    assert b"no such image: ghost:1" in result.stderr
    assert snapshot(nbdocker_home) == before


def test_id_prefixes_resolve_like_docker(nbdocker: RunNbdocker, busybox_tarball: Path) -> None:
    ids: set[str] = set()
    while len(ids) < 12 or len({i[7] for i in ids}) == len(ids):  # until two share a digit
        ids.add(_import(nbdocker, busybox_tarball, "-m", str(len(ids))))
    hexes = sorted(i[7:] for i in ids)
    for h in hexes:  # the shortest unique prefix works, the full ID and sha256: form too
        prefix = next(h[:n] for n in range(1, 65) if sum(o.startswith(h[:n]) for o in hexes) == 1)
        assert json.loads(ok(nbdocker("inspect", prefix)))[0]["Id"] == "sha256:" + h
    common = next(a[:1] for a in hexes if sum(b.startswith(a[:1]) for b in hexes) > 1)
    ambiguous = nbdocker("inspect", common)
    assert ambiguous.returncode == 1 and b"give more digits" in ambiguous.stderr


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["tag", "ghost", "x:1"], 1, "no such image: ghost"),
        (["tag", "PLACEHOLDER", "Bad/Name"], 1, "invalid reference format"),
        (["rmi", "ghost"], 1, "no such image: ghost"),
        (["history", "ghost"], 1, "no such image"),
        (["inspect", "ghost"], 1, "no such image"),
        (["images", "--format", "yaml"], 2, "invalid choice"),
        (["tag", "only-one"], 2, "required"),
        (["frobnicate"], 2, "invalid choice"),
    ],
)
def test_errors_are_one_line(
    nbdocker: RunNbdocker,
    sinatra: str,
    nbdocker_home: Path,
    args: list[str],
    code: int,
    needle: str,
) -> None:
    args = [sinatra if a == "PLACEHOLDER" else a for a in args]
    before = snapshot(nbdocker_home)
    result = nbdocker(*args)
    assert result.returncode == code
    err = result.stderr.decode()
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert snapshot(nbdocker_home) == before


def test_history_and_inspect(nbdocker: RunNbdocker, busybox_tarball: Path) -> None:
    image = _import(
        nbdocker, busybox_tarball, "-m", "Added json gem", "-c", "CMD /bin/sh", "-c", "LABEL a=b"
    )
    ok(nbdocker("tag", image, "ouruser/sinatra:v2"))
    lines = ok(nbdocker("history", "ouruser/sinatra:v2")).splitlines()
    assert lines[0].split() == ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"]
    assert lines[1].startswith(image[7:19])
    assert lines[1].rstrip().endswith("Added json gem")
    assert ok(nbdocker("history", "-q", "--no-trunc", image)) == image + "\n"
    [info] = json.loads(ok(nbdocker("inspect", "ouruser/sinatra:v2")))
    for key in (
        "Id",
        "RepoTags",
        "RepoDigests",
        "Created",
        "Author",
        "Comment",
        "Config",
        "RootFS",
        "Size",
    ):
        assert key in info
    for key in DOCKER_CONFIG_KEYS:
        assert key in info["Config"]
    assert info["Config"]["Cmd"] == ["/bin/sh", "-c", "/bin/sh"]
    assert info["Config"]["Labels"] == {"a": "b"}
    assert info["RootFS"]["Type"] == "layers"
    assert info["Created"].endswith("Z")
    both = json.loads(ok(nbdocker("inspect", image, "ouruser/sinatra:v2")))
    assert [b["Id"] for b in both] == [image, image]
