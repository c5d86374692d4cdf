"""The engine against the real registry (Debian's docker-registry): TLS + htpasswd, token auth,
and faults injected by a proxy in front of it."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from nbdocker.engine import Engine
from nbdocker.engine.errors import (
    AuthenticationError,
    DigestMismatch,
    ImageNotFound,
    NbdockerError,
    RegistryError,
)
from nbdocker.engine.events import Event, TaskDone
from nbdocker.engine.layer.unpacked import chain_ids
from nbdocker.engine.registry import RegistrySettings
from tests.conftest import REGISTRY_USERS
from tests.support.registry import FaultProxy, Registry, make_ca
from tests.support.rootfs import make_rootfs_tarball

pytestmark = pytest.mark.usefixtures("docker_config")
USER, PASSWORD = next(iter(REGISTRY_USERS.items()))


def _repo() -> str:
    return f"nbdtest/r{uuid.uuid4().hex[:10]}"


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def done(self, task: str) -> list[str]:
        return [e.result for e in self.events if isinstance(e, TaskDone) and e.task == task]


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return Engine(tmp_path / "store", on_event=Recorder())


@pytest.fixture
def other_engine(tmp_path: Path) -> Engine:
    return Engine(tmp_path / "store2", on_event=Recorder())


def _import(engine: Engine, tarball: Path, ref: str) -> str:
    return engine.import_image(tarball, ref).id


def _events(engine: Engine) -> Recorder:
    assert isinstance(engine.on_event, Recorder)
    return engine.on_event


# ---------------------------------------------------------------- TLS + htpasswd


def test_tls_basic_login_push_pull_and_wrong_password(
    tls_registry: Registry,
    engine: Engine,
    other_engine: Engine,
    busybox_tarball: Path,
    docker_config: Path,
) -> None:
    ca = str(tls_registry.ca)
    settings = RegistrySettings.from_env(ca_cert=ca)
    ref = f"{tls_registry.host}/{_repo()}:v1"
    image_id = _import(engine, busybox_tarball, ref)

    with pytest.raises(AuthenticationError, match="nbdocker login"):
        engine.push(ref, settings=settings)
    assert (
        tls_registry.manifest_status(
            ref.split("/", 1)[1].replace(":v1", ""), "v1", auth=(USER, PASSWORD)
        )
        == 404
    )

    with pytest.raises(AuthenticationError, match="wrong user name or password") as info:
        engine.login(tls_registry.host, USER, "not-the-password", settings=settings)
    assert "not-the-password" not in str(info.value)
    assert not (docker_config / "config.json").exists()

    assert engine.login(tls_registry.host, USER, PASSWORD, settings=settings) == tls_registry.host
    config_file = docker_config / "config.json"
    assert oct(config_file.stat().st_mode & 0o777) == "0o600"
    assert tls_registry.host in json.loads(config_file.read_text())["auths"]

    [result] = engine.push(ref, settings=settings)
    assert _events(engine).done("push") == ["Pushed"]
    pulled = other_engine.pull(ref, settings=settings)
    assert pulled.id == image_id
    assert [d.digest for d in pulled.digests] == [result.digest]


def test_tls_needs_the_ca(tls_registry: Registry, engine: Engine, tmp_path: Path) -> None:
    # 127.0.0.1 is insecure as for Docker: without a CA, TLS is not verified, so it still works;
    # a CA that did not sign the certificate is refused with a clear error.
    wrong_ca, _ = make_ca(tmp_path, "unrelated-ca")
    settings = RegistrySettings.from_env(ca_cert=str(wrong_ca.cert_pem))
    with pytest.raises(RegistryError, match="TLS certificate not trusted"):
        engine.pull(f"{tls_registry.host}/nbdtest/none:v1", settings=settings)


# ---------------------------------------------------------------- token auth


def test_token_auth_push_pull_reuse_and_anonymous(
    token_registry: Registry,
    engine: Engine,
    other_engine: Engine,
    busybox_tarball: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    issuer = token_registry.token
    assert issuer is not None
    settings = RegistrySettings.from_env()
    ref = f"{token_registry.host}/{_repo()}:v1"
    image_id = _import(engine, busybox_tarball, ref)

    with pytest.raises(AuthenticationError):
        engine.push(ref, settings=settings)  # anonymous tokens only grant pull

    engine.login(token_registry.host, USER, PASSWORD, settings=settings)
    with pytest.raises(AuthenticationError, match="rejected"):
        engine.login(token_registry.host, USER, "wrong", settings=settings)

    issuer.requests.clear()
    engine.push(ref, settings=settings)
    push_scope = f"repository:{ref.split('/', 1)[1].split(':')[0]}:pull,push"
    fetched = [r for r in issuer.requests if push_scope in r["scopes"]]
    assert len(fetched) == 1, issuer.requests  # one token, reused for every request
    assert all(r["user"] == USER for r in issuer.requests)

    # anonymous pull, with no stored credentials
    monkeypatch.setenv("DOCKER_CONFIG", str(Path(engine.home).parent / "anon-config"))
    pulled = other_engine.pull(ref, settings=settings)
    assert pulled.id == image_id
    assert any(r["user"] is None for r in issuer.requests)


def test_identity_tokens_are_exchanged_not_sent_as_passwords(
    token_registry: Registry,
    engine: Engine,
    busybox_tarball: Path,
    docker_config: Path,
) -> None:
    """An ``identitytoken`` in Docker's config.json (as Docker Hub logins leave) is an OAuth2
    refresh token: nbdocker trades it at the token service for access tokens."""
    issuer = token_registry.token
    assert issuer is not None
    issuer.refresh_tokens["refresh-" + USER] = USER
    (docker_config / "config.json").write_text(
        json.dumps({"auths": {token_registry.host: {"identitytoken": "refresh-" + USER}}})
    )
    ref = f"{token_registry.host}/{_repo()}:v1"
    _import(engine, busybox_tarball, ref)
    issuer.requests.clear()
    engine.push(ref)
    assert issuer.requests and all(r.get("oauth") and r["user"] == USER for r in issuer.requests)
    (docker_config / "config.json").write_text(
        json.dumps({"auths": {token_registry.host: {"identitytoken": "stale"}}})
    )
    with pytest.raises(AuthenticationError, match="rejected the stored identity token"):
        Engine(engine.home).push(ref)


# ---------------------------------------------------------------- behaviour and faults


def test_a_layer_over_4_mib_pushed_again_already_exists(
    open_registry: Registry, engine: Engine, tmp_path: Path
) -> None:
    """The registry answers the existence check (HEAD) of a big layer with the layer's size as
    Content-Length and no body: that is not a response too large to read."""
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "big").write_bytes(os.urandom(6 << 20))  # random: it stays over 4 MiB compressed
    tarball = make_rootfs_tarball(tree, tmp_path / "big.tar.gz")
    ref = f"{open_registry.host}/{_repo()}:v1"
    _import(engine, tarball, ref)
    engine.push(ref)
    _events(engine).events.clear()
    engine.push(ref)
    assert set(_events(engine).done("push")) == {"Layer already exists"}
    pulled = Engine(tmp_path / "other").pull(ref)
    assert (pulled.id, pulled.size) == (engine.get(ref).id, engine.get(ref).size)


def test_push_twice_uploads_nothing_and_second_repo_mounts(
    open_registry: Registry, engine: Engine, busybox_tarball: Path
) -> None:
    repo = f"{open_registry.host}/{_repo()}"
    _import(engine, busybox_tarball, f"{repo}:v1")
    engine.tag(f"{repo}:v1", f"{repo}:v2")
    results = engine.push(repo)
    assert sorted(r.reference.tag or "" for r in results) == ["v1", "v2"]
    uploads = open_registry.blob_upload_count()
    _events(engine).events.clear()
    engine.push(repo)
    assert open_registry.blob_upload_count() == uploads
    assert set(_events(engine).done("push")) == {"Layer already exists"}

    second = f"{open_registry.host}/{_repo()}:v1"
    engine.tag(f"{repo}:v1", second)
    _events(engine).events.clear()
    engine.push(second)
    source = repo.split("/", 1)[1]
    assert _events(engine).done("push") == [f"Mounted from {source}"]
    assert open_registry.blob_upload_count() == uploads + 1  # only the config blob


def test_rmi_of_a_pulled_tag_removes_its_digest_name_too(
    open_registry: Registry, engine: Engine, other_engine: Engine, busybox_tarball: Path
) -> None:
    """As Docker: ``rmi repo:tag`` of a pulled image also untags ``repo@sha256:…`` when no
    other tag of the repository is left, so the image is deleted; another tag keeps both."""
    repo = f"{open_registry.host}/{_repo()}"
    _import(other_engine, busybox_tarball, f"{repo}:v1")
    other_engine.push(f"{repo}:v1")
    image = engine.pull(f"{repo}:v1")
    [digest_name] = [str(r) for r in image.references if r.digest]
    engine.tag(f"{repo}:v1", f"{repo}:v2")
    assert [(r.action, r.what) for r in engine.remove([f"{repo}:v2"])] == [
        ("Untagged", f"{repo}:v2")
    ]
    removals = [(r.action, r.what) for r in engine.remove([f"{repo}:v1"])]
    assert removals[:3] == [
        ("Untagged", f"{repo}:v1"),
        ("Untagged", digest_name),
        ("Deleted", image.id),
    ]
    assert engine.images() == []


def test_pull_unknown_tag_and_repo(open_registry: Registry, engine: Engine) -> None:
    with pytest.raises(ImageNotFound, match="not found"):
        engine.pull(f"{open_registry.host}/{_repo()}:nope")
    assert engine.images() == []


def test_upload_broken_mid_body_resumes(
    fault_proxy: FaultProxy, open_registry: Registry, tmp_path: Path, busybox_tarball: Path
) -> None:
    settings = RegistrySettings.from_env(chunk_size=256 * 1024, backoff=0.01)
    engine = Engine(tmp_path / "s", on_event=Recorder())
    repo = _repo()
    ref = f"{fault_proxy.host}/{repo}:v1"
    image_id = _import(engine, busybox_tarball, ref)
    fault_proxy.drop_uploads = 2
    fault_proxy.drop_after = 100_000
    engine.push(ref, settings=settings)
    assert fault_proxy.dropped == 2
    pulled = Engine(tmp_path / "s2").pull(f"{open_registry.host}/{repo}:v1")
    assert pulled.id == image_id


def test_upload_that_keeps_breaking_fails_cleanly_and_tags_nothing(
    fault_proxy: FaultProxy, open_registry: Registry, tmp_path: Path, busybox_tarball: Path
) -> None:
    settings = RegistrySettings.from_env(backoff=0.01, retries=2)
    engine = Engine(tmp_path / "s")
    repo = _repo()
    ref = f"{fault_proxy.host}/{repo}:v1"
    _import(engine, busybox_tarball, ref)
    fault_proxy.drop_uploads = 1000
    with pytest.raises(RegistryError, match="nothing was tagged") as info:
        engine.push(ref, settings=settings)
    assert "\n" not in str(info.value)
    assert open_registry.manifest_status(repo, "v1") == 404
    assert not [d for d in engine.get(ref).digests]


def test_blob_with_a_flipped_byte_is_rejected(
    fault_proxy: FaultProxy, open_registry: Registry, tmp_path: Path, busybox_tarball: Path
) -> None:
    repo = _repo()
    source = Engine(tmp_path / "s")
    _import(source, busybox_tarball, f"{open_registry.host}/{repo}:v1")
    source.push(f"{open_registry.host}/{repo}:v1")
    fault_proxy.corrupt_blobs = True
    target = Engine(tmp_path / "t")
    with pytest.raises(DigestMismatch, match="hashes to"):
        target.pull(f"{fault_proxy.host}/{repo}:v1")
    assert target.images() == []
    assert not any((tmp_path / "t" / "blobs" / "sha256").iterdir())
    assert not any((tmp_path / "t" / "ingest").iterdir())


def test_a_corrupt_layer_in_a_parallel_pull_leaves_nothing_behind(
    fault_proxy: FaultProxy, open_registry: Registry, busybox_rootfs: Path, tmp_path: Path
) -> None:
    source = Engine(tmp_path / "s")
    image = _four_layers(source, busybox_rootfs, tmp_path)
    repo = _repo()
    source.tag(image, f"{open_registry.host}/{repo}:v1")
    source.push(f"{open_registry.host}/{repo}:v1")
    bottom = source.store.layer(source.get(image).diff_ids[0])
    assert bottom is not None
    fault_proxy.corrupt_digests = {bottom.blob}  # the others arrive intact meanwhile
    target = Engine(tmp_path / "t")
    with pytest.raises(DigestMismatch, match="hashes to") as info:
        target.pull(f"{fault_proxy.host}/{repo}:v1", settings=RegistrySettings(parallel=4))
    assert "\n" not in str(info.value)
    assert target.images() == []
    assert not any((tmp_path / "t" / "blobs" / "sha256").iterdir())
    assert not any((tmp_path / "t" / "ingest").iterdir())
    layers = tmp_path / "t" / "layers"  # as root, layers unpack while they download
    assert not layers.exists() or not any(layers.iterdir())


def test_a_pull_removes_layers_left_half_unpacked_by_a_process_that_died(
    open_registry: Registry, engine: Engine, other_engine: Engine, busybox_tarball: Path
) -> None:
    ref = f"{open_registry.host}/{_repo()}:v1"
    _import(engine, busybox_tarball, ref)
    engine.push(ref)
    stale = other_engine.layer_cache.root / ".tmp-4194305-x"  # above any pid_max
    (stale / "bin").mkdir(parents=True)
    image = other_engine.pull(ref)
    c = other_engine.create(ref, ["true"])  # rootless, layers unpack at first run
    assert other_engine.start(c.id) == 0
    assert not stale.exists()
    [chain] = chain_ids(image.diff_ids)
    assert [p.name for p in other_engine.layer_cache.root.iterdir() if p.is_dir()] == [
        chain.split(":", 1)[1]
    ]


def test_errors_are_one_line_nbdocker_errors(open_registry: Registry, engine: Engine) -> None:
    with pytest.raises(NbdockerError) as info:
        engine.pull("127.0.0.1:1/nothing/here:v1")
    assert "cannot connect" in str(info.value) and "\n" not in str(info.value)


def test_pull_picks_the_host_platform_from_an_index(
    open_registry: Registry, engine: Engine, other_engine: Engine, busybox_tarball: Path
) -> None:
    import httpx

    from nbdocker.engine.oci import host_platform

    repo = _repo()
    ref = f"{open_registry.host}/{repo}:single"
    image_id = _import(engine, busybox_tarball, ref)
    [pushed] = engine.push(ref)
    engine.import_image(busybox_tarball, f"{open_registry.host}/{repo}:other", change=["ENV X=1"])
    [elsewhere] = engine.push(f"{open_registry.host}/{repo}:other")
    os_name, arch = host_platform()
    other_arch = "s390x" if arch != "s390x" else "amd64"
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {  # listed first, for another machine: must not be chosen
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": elsewhere.digest,
                "size": elsewhere.size,
                "platform": {"os": os_name, "architecture": other_arch},
            },
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": pushed.digest,
                "size": pushed.size,
                "platform": {"os": os_name, "architecture": arch},
            },
        ],
    }
    data = json.dumps(index).encode()
    response = httpx.put(
        f"{open_registry.url}/v2/{repo}/manifests/multi",
        content=data,
        headers={"Content-Type": "application/vnd.oci.image.index.v1+json"},
    )
    assert response.status_code == 201, response.text
    index_digest = response.headers["docker-content-digest"]
    pulled = other_engine.pull(f"{open_registry.host}/{repo}:multi")
    assert pulled.id == image_id
    assert pulled.manifest_digest == pushed.digest
    assert [d.digest for d in pulled.digests] == [index_digest]  # as Docker records it
    assert other_engine.fsck().clean  # (an index of platforms whose others the store lacks)


class _Watching(httpx.HTTPTransport):
    """The real network, counting how many blob transfers are in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.active = 0
        self.most = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        blob = "/blobs/" in request.url.path and request.method in ("PUT", "PATCH", "GET")
        if blob:
            with self.lock:
                self.active += 1
                self.most = max(self.most, self.active)
            time.sleep(0.3)  # long enough for the other transfers to start meanwhile
        try:
            return super().handle_request(request)
        finally:
            if blob:
                with self.lock:
                    self.active -= 1


