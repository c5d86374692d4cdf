"""Fixtures that start and provide the real components (see tests/support and GUIDE.md).

- ``docker_engine`` (session): a private dockerd (:class:`DockerEngine`); ``.run(...)`` runs
  ``/usr/bin/docker`` against it. Containers must use ``--network none`` or ``--network host``.
- ``busybox_rootfs`` (session): a busybox root filesystem directory; ``busybox_tarball``
  (session): that tree as a deterministic ``.tar.gz``.
- ``nbdocker_home`` (function): an empty directory set as ``NBDOCKER_HOME``.
- ``nbdocker`` (function): run ``python -m nbdocker ARGS`` with that home, never raising.
- ``skopeo`` (session): path of ``/usr/bin/skopeo``.

A missing real component goes through ``require()``: skip locally, fail in CI
(``NBDOCKER_REQUIRE_REAL=1``), where any skipped test also makes the session fail.
Service logs live under pytest's basetemp (``--basetemp``), e.g. ``dockerd0/dockerd.log``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # `tests.support` must import under plain `pytest` too
    sys.path.insert(0, str(REPO_ROOT))

from tests.support import RunNbdocker  # noqa: E402
from tests.support.dockerd import (  # noqa: E402
    DOCKER_CLI,
    DockerEngine,
    DockerEngineError,
    find_dockerd,
)
from tests.support.real import SkipGuard, require  # noqa: E402
from tests.support.registry import (  # noqa: E402
    REGISTRY,
    FaultProxy,
    Registry,
    TokenIssuer,
    make_ca,
    make_server_cert,
    registry_available,
    write_htpasswd,
)
from tests.support.rootfs import (  # noqa: E402
    BUSYBOX,
    make_busybox_rootfs,
    make_rootfs_tarball,
)

pytest_plugins = ["pytester"]

SKOPEO = "/usr/bin/skopeo"

# ---------------------------------------------------------------- CI: skips are failures


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin(SkipGuard.name):
        config.pluginmanager.register(SkipGuard(), SkipGuard.name)


# Fixtures that start or need a real service or a slow external tool. A test that uses one is
# marked ``services``; ``-m "not services"`` is the unit-level part of the suite (what the
# fresh-clone test runs again from a clean clone).
SERVICE_FIXTURES = frozenset(
    {
        "docker_engine",
        "open_registry",
        "tls_registry",
        "token_registry",
        "fault_proxy",
        "skopeo",
        "debian_tarball",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.services)


# ---------------------------------------------------------------- Docker engine


def _engine_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory for dockerd's state: under basetemp when that is short enough for the
    unix sockets below it, else a fresh one in /tmp."""
    candidate = tmp_path_factory.mktemp("dockerd")
    if len(str(candidate)) <= 60:
        return candidate
    return Path(tempfile.mkdtemp(prefix="nbd-", dir="/tmp"))


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerEngine]:
    """A private Docker engine for the whole session, stopped (and its data removed) at the
    end. Its log is ``docker_engine.log_path``."""
    if find_dockerd() is None:
        require("docker", "dockerd not found in /usr/sbin or /usr/bin (apt-get install docker.io)")
    if not os.access(DOCKER_CLI, os.X_OK):
        require("docker", f"{DOCKER_CLI} not found (apt-get install docker.io)")
    if os.geteuid() != 0:
        require("docker", "starting dockerd needs root")
    engine = DockerEngine(_engine_state_dir(tmp_path_factory))
    try:
        engine.start()
    except DockerEngineError as exc:
        engine.stop()
        require("docker", f"dockerd will not start: {exc}")
    try:
        yield engine
    finally:
        engine.stop()


# ---------------------------------------------------------------- root filesystems


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A busybox-static root filesystem (``bin/busybox`` + applet links, ``etc/passwd``…).
    Shared by the session: do not modify it; copy it first."""
    if not os.path.exists(BUSYBOX):
        require("busybox-static", f"{BUSYBOX} not found (apt-get install busybox-static)")
    try:
        return make_busybox_rootfs(tmp_path_factory.mktemp("busybox") / "rootfs")
    except ValueError as exc:
        require("busybox-static", str(exc))


@pytest.fixture(scope="session")
def busybox_tarball(busybox_rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The busybox root filesystem as a deterministic ``.tar.gz`` (entries ``./bin/…``)."""
    out = tmp_path_factory.mktemp("busybox-tar") / "busybox-rootfs.tar.gz"
    return make_rootfs_tarball(busybox_rootfs, out, "gzip")


