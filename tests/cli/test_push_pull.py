"""``push``/``pull``/``login``/``logout`` through the CLI, with the real registry and the real
Docker engine on both ends of the round trips."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from tests.conftest import REGISTRY_USERS
from tests.support import RunNbdocker, ok
from tests.support.dockerd import DockerEngine
from tests.support.registry import Registry

pytestmark = pytest.mark.usefixtures("docker_config")
USER, PASSWORD = next(iter(REGISTRY_USERS.items()))
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def _repo(registry: Registry) -> str:
    return f"{registry.host}/nbdtest/c{uuid.uuid4().hex[:10]}"


@pytest.mark.docker
def test_nbdocker_push_then_docker_pull_and_run(
    nbdocker: RunNbdocker,
    docker_engine: DockerEngine,
    open_registry: Registry,
    busybox_tarball: Path,
) -> None:
    repo = _repo(open_registry)
    image_id = ok(
        nbdocker("import", "-c", 'CMD ["echo", "from cmd"]', busybox_tarball, f"{repo}:v1")
    ).strip()
    ok(nbdocker("tag", f"{repo}:v1", f"{repo}:v2"))
    out = ok(nbdocker("push", repo)).splitlines()
    assert out[0] == f"The push refers to repository [{repo}]"
    assert re.fullmatch(r"[0-9a-f]{12}: Pushed", out[1])
    tagged = [line for line in out if ": digest: " in line]
    assert [line.split(":")[0] for line in tagged] == ["v1", "v2"]
    digest = DIGEST.search(tagged[0])
    assert digest is not None and tagged[0].endswith(f"size: {tagged[0].rsplit(' ', 1)[1]}")

    docker_engine.run("pull", f"{repo}:v2")
    assert docker_engine.run("inspect", "--format", "{{.Id}}", f"{repo}:v2").stdout.strip() == (
        image_id
    )
    run = docker_engine.run("run", "--rm", "--network", "none", f"{repo}:v2")
    assert run.stdout == "from cmd\n"
    repo_digests = docker_engine.run(
        "inspect", "--format", "{{json .RepoDigests}}", f"{repo}:v2"
    ).stdout
    assert f"{repo}@{digest.group(0)}" in json.loads(repo_digests)

    # Twice: nothing is uploaded again.
    again = ok(nbdocker("push", f"{repo}:v1")).splitlines()
    assert [line.split(": ", 1)[1] for line in again[1:-1]] == ["Layer already exists"]
    # Another repository of the same registry: the layer is mounted, not sent.
    other = _repo(open_registry)
    ok(nbdocker("tag", f"{repo}:v1", f"{other}:v1"))
    mounted = ok(nbdocker("push", f"{other}:v1")).splitlines()
    assert mounted[1].endswith(f": Mounted from {repo.split('/', 1)[1]}")


@pytest.mark.docker
def test_docker_push_then_nbdocker_pull_same_id_and_save_runs_in_docker(
    nbdocker: RunNbdocker,
    docker_engine: DockerEngine,
    open_registry: Registry,
    busybox_tarball: Path,
    tmp_path: Path,
) -> None:
    repo = _repo(open_registry)
    docker_engine.run("import", "-c", 'CMD ["/bin/sh"]', busybox_tarball, "nbdtest/pp-base:1")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        "FROM nbdtest/pp-base:1\n"
        "RUN echo hello > /greeting && rm /bin/ls\n"
        'CMD ["cat", "/greeting"]\n'
    )
    docker_engine.run("build", "-q", "--network", "none", "-t", f"{repo}:v1", ctx)
    docker_engine.run("push", f"{repo}:v1")
    docker_id = docker_engine.run("inspect", "--format", "{{.Id}}", f"{repo}:v1").stdout.strip()
    docker_digest = json.loads(
        docker_engine.run("inspect", "--format", "{{json .RepoDigests}}", f"{repo}:v1").stdout
    )[0].split("@", 1)[1]

    out = ok(nbdocker("pull", f"{repo}:v1")).splitlines()
    assert out[0] == f"v1: Pulling from {repo}"
    assert sum(line.endswith(": Pull complete") for line in out) == 2
    assert f"Digest: {docker_digest}" in out
    assert f"Status: Downloaded newer image for {repo}:v1" in out
    assert out[-1] == f"{repo}:v1"
    [info] = json.loads(ok(nbdocker("inspect", f"{repo}:v1")))
    assert info["Id"] == docker_id
    assert info["RepoDigests"] == [f"{repo}@{docker_digest}"]
    digests = ok(nbdocker("images", "--digests", repo)).splitlines()[1]
    assert docker_digest in digests

    # Again: up to date.
    again = ok(nbdocker("pull", f"{repo}:v1")).splitlines()
    assert f"Status: Image is up to date for {repo}:v1" in again
    # By digest.
    ok(nbdocker("rmi", f"{repo}:v1"))
    by_digest = ok(nbdocker("pull", f"{repo}@{docker_digest}")).splitlines()
    assert by_digest[-1] == f"{repo}@{docker_digest}"

    archive = tmp_path / "pulled.tar"
    ok(nbdocker("tag", f"{repo}@{docker_digest}", f"{repo}:v1"))
    ok(nbdocker("save", "-o", archive, f"{repo}:v1"))
    docker_engine.run("rmi", f"{repo}:v1")
    docker_engine.run("load", "-i", archive)
    assert docker_engine.run("inspect", "--format", "{{.Id}}", f"{repo}:v1").stdout.strip() == (
        docker_id
    )
    run = docker_engine.run("run", "--rm", "--network", "none", f"{repo}:v1")
    assert run.stdout == "hello\n"


def test_pull_unknown_tag_is_one_clear_line(nbdocker: RunNbdocker, open_registry: Registry) -> None:
    result = nbdocker("pull", f"{_repo(open_registry)}:nope")
    assert result.returncode == 1
    err = result.stderr.decode()
    assert err.count("\n") == 1 and "not found" in err and "Traceback" not in err


def test_push_without_such_image_is_one_clear_line(
    nbdocker: RunNbdocker, open_registry: Registry
) -> None:
    result = nbdocker("push", _repo(open_registry))
    assert result.returncode == 1
    assert "does not exist locally" in result.stderr.decode()


def test_login_logout_over_tls_with_ca(
    nbdocker: RunNbdocker,
    tls_registry: Registry,
    docker_config: Path,
    busybox_tarball: Path,
) -> None:
    ca = str(tls_registry.ca)
    wrong = nbdocker(
        "login",
        "-u",
        USER,
        "--password-stdin",
        "--ca-cert",
        ca,
        tls_registry.host,
        input=b"wrong-password\n",
    )
    assert wrong.returncode == 1
    assert "wrong user name or password" in wrong.stderr.decode()
    assert b"wrong-password" not in wrong.stderr + wrong.stdout

    good = nbdocker(
        "login",
        "-u",
        USER,
        "--password-stdin",
        "--ca-cert",
        ca,
        tls_registry.host,
        input=PASSWORD.encode() + b"\n",
    )
    assert ok(good) == "Login Succeeded\n"
    assert PASSWORD.encode() not in good.stderr + good.stdout
    assert tls_registry.host in json.loads((docker_config / "config.json").read_text())["auths"]

    repo = _repo(tls_registry)
    ok(nbdocker("import", busybox_tarball, f"{repo}:v1"))
    env = {"NBDOCKER_REGISTRY_CA": ca}
    assert ": digest: sha256:" in ok(nbdocker("push", f"{repo}:v1", env=env))

    assert ok(nbdocker("logout", tls_registry.host)) == (
        f"Removing login credentials for {tls_registry.host}\n"
    )
    denied = nbdocker("push", f"{repo}:v1", env=env)
    assert denied.returncode == 1 and "nbdocker login" in denied.stderr.decode()
