"""The tutorial's container path as an ordinary user at the namespaces level (with and without a
sub-id range): run, change, commit, run the result."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_containers import COUNTER, WRITER
from tests.support.users import User, as_user, drop_user, importable_copy, make_user


@pytest.fixture(scope="module", params=["subids", "root-only"])
def rootless(request: pytest.FixtureRequest) -> Iterator[tuple[User, str]]:
    """A throwaway user (with or without a subordinate id range) and a PYTHONPATH it can use."""
    user = make_user(with_subids=request.param == "subids")
    copy = Path(tempfile.mkdtemp(prefix="nbd-importable-", dir="/tmp"))
    try:
        os.chmod(copy, 0o755)
        yield user, importable_copy(copy)
    finally:
        drop_user(user)
        shutil.rmtree(copy, ignore_errors=True)


def _as(user: User, home: Path, pythonpath: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``nbdocker ARGS`` run as ``user`` with the store ``home``."""
    return subprocess.run(
        [
            *as_user(user.name),
            "env",
            f"NBDOCKER_HOME={home}",
            f"PYTHONPATH={pythonpath}",
            "NBDOCKER_ISOLATION=namespaces",  # (without a sub-id range, auto takes ptrace)
            user.python,
            "-m",
            "nbdocker",
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=user.home,
        check=False,
        timeout=300,
    )


def test_run_change_commit_as_an_ordinary_user(
    rootless: tuple[User, str], busybox_tarball: Path, tmp_path: Path
) -> None:
    user, pythonpath = rootless
    home = user.home / "store"
    tarball = user.home / "rootfs.tar.gz"
    tarball.write_bytes(busybox_tarball.read_bytes())
    os.chown(tarball, user.uid, user.gid)

    def nb(*args: str) -> subprocess.CompletedProcess[str]:
        return _as(user, home, pythonpath, *args)

    imported = nb("import", str(tarball), "training/sinatra")
    assert imported.returncode == 0, imported.stderr
    script = "id -u; echo gem > /json && rm /bin/ls && mkdir /owned && chown 1000:1000 /owned"
    if user.subuid is None:
        script = "id -u; echo gem > /json && rm /bin/ls && mkdir /owned"
    run = nb("run", "--name", "c1", "training/sinatra", "sh", "-c", script)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == "0"  # root inside, the user outside
    assert nb("diff", "c1").stdout.splitlines() == ["C /bin", "D /bin/ls", "A /json", "A /owned"]
    commit = nb("commit", "-m", "Added json gem", "-a", "Docker Newbee", "c1", "ouruser/sinatra:v2")
    assert commit.returncode == 0, commit.stderr
    check = nb(
        "run",
        "--rm",
        "ouruser/sinatra:v2",
        "sh",
        "-c",
        "cat /json; ls /bin/ls 2>&1; stat -c %u /owned",
    )
    assert check.returncode == 0, check.stderr
    lines = check.stdout.splitlines()
    assert lines[0] == "gem" and "No such file" in lines[1]
    assert lines[2] == ("1000" if user.subuid is not None else "0")
    [info] = json.loads(nb("inspect", "ouruser/sinatra:v2").stdout)
    assert info["Author"] == "Docker Newbee" and len(info["RootFS"]["Layers"]) == 2
    # Everything the user made can be removed by the user.
    assert nb("rm", "c1").returncode == 0
    assert nb("rmi", "ouruser/sinatra:v2", "training/sinatra").returncode == 0
    assert not any((home / "layers").glob("[0-9a-f]*"))


def test_build_as_an_ordinary_user(rootless: tuple[User, str], busybox_tarball: Path) -> None:
    user, pythonpath = rootless
    home = user.home / "build-store"
    ctx = user.home / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        "FROM base:1\nCOPY app.txt /app/\nRUN cat /app/app.txt > /app/copy && mkdir /owned"
        + (" && chown 1000:1000 /owned" if user.subuid is not None else "")
        + "\nCOPY --from=base:1 /bin/busybox /app/busybox\n"
    )
    (ctx / "app.txt").write_text("from the context\n")
    tarball = user.home / "rootfs-build.tar.gz"
    tarball.write_bytes(busybox_tarball.read_bytes())
    subprocess.run(["chown", "-R", f"{user.uid}:{user.gid}", str(ctx), str(tarball)], check=True)

    def nb(*args: str) -> subprocess.CompletedProcess[str]:
        return _as(user, home, pythonpath, *args)

    assert nb("import", str(tarball), "base:1").returncode == 0
    built = nb("build", "-t", "rootless:1", str(ctx))
    assert built.returncode == 0, built.stderr + built.stdout
    out = nb("run", "--rm", "rootless:1", "sh", "-c", "cat /app/copy; stat -c %u /owned")
    assert out.stdout.splitlines() == [
        "from the context",
        "1000" if user.subuid is not None else "0",
    ]
    again = nb("build", "-t", "rootless:1", str(ctx))
    assert again.stdout.count("Using cache") == 3


