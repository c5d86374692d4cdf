"""Tests of the test support itself: the real engine, the busybox rootfs, require()."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest

from tests.support import RunNbdocker
from tests.support.dockerd import DockerEngine, DockerEngineError, _process_tree
from tests.support.real import ENV_REQUIRE_REAL, require
from tests.support.rootfs import COMPRESSIONS, SUFFIXES, Compression, make_rootfs_tarball

REPO_ROOT = Path(__file__).resolve().parents[2]

# ---------------------------------------------------------------- the real Docker engine


@pytest.mark.docker
def test_busybox_tarball_imports_and_runs_in_docker(
    docker_engine: DockerEngine, busybox_tarball: Path
) -> None:
    image_id = docker_engine.run("import", busybox_tarball, "nbdocker-test/busybox:import")
    assert image_id.stdout.strip().startswith("sha256:")
    out = docker_engine.run(
        "run", "--rm", "--network", "none", "nbdocker-test/busybox:import", "echo", "ok"
    )
    assert out.stdout == "ok\n"


@pytest.mark.docker
def test_busybox_image_has_users_tmp_and_host_network(
    docker_engine: DockerEngine, busybox_tarball: Path
) -> None:
    # `cat rootfs.tar.gz | docker import - repo:tag`, as the tutorial does it, with bytes stdin
    docker_engine.run(
        "import", "-", "nbdocker-test/busybox:stdin", input=busybox_tarball.read_bytes()
    )
    script = "id -un; stat -c %a /tmp; su nobody -s /bin/sh -c 'id -u'"
    out = docker_engine.run(
        "run", "--rm", "--network", "host", "nbdocker-test/busybox:stdin", "sh", "-c", script
    )
    assert out.stdout.split() == ["root", "1777", "65534"]


@pytest.mark.docker
def test_docker_engine_is_private_and_saves_bytes(
    docker_engine: DockerEngine, busybox_tarball: Path
) -> None:
    assert docker_engine.host.startswith("unix://")
    assert docker_engine.socket.is_socket()
    assert docker_engine.storage_driver in {"overlay2", "vfs"}
    assert (docker_engine.state_dir / "key.json").exists()  # not /etc/docker/key.json
    docker_engine.run("import", busybox_tarball, "nbdocker-test/busybox:save")
    saved = docker_engine.run("save", "nbdocker-test/busybox:save", text=False)
    assert isinstance(saved.stdout, bytes)
    with tarfile.open(fileobj=io.BytesIO(saved.stdout)) as tar:
        assert "manifest.json" in tar.getnames()


@pytest.mark.docker
def test_docker_run_failure_shows_stderr(docker_engine: DockerEngine) -> None:
    with pytest.raises(subprocess.CalledProcessError) as info:
        docker_engine.run("image", "inspect", "nbdocker-test/no-such-image:latest")
    assert "No such image" in str(info.value)
    result = docker_engine.run("image", "inspect", "nbdocker-test/no-such:x", check=False)
    assert result.returncode != 0


@pytest.mark.docker
@pytest.mark.root
def test_engine_stop_leaves_nothing_behind(
    busybox_tarball: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A second engine with a running container: stop() ends every process and mount."""
    if os.geteuid() != 0:
        require("root", "starting dockerd needs root")
    state = tmp_path_factory.mktemp("dstop")
    if len(str(state)) > 60:  # unix socket paths below it must stay short
        state = Path(tempfile.mkdtemp(prefix="nbd-", dir="/tmp"))
    engine = DockerEngine(state)
    try:
        engine.start()
    except DockerEngineError as exc:
        engine.stop()
        require("docker", f"dockerd will not start: {exc}")
    try:
        engine.run("import", busybox_tarball, "bb:stop")
        engine.run("run", "-d", "--network", "none", "bb:stop", "sleep", "1000")
        assert engine.pid is not None
        tree = _process_tree(engine.pid)
        assert len(tree) >= 4  # docker-init, dockerd, containerd, a shim, sleep
    finally:
        engine.stop()
    alive = [pid for pid, _ in tree if Path(f"/proc/{pid}").exists()]
    assert alive == []
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(state) not in mounts
    assert engine.log_path.exists()
    assert not engine.data_root.exists()
    shutil.rmtree(state)


# ---------------------------------------------------------------- rootfs and tarballs