def _four_layers(engine: Engine, busybox_rootfs: Path, tmp_path: Path) -> str:
    """The ID of an image of busybox and three distinct small layers on top."""
    engine.import_image(
        str(make_rootfs_tarball(busybox_rootfs, tmp_path / "a.tar", "none")), "layers:base"
    )
    image = "layers:base"
    for n in range(3):
        c = engine.create(image, ["sh", "-c", f"echo {n} > /f{n}"])
        assert engine.start(c.id) == 0
        image = engine.commit(c.id, f"layers:{n}").id
    return image


def test_several_layers_move_at_once(
    open_registry: Registry, busybox_rootfs: Path, tmp_path: Path
) -> None:
    engine = Engine(tmp_path / "src")
    repo = f"{open_registry.host}/nbdtest/p{uuid.uuid4().hex[:8]}"
    engine.tag(_four_layers(engine, busybox_rootfs, tmp_path), f"{repo}:3")
    watching = _Watching()
    engine.push(f"{repo}:3", settings=RegistrySettings(transport=watching))
    assert watching.most >= 2
    puller = Engine(tmp_path / "dst")
    watching = _Watching()
    puller.pull(f"{repo}:3", settings=RegistrySettings(transport=watching))
    assert watching.most >= 2


def test_pull_picks_the_host_platform_from_a_docker_manifest_list(
    open_registry: Registry, engine: Engine, other_engine: Engine, busybox_tarball: Path
) -> None:
    from nbdocker.engine.oci import host_platform

    repo = f"{open_registry.host}/{_repo()}"
    image_id = _import(engine, busybox_tarball, f"{repo}:single")
    [pushed] = engine.push(f"{repo}:single")
    base = f"http://{open_registry.host}/v2/{repo.split('/', 1)[1]}"
    manifest = httpx.get(
        f"{base}/manifests/single", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}
    )
    os_name, arch = host_platform()
    other_arch = "arm64" if arch != "arm64" else "amd64"
    entry = {
        "mediaType": manifest.headers["content-type"],
        "digest": pushed.digest,
        "size": len(manifest.content),
    }
    listing = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [
            {**entry, "platform": {"os": os_name, "architecture": other_arch}},
            {**entry, "platform": {"os": os_name, "architecture": arch}},
        ],
    }
    put = httpx.put(
        f"{base}/manifests/multi",
        content=json.dumps(listing).encode(),
        headers={"Content-Type": listing["mediaType"]},
    )
    assert put.status_code == 201, put.text
    pulled = other_engine.pull(f"{repo}:multi")
    assert pulled.id == image_id
    digests = [r.digest for r in other_engine.get(f"{repo}:multi").digests]
    assert put.headers["docker-content-digest"] in digests


def test_pull_unpacks_layers_as_they_arrive(
    open_registry: Registry, engine: Engine, other_engine: Engine, busybox_tarball: Path
) -> None:
    ref = f"{open_registry.host}/{_repo()}:v1"
    _import(engine, busybox_tarball, ref)
    engine.push(ref)
    image = other_engine.pull(ref)
    [chain] = chain_ids(image.diff_ids)
    unpacked = other_engine.layer_cache.path(chain)
    assert (unpacked / "bin" / "busybox").is_file()  # no second pass needed to run it
    c = other_engine.create(ref, ["sh", "-c", "exit 7"])
    assert other_engine.start(c.id) == 7
    assert not [p for p in unpacked.parent.iterdir() if p.name.startswith(".tmp-")]