def test_an_unreadable_file_in_the_build_context_is_one_line(rootless: tuple[User, str]) -> None:
    """As Docker checks the context first: the file it cannot read, and how to go on."""
    user, pythonpath = rootless
    ctx = user.home / "unreadable-ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY . /app/\n")
    (ctx / "secret").write_text("not for the image\n")
    subprocess.run(["chown", "-R", f"{user.uid}:{user.gid}", str(ctx)], check=True)
    (ctx / "secret").chmod(0)
    home = user.home / "unreadable-store"
    built = _as(user, home, pythonpath, "build", "-t", "unreadable:1", str(ctx))
    assert built.returncode == 1
    assert built.stderr.splitlines() == [
        f"Error: error checking context: cannot read {ctx}/secret (permission denied); "
        "make it readable, or leave it out with .dockerignore"
    ]
    (ctx / ".dockerignore").write_text("secret\n")
    (ctx / ".dockerignore").chmod(0o644)
    built = _as(user, home, pythonpath, "build", "-t", "unreadable:1", str(ctx))
    assert built.returncode == 0, built.stderr


def test_a_step_that_fails_in_the_user_namespace_names_its_line(
    rootless: tuple[User, str], busybox_tarball: Path
) -> None:
    """The helper's failure comes back as data: the build's error is the step's own one line,
    at its Dockerfile line, and nothing is tagged."""
    user, pythonpath = rootless
    home = user.home / "failing-store"
    ctx = user.home / "failing-ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM base:1\nCOPY --chown=ghost app.txt /app/\n")
    (ctx / "app.txt").write_text("x\n")
    tarball = user.home / "rootfs-failing.tar.gz"
    tarball.write_bytes(busybox_tarball.read_bytes())
    subprocess.run(["chown", "-R", f"{user.uid}:{user.gid}", str(ctx), str(tarball)], check=True)

    def nb(*args: str) -> subprocess.CompletedProcess[str]:
        return _as(user, home, pythonpath, *args)

    assert nb("import", str(tarball), "base:1").returncode == 0
    built = nb("build", "-t", "failing:1", str(ctx))
    assert built.returncode == 1
    error = built.stderr.strip().splitlines()[-1]
    assert error.startswith("Error: Dockerfile:2: --chown=ghost: unable to find user ghost"), error
    assert "Traceback" not in built.stderr
    assert nb("images", "-q", "failing").stdout.strip() == ""


def test_commit_pauses_a_running_container_as_an_ordinary_user(
    rootless: tuple[User, str], busybox_tarball: Path
) -> None:
    """As ``test_containers``' pause test, with the container's processes in a user namespace
    (and, with a sub-id range, running as a sub-uid): the user may stop and continue them."""
    user, pythonpath = rootless
    home = user.home / "pause-store"
    tarball = user.home / "rootfs-pause.tar.gz"
    tarball.write_bytes(busybox_tarball.read_bytes())
    os.chown(tarball, user.uid, user.gid)
    assert _as(user, home, pythonpath, "import", str(tarball), "base:1").returncode == 0
    who = ["-u", "1000"] if user.subuid is not None else []
    argv = [*as_user(user.name), "env", f"NBDOCKER_HOME={home}", f"PYTHONPATH={pythonpath}"]
    argv += ["NBDOCKER_ISOLATION=namespaces", user.python, "-m", "nbdocker"]
    proc = subprocess.Popen(
        [*argv, "run", "--name", "writer", *who, "base:1", "sh", "-c", WRITER],
        cwd=user.home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        for n in range(10):
            done = _as(user, home, pythonpath, "commit", "writer", f"snap:{n}")
            assert done.returncode == 0, done.stderr
            ran = _as(user, home, pythonpath, "run", "--rm", f"snap:{n}", "sh", "-c", COUNTER)
            assert ran.stdout.strip().isdigit(), ran.stderr
        assert proc.poll() is None
    finally:
        _as(user, home, pythonpath, "rm", "-f", "writer")
        proc.wait(timeout=30)