def test_busybox_rootfs_layout(busybox_rootfs: Path) -> None:
    busybox = busybox_rootfs / "bin" / "busybox"
    assert busybox.is_file() and not busybox.is_symlink()
    assert os.readlink(busybox_rootfs / "bin" / "sh") == "busybox"
    assert (busybox_rootfs / "tmp").stat().st_mode & 0o7777 == 0o1777
    assert "nobody:x:65534:65534" in (busybox_rootfs / "etc" / "passwd").read_text()
    assert (busybox_rootfs / "etc" / "group").read_text().startswith("root:x:0:")
    assert (busybox_rootfs / "root").is_dir()


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_rootfs_tarball_is_deterministic(
    busybox_rootfs: Path, tmp_path: Path, compression: Compression
) -> None:
    suffix = SUFFIXES[compression]
    first = make_rootfs_tarball(busybox_rootfs, tmp_path / f"a{suffix}", compression)
    second = make_rootfs_tarball(busybox_rootfs, tmp_path / f"b{suffix}", compression)
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (first, second)]
    assert digest[0] == digest[1]
    if compression == "zstd":
        return  # tarfile reads zstd only from Python 3.14
    with tarfile.open(first) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]  # tarfile drops a directory's trailing slash
    assert names[:2] == [".", "./bin"]
    assert all(n == "." or n.startswith("./") for n in names)
    assert names.index("./bin/busybox") < names.index("./etc") < names.index("./etc/passwd")
    assert names.index("./etc/passwd") < names.index("./root") < names.index("./tmp")
    assert {(m.uid, m.gid, m.mtime) for m in members} == {(0, 0, 0)}


def test_gzip_tarball_header_has_no_name_or_time(busybox_tarball: Path) -> None:
    header = busybox_tarball.read_bytes()[:10]
    assert header[:2] == b"\x1f\x8b"
    assert header[3] & 0x08 == 0  # FNAME flag unset
    assert header[4:8] == b"\0\0\0\0"  # MTIME
    gzip.decompress(busybox_tarball.read_bytes())


# ---------------------------------------------------------------- require() and CI mode


def test_require_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_REQUIRE_REAL, raising=False)
    with pytest.raises(pytest.skip.Exception, match="needs docker: not here"):
        require("docker", "not here")


def test_require_fails_in_require_real_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_REQUIRE_REAL, "1")
    with pytest.raises(pytest.fail.Exception, match="needs docker: not here"):
        require("docker", "not here")


_INNER_CONFTEST = """
from tests.support.real import SkipGuard

def pytest_configure(config):
    config.pluginmanager.register(SkipGuard(), SkipGuard.name)
"""

_INNER_TESTS = """
import pytest
from tests.support.real import require

def test_needs_component():
    require("a-component", "it is not installed")

@pytest.mark.skip(reason="plain skip")
def test_plain_skip():
    pass

@pytest.mark.xfail(reason="expected")
def test_xfail():
    assert False

def test_passes():
    pass
"""


def _inner_env(monkeypatch: pytest.MonkeyPatch, require_real: str | None) -> None:
    """The inner pytest (a subprocess) must import tests.support and see the mode we want."""
    path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
    monkeypatch.setenv("PYTHONPATH", path)
    if require_real is None:
        monkeypatch.delenv(ENV_REQUIRE_REAL, raising=False)
    else:
        monkeypatch.setenv(ENV_REQUIRE_REAL, require_real)


def _run_inner(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, require_real: str | None
) -> pytest.RunResult:
    pytester.makeconftest(_INNER_CONFTEST)
    pytester.makepyfile(test_inner=_INNER_TESTS)
    _inner_env(monkeypatch, require_real)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs")


def test_require_real_turns_skips_into_failures(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run_inner(pytester, monkeypatch, "1")
    result.assert_outcomes(passed=1, failed=1, skipped=1, xfailed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*skips are failures*", "SKIPPED *test_plain_skip*plain skip*"])


def test_skip_guard_fails_a_session_whose_only_problem_is_a_skip(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeconftest(_INNER_CONFTEST)
    pytester.makepyfile(
        test_only_skip="import pytest\n\ndef test_a():\n    pytest.skip('no component')\n"
    )
    _inner_env(monkeypatch, "1")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(skipped=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_without_require_real_skips_are_skips(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run_inner(pytester, monkeypatch, None)
    result.assert_outcomes(passed=1, skipped=2, xfailed=1)
    assert result.ret == pytest.ExitCode.OK


# ---------------------------------------------------------------- the nbdocker fixture


def test_nbdocker_fixture_runs_the_module_with_its_home(
    nbdocker: RunNbdocker, nbdocker_home: Path
) -> None:
    assert os.environ["NBDOCKER_HOME"] == str(nbdocker_home)
    result = nbdocker("--help")
    assert isinstance(result.stdout, bytes) and isinstance(result.stderr, bytes)
    assert result.args[:3] == [sys.executable, "-m", "nbdocker"]
    assert result.returncode == 0 and result.stdout.startswith(b"usage: nbdocker")
    # the command runs on the fixture's store: the version verb names it
    version = json.loads(nbdocker("version", "--format", "json").stdout)
    assert version["Server"]["Store"] == str(nbdocker_home)
