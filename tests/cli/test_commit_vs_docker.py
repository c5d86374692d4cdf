"""``nbdocker commit`` makes the same file tree ``docker commit`` makes from the same changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import RunNbdocker
from tests.support.dockerd import DockerEngine
from tests.support.trees import tree_of_export

# create, modify, delete a file, delete a directory, replace a directory with a file, symlink,
# hardlink, chmod, chown, setuid, a directory emptied and refilled (opaque), a file with a name
# that needs PAX, and a FIFO.
CHANGES = " && ".join(
    [
        "echo new > /created",
        "echo more >> /etc/passwd",
        "rm /etc/group",
        "rm -rf /root",
        "rm -rf /tmp && echo now-a-file > /tmp",
        "ln -s /etc/passwd /link",
        "ln /created /hardlink",
        "chmod 600 /etc/passwd",
        "mkdir -p /srv/app && chown 1000:1000 /srv/app",
        "cp /bin/busybox /srv/suid && chmod 4755 /srv/suid",
        "mkdir -p /data/old && echo o > /data/old/f && echo k > /data/keep",
        "mkfifo /fifo",
        f"echo long > /{'x' * 120}",
    ]
)
SECOND = "rm -rf /data && mkdir /data && echo fresh > /data/new"


@pytest.mark.docker
def test_same_changes_same_tree_as_docker_commit(
    nbdocker: RunNbdocker, docker_engine: DockerEngine, busybox_tarball: Path, tmp_path: Path
) -> None:
    # nbdocker: import, run the changes in two containers (two layers), commit, save.
    assert nbdocker("import", busybox_tarball, "cmp/base:1").returncode == 0
    assert nbdocker("run", "--name", "one", "cmp/base:1", "sh", "-c", CHANGES).returncode == 0
    assert nbdocker("commit", "one", "cmp/nb:1").returncode == 0
    assert nbdocker("run", "--name", "two", "cmp/nb:1", "sh", "-c", SECOND).returncode == 0
    committed = nbdocker("commit", "-m", "second", "two", "cmp/nb:2")
    assert committed.returncode == 0, committed.stderr
    archive = tmp_path / "nb.tar"
    assert nbdocker("save", "-o", archive, "cmp/nb:2").returncode == 0

    # Docker: the same base, the same changes, docker commit.
    docker_engine.run("import", busybox_tarball, "cmp/base:1")
    docker_engine.run(
        "run", "--network", "none", "--name", "d-one", "cmp/base:1", "sh", "-c", CHANGES
    )
    docker_engine.run("commit", "d-one", "cmp/docker:1")
    docker_engine.run(
        "run", "--network", "none", "--name", "d-two", "cmp/docker:1", "sh", "-c", SECOND
    )
    docker_engine.run("commit", "d-two", "cmp/docker:2")
    docker_engine.run("rm", "d-one", "d-two")

    # The nbdocker image loads into Docker and runs; exported, both trees are equal.
    docker_engine.run("load", "-i", archive)
    assert (
        docker_engine.run(
            "run", "--rm", "--network", "none", "cmp/nb:2", "cat", "/data/new", "/created"
        ).stdout
        == "fresh\nnew\n"
    )

    def exported(image: str) -> dict:
        cid = docker_engine.run("create", "--network", "none", image, "true").stdout.strip()
        try:
            return tree_of_export(docker_engine.run("export", cid, text=False).stdout)
        finally:
            docker_engine.run("rm", cid)

    ours, theirs = exported("cmp/nb:2"), exported("cmp/docker:2")
    assert ours.keys() == theirs.keys()
    assert ours == theirs
    assert ours["srv/suid"][1] == 0o4755 and ours["srv/app"][2:4] == (1000, 1000)
    assert "data/old" not in ours and ours["tmp"][0] == "f" and ours["link"][0] == "l"
    layers = json.loads(docker_engine.run("inspect", "cmp/nb:2").stdout)[0]["RootFS"]["Layers"]
    assert len(layers) == 3
