"""``system df``, the ``prune`` verbs and ``fsck`` against real stores: Docker's prompts and
output, what each removes and what it must keep, and what ``fsck`` finds and repairs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.support import RunNbdocker, ok
from tests.support.store import index, ref_names

DEAD_PID = "4194305"  # above any pid_max: never a live process


def _import(nbdocker: RunNbdocker, tarball: Path, *flags: str, ref: str = "") -> str:
    return ok(nbdocker("import", *flags, tarball, *([ref] if ref else []))).strip()


def _build(nbdocker: RunNbdocker, ctx: Path, dockerfile: str, *args: str) -> str:
    ctx.mkdir(parents=True, exist_ok=True)
    (ctx / "Dockerfile").write_text(dockerfile)
    out = ok(nbdocker("build", "-q", *args, ctx))
    return out.strip()


def _listed_ids(home: Path) -> set[str]:
    ids = set()
    for desc in index(home):
        blob = home / "blobs" / "sha256" / desc["digest"].split(":", 1)[1]
        ids.add(json.loads(blob.read_bytes())["config"]["digest"])
    return ids


def _total(out: str) -> str:
    match = re.search(r"^Total reclaimed space: (\S+)$", out, re.M)
    assert match, out
    return match.group(1)


def test_image_prune_asks_first_and_removes_only_dangling_images_no_container_uses(
    nbdocker: RunNbdocker, busybox_tarball: Path, nbdocker_home: Path
) -> None:
    kept = _import(nbdocker, busybox_tarball, ref="keep:1")
    dangling = _import(nbdocker, busybox_tarball, "-c", "ENV D=1")
    used = _import(nbdocker, busybox_tarball, "-c", "ENV U=1")
    ok(nbdocker("create", "--name", "user", used, "true"))

    declined = nbdocker("image", "prune", input=b"n\n")
    assert declined.returncode == 0
    assert declined.stdout.decode() == (
        "WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] "
    )
    assert _listed_ids(nbdocker_home) == {kept, dangling, used}
    no_answer = nbdocker("image", "prune")  # (stdin at its end: the answer is no)
    assert no_answer.returncode == 0 and _listed_ids(nbdocker_home) == {kept, dangling, used}

    out = ok(nbdocker("image", "prune", input=b"y\n"))
    assert f"Deleted Images:\ndeleted: {dangling}\n\n" in out
    assert _total(out) != "0B"
    assert _listed_ids(nbdocker_home) == {kept, used}
    assert not (nbdocker_home / "blobs" / "sha256" / dangling.split(":", 1)[1]).exists()

    out = ok(nbdocker("image", "prune", "-a", "-f"))
    assert out.startswith("Deleted Images:\nuntagged: keep:1\ndeleted: " + kept + "\n")
    assert _listed_ids(nbdocker_home) == {used}  # the container's image stays
    ok(nbdocker("run", "--rm", used, "true"))
    assert ok(nbdocker("image", "prune", "-a", "-f")) == "Total reclaimed space: 0B\n"
    assert nbdocker("fsck").returncode == 0


def test_container_prune_removes_stopped_containers_and_keeps_running_ones(
    nbdocker: RunNbdocker, busybox_tarball: Path, nbdocker_home: Path
) -> None:
    image = _import(nbdocker, busybox_tarball, ref="base:1")
    ok(nbdocker("run", "--name", "done", image, "sh", "-c", "head -c 5000 /dev/zero > /big"))
    ok(nbdocker("create", "--name", "fresh", image, "true"))
    ok(nbdocker("run", "-d", "--name", "busy", image, "sleep", "60"))
    try:
        out = ok(nbdocker("container", "prune", input=b"y\n"))
        assert out.startswith(
            "WARNING! This will remove all stopped containers.\n"
            "Are you sure you want to continue? [y/N] Deleted Containers:\n"
        )
        assert _total(out) == "5kB"
        rows = ok(nbdocker("ps", "-a")).splitlines()[1:]
        assert [row.split()[-1] for row in rows] == ["busy"]
    finally:
        ok(nbdocker("rm", "-f", "busy"))
    assert ok(nbdocker("ps", "-a", "-q")) == ""


def test_builder_prune_drops_stale_steps_then_all_and_the_images_still_work(
    nbdocker: RunNbdocker, busybox_tarball: Path, nbdocker_home: Path, tmp_path: Path
) -> None:
    base = _import(nbdocker, busybox_tarball, "-c", 'CMD ["/bin/sh"]', ref="base:1")
    # A build that fails at its last step leaves its first steps cached, for no image.
    failed = "FROM base:1\nRUN echo one > /one\nRUN echo two > /two\nRUN false\n"
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text(failed)
    assert nbdocker("build", "-t", "app:1", tmp_path / "ctx").returncode == 1
    stale = set(ok(nbdocker("images", "-a", "-q", "--no-trunc")).split()) - {base}
    assert len(stale) == 2
    app = _build(nbdocker, tmp_path / "ctx", "FROM base:1\nRUN echo uno > /one\n", "-t", "app:1")

    out = ok(nbdocker("builder", "prune", "-f"))
    assert out.startswith("Deleted build cache objects:\n")
    assert {line for line in out.splitlines() if line.startswith("sha256:")} == stale
    assert _total(out) != "0B"
    # app:1's own step stays cached: a rebuild takes it from the cache.
    again = ok(nbdocker("build", tmp_path / "ctx"))
    assert again.count("Using cache") == 1

    declined = nbdocker("builder", "prune", "-a", input=b"\n")
    assert declined.stdout.decode().startswith("WARNING! This will remove all build cache.\n")
    out = ok(nbdocker("builder", "prune", "-a", "-f"))
    assert out.startswith("Deleted build cache objects:\nsha256:")  # (app:1's step: it stays)
    assert ok(nbdocker("images", "-a", "-q")).count("\n") == 2  # base and app only
    assert "Using cache" not in ok(nbdocker("build", tmp_path / "ctx"))
    assert ok(nbdocker("run", "--rm", app, "cat", "/one")) == "uno\n"
    assert ok(nbdocker("fsck")) == ""


def test_intermediate_images_listed_by_images_a_work_with_inspect_save_tag_and_rmi(
    nbdocker: RunNbdocker, busybox_tarball: Path, tmp_path: Path
) -> None:
    _import(nbdocker, busybox_tarball, ref="base:1")
    dockerfile = "FROM base:1\nRUN echo a > /a\nENV B=1\n"
    final = _build(nbdocker, tmp_path / "ctx", dockerfile, "-t", "t:1")
    listed = ok(nbdocker("images", "-a", "-q", "--no-trunc")).split()
    (step,) = [i for i in listed if i != final and ok(nbdocker("inspect", i)).count("base") == 0]
    inspected = json.loads(ok(nbdocker("inspect", step)))[0]
    assert inspected["Id"] == step and inspected["RepoTags"] == []
    assert ok(nbdocker("history", "-q", step)).split()[0] == step[7:19]
    ok(nbdocker("save", "-o", tmp_path / "step.tar", step))
    assert (tmp_path / "step.tar").stat().st_size > 0
    # It has a child (the ENV step made t:1 on it): as Docker, it cannot be removed.
    refused = nbdocker("rmi", step)
    assert refused.returncode == 1
    assert "image has dependent child images" in refused.stderr.decode()
    # As `docker run <ID of a step>`: a container of it, which keeps it through a prune -a.
    assert ok(nbdocker("run", "--name", "fromstep", step[7:19], "cat", "/a")) == "a\n"
    ok(nbdocker("builder", "prune", "-a", "-f"))
    ok(nbdocker("commit", "fromstep", "fromstep:1"))
    assert ok(nbdocker("run", "--rm", "fromstep:1", "cat", "/a")) == "a\n"
    ok(nbdocker("tag", step[7:19], "step:1"))
    ok(nbdocker("rm", "fromstep"))
    ok(nbdocker("rmi", "t:1", "step:1", "fromstep:1"))
    assert ok(nbdocker("images", "-a", "-q")).count("\n") == 1  # base only
    assert nbdocker("fsck").returncode == 0


def test_system_df_counts_and_system_prune_reclaims(
    nbdocker: RunNbdocker, busybox_tarball: Path, nbdocker_home: Path, tmp_path: Path
) -> None:
    image = _import(nbdocker, busybox_tarball, ref="base:1")
    _import(nbdocker, busybox_tarball, "-c", "ENV D=1")
    ok(nbdocker("run", "--name", "c", image, "sh", "-c", "head -c 3000 /dev/zero > /f"))
    lines = ok(nbdocker("system", "df")).splitlines()
    assert lines[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    rows = {line[:16].strip(): line[16:].split() for line in lines[1:]}
    assert list(rows) == ["Images", "Containers", "Local Volumes", "Build Cache"]
    assert rows["Images"][:2] == ["2", "1"]  # two images, one used by a container
    assert rows["Containers"] == ["1", "0", "3kB", "3kB", "(100%)"]
    assert rows["Local Volumes"] == ["0", "0", "0B", "0B", "(0%)"]

    out = ok(nbdocker("system", "prune", input=b"y\n"))
    assert out.startswith(
        "WARNING! This will remove:\n  - all stopped containers\n  - all dangling images\n"
        "  - all dangling build cache\n\nAre you sure you want to continue? [y/N] "
        "Deleted Containers:\n"
    )
    assert "\nDeleted Images:\ndeleted: sha256:" in out
    rows = {
        line[:16].strip(): line[16:].split()
        for line in ok(nbdocker("system", "df")).splitlines()[1:]
    }
    assert rows["Images"][:2] == ["1", "0"] and rows["Containers"][:3] == ["0", "0", "0B"]
    out = ok(nbdocker("system", "prune", "-a", "-f"))
    assert "untagged: base:1" in out
    assert ref_names(nbdocker_home) == []
    assert sorted(p.name for p in (nbdocker_home / "blobs" / "sha256").iterdir()) == []


def _leftovers(home: Path) -> list[Path]:
    """What a killed build, pull and index write leave, made by a process that is gone."""
    made = [
        home / "builds" / f"{DEAD_PID}-0a1b2c3d4e5f",
        home / "builds" / f"context-{DEAD_PID}-0a1b2c3d4e5f",
        home / "ingest" / f"{DEAD_PID}-partial",
        home / "layers" / f".tmp-{DEAD_PID}-half",
        home / f".tmp-{DEAD_PID}-x-index.json",
    ]
    for path in made:
        if path.name.startswith(".tmp-") and path.suffix == ".json":
            path.write_bytes(b"{")
        elif path.parent.name == "ingest":
            path.write_bytes(b"x" * 1000)
        else:
            (path / "etc").mkdir(parents=True)
            (path / "etc" / "file").write_bytes(b"y" * 2000)
    return made


def test_fsck_lists_leftovers_of_killed_commands_and_repair_or_prune_removes_them(
    nbdocker: RunNbdocker, busybox_tarball: Path, nbdocker_home: Path
) -> None:
    _import(nbdocker, busybox_tarball, ref="base:1")
    ok(nbdocker("run", "--rm", "base:1", "true"))  # (unpacks the layer)
    made = _leftovers(nbdocker_home)
    live = nbdocker_home / "builds" / f"{os.getpid()}-000000000000"  # a live process's build
    live.mkdir()

    found = nbdocker("fsck")
    assert found.returncode == 1
    lines = found.stdout.decode().splitlines()
    assert len(lines) == len(made), lines
    for path in made:
        rel = path.relative_to(nbdocker_home)
        assert f"leftover {rel}: left by a command that was killed" in lines
    assert "5 problems" in found.stderr.decode()
    df = ok(nbdocker("system", "df", "-v"))
    assert "builds/" + f"{DEAD_PID}-0a1b2c3d4e5f" in df and live.name not in df

    repaired = nbdocker("fsck", "--repair")
    assert repaired.returncode == 0, repaired.stdout.decode() + repaired.stderr.decode()
    lines = repaired.stdout.decode().splitlines()
    assert all(line.startswith("repaired: leftover ") for line in lines)
    assert not any(p.exists() for p in made) and live.is_dir()
    assert nbdocker("fsck").returncode == 0

    made = _leftovers(nbdocker_home)
    ok(nbdocker("build", "-q", "-", input=b"FROM base:1\nENV X=1\n"))  # the next build
    assert not made[0].exists() and not made[1].exists() and live.is_dir()
    assert made[4].exists()  # (the rest is not a build's: prune removes it)
    out = ok(nbdocker("builder", "prune", "-f"))
    assert f".tmp-{DEAD_PID}-x-index.json" in out
    assert not any(p.exists() for p in made) and live.is_dir()
    assert ok(nbdocker("run", "--rm", "base:1", "echo", "fine")) == "fine\n"


def test_fsck_names_the_images_a_corrupt_layer_blob_breaks_and_cannot_repair_it(
    nbdocker: RunNbdocker, busybox_tarball: Path, nbdocker_home: Path
) -> None:
    image = _import(nbdocker, busybox_tarball, ref="base:1")
    ok(nbdocker("tag", "base:1", "other:2"))
    manifest = json.loads(
        (nbdocker_home / "blobs" / "sha256" / index(nbdocker_home)[0]["digest"][7:]).read_bytes()
    )
    layer = nbdocker_home / "blobs" / "sha256" / manifest["layers"][0]["digest"][7:]
    data = bytearray(layer.read_bytes())
    data[len(data) // 2] ^= 0xFF
    layer.chmod(0o644)
    layer.write_bytes(bytes(data))

    found = nbdocker("fsck")
    assert found.returncode == 1
    (line,) = found.stdout.decode().splitlines()
    assert line.startswith(f"layer blob sha256:{layer.name} is corrupt: its content hashes to ")
    assert line.endswith("needed by docker.io/library/base:1, docker.io/library/other:2")
    repaired = nbdocker("fsck", "--repair")
    assert repaired.returncode == 1
    assert repaired.stdout.decode().startswith("not repaired: layer blob ")
    assert "pull, load or build them again" in repaired.stdout.decode()
    assert layer.exists() and _listed_ids(nbdocker_home) == {image}


def test_fsck_repairs_a_corrupt_unpacked_layer_and_an_unneeded_corrupt_blob(
    nbdocker: RunNbdocker, busybox_tarball: Path, nbdocker_home: Path
) -> None:
    _import(nbdocker, busybox_tarball, ref="base:1")
    ok(nbdocker("run", "--rm", "base:1", "true"))  # (unpacks the layer)
    (unpacked,) = [p for p in (nbdocker_home / "layers").iterdir() if not p.name.startswith(".")]
    (unpacked / "etc" / "passwd").write_text("changed\n")
    stray = nbdocker_home / "blobs" / "sha256" / ("0" * 64)
    stray.write_bytes(b"not what its name says")

    found = nbdocker("fsck")
    assert found.returncode == 1
    lines = found.stdout.decode().splitlines()
    assert f"blob sha256:{'0' * 64} is corrupt" in lines[0] and "no image needs it" in lines[0]
    assert lines[1] == (
        f"unpacked layer layers/{unpacked.name} differs from its blob: etc/passwd differs"
    )
    repaired = nbdocker("fsck", "--repair")
    assert repaired.returncode == 0, repaired.stdout.decode()
    assert not stray.exists() and not unpacked.exists()
    assert ok(nbdocker("fsck")) == ""
    assert ok(nbdocker("run", "--rm", "base:1", "head", "-c", "4", "/etc/passwd")) == "root"


def test_a_build_running_while_a_prune_runs_keeps_its_folder_and_succeeds(
    nbdocker: RunNbdocker, busybox_tarball: Path, nbdocker_home: Path, tmp_path: Path
) -> None:
    _import(nbdocker, busybox_tarball, ref="base:1")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "data").write_bytes(b"d" * 10000)
    (ctx / "Dockerfile").write_text(
        "FROM base:1\nCOPY data /data\nRUN sleep 4 && cat /data | wc -c > /n\n"
    )
    env = {**os.environ, "NBDOCKER_HOME": str(nbdocker_home)}
    import sys

    build = subprocess.Popen(
        [sys.executable, "-m", "nbdocker", "build", "-t", "slow:1", str(ctx)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        builds = nbdocker_home / "builds"
        deadline = time.monotonic() + 60
        while not (builds.is_dir() and any(builds.iterdir())):
            assert build.poll() is None, build.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        out = ok(nbdocker("system", "prune", "-a", "-f"))
        assert "builds/" not in out
        assert any(builds.iterdir())
        stdout, stderr = build.communicate(timeout=120)
    finally:
        if build.poll() is None:
            build.kill()
    assert build.returncode == 0, stderr.decode()
    assert ok(nbdocker("run", "--rm", "slow:1", "cat", "/n")).strip() == "10000"
    checked = nbdocker("fsck")
    assert checked.returncode == 0, checked.stdout.decode()
    assert not any(builds.iterdir())


@pytest.mark.parametrize("verb", [["image", "prune"], ["builder", "prune"], ["system", "prune"]])
def test_prune_usage_errors_exit_2(nbdocker: RunNbdocker, verb: list[str]) -> None:
    result = nbdocker(*verb, "--bogus")
    assert result.returncode == 2
    assert len(result.stderr.decode().strip().splitlines()) == 1


def test_fsck_shows_its_progress_on_a_terminal(
    nbdocker: RunNbdocker, nbdocker_home: Path, tmp_path: Path
) -> None:
    import sys

    from tests.support.rootfs import make_rootfs_tarball
    from tests.support.terminal import run_on_terminal

    (tmp_path / "rootfs").mkdir()
    (tmp_path / "rootfs" / "big").write_bytes(os.urandom(60_000_000))
    tarball = make_rootfs_tarball(tmp_path / "rootfs", tmp_path / "big.tar", "none")
    ok(nbdocker("import", tarball, "big:1"))
    env = dict(os.environ, NBDOCKER_HOME=str(nbdocker_home), COLUMNS="100", TERM="xterm")
    code, text, out = run_on_terminal(
        [sys.executable, "-m", "nbdocker", "fsck"], env, capture_stdout=True
    )
    assert code == 0 and out == b""
    assert "fsck blobs" in text and "MB" in text, text[:500]
    assert "checked 3 blobs, 1 image entries, 0 unpacked layers: no problems" in text