# ---------------------------------------------------------------- nbdocker CLI


@pytest.fixture
def nbdocker_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """An empty nbdocker home (store, cache, containers) for one test, as ``NBDOCKER_HOME``."""
    home = tmp_path_factory.mktemp("nbdocker-home")
    monkeypatch.setenv("NBDOCKER_HOME", str(home))
    return home


@pytest.fixture
def nbdocker(nbdocker_home: Path) -> RunNbdocker:
    """Run ``python -m nbdocker ARGS`` (stdin from `input`, else nothing) with the test's
    ``NBDOCKER_HOME``; returns the CompletedProcess with bytes stdout/stderr and never raises
    on a non-zero exit."""

    def run(
        *args: str | os.PathLike[str],
        input: bytes | None = None,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = 600,
    ) -> subprocess.CompletedProcess[bytes]:
        full_env = dict(os.environ)
        full_env["NBDOCKER_HOME"] = str(nbdocker_home)
        if env:
            full_env.update(env)
        return subprocess.run(
            [sys.executable, "-m", "nbdocker", *(os.fspath(a) for a in args)],
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            cwd=cwd,
            env=full_env,
            timeout=timeout,
            check=False,
        )

    return run


# ---------------------------------------------------------------- a web server


@pytest.fixture
def web_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on 127.0.0.1 serving a fresh directory: (base URL, directory)."""
    import http.server
    import threading

    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: object, **kw: object) -> None:
            super().__init__(*a, directory=str(root), **kw)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- other tools


@pytest.fixture(scope="session")
def skopeo() -> str:
    """Path of Debian's skopeo, for reading our OCI layouts and archives."""
    if not os.access(SKOPEO, os.X_OK):
        require("skopeo", f"{SKOPEO} not found (apt-get install skopeo)")
    return SKOPEO


# ---------------------------------------------------------------- registries (support/registry.py)

REGISTRY_USERS = {"ouruser": "s3cret-pw"}


@pytest.fixture
def docker_config(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """An empty ``DOCKER_CONFIG`` directory, so logins never touch ~/.docker."""
    directory = tmp_path_factory.mktemp("docker-config")
    monkeypatch.setenv("DOCKER_CONFIG", str(directory))
    for name in ("NBDOCKER_INSECURE_REGISTRIES", "NBDOCKER_REGISTRY_CA"):
        monkeypatch.delenv(name, raising=False)
    return directory


def _start_registry(registry: Registry) -> Registry:
    if not registry_available():
        require("docker-registry", f"{REGISTRY} not found (apt-get install docker-registry)")
    try:
        return registry.start()
    except RuntimeError as exc:
        require("docker-registry", f"it will not start: {exc}")


@pytest.fixture(scope="session")
def open_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A registry without auth over plain HTTP on 127.0.0.1 (Docker reaches it as is)."""
    registry = _start_registry(Registry(tmp_path_factory.mktemp("registry-open")))
    try:
        yield registry
    finally:
        registry.stop()


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """htpasswd (bcrypt) Basic auth over TLS with a test CA; users ``REGISTRY_USERS``;
    the CA's PEM is ``registry.ca``."""
    directory = tmp_path_factory.mktemp("registry-tls")
    try:
        ca, ca_key = make_ca(directory)
        server = make_server_cert(directory, ca_key)
        htpasswd = write_htpasswd(directory / "htpasswd", REGISTRY_USERS)
    except ImportError as exc:
        require("cryptography and bcrypt", f"pip install '.[test]' ({exc})")
    registry = Registry(directory, tls=server, htpasswd=htpasswd, ca=ca.cert_pem)
    _start_registry(registry)
    try:
        yield registry
    finally:
        registry.stop()


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """Token auth: the registry trusts ``registry.token`` (a TokenIssuer on loopback) and
    verifies the signature of every token."""
    directory = tmp_path_factory.mktemp("registry-token")
    try:
        issuer = TokenIssuer(directory, REGISTRY_USERS).start()
    except ImportError as exc:
        require("cryptography", f"pip install '.[test]' ({exc})")
    registry = Registry(directory, token=issuer)
    try:
        _start_registry(registry)
        yield registry
    finally:
        registry.stop()
        issuer.stop()


@pytest.fixture
def fault_proxy(open_registry: Registry) -> Iterator[FaultProxy]:
    """A FaultProxy in front of the open registry, for one test."""
    proxy = FaultProxy(open_registry.host).start()
    try:
        yield proxy
    finally:
        proxy.stop()
