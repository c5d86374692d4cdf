"""``pull`` from a registry that lies about sizes, floods, trickles or falls silent: one line,
exit 1, the store unchanged, and the client stops reading as soon as the lie shows."""

from __future__ import annotations

import base64
import itertools
import json
import subprocess
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.support import RunNbdocker, ok
from tests.support.hostile_registry import Handler, HostileRegistry, image, send
from tests.support.store import snapshot

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
FLOOD = 200 << 20  # what a hostile server would send if nobody stopped it
READ_AT_MOST = 48 << 20  # socket buffers hold a few MiB; anything near FLOOD was read in full


def _zeros(total: int) -> Iterator[bytes]:
    block = bytes(1 << 20)
    for _ in range(total >> 20):
        yield block


def _one_line_failure(
    result: subprocess.CompletedProcess[bytes], home: Path, before: dict[str, str], words: str
) -> str:
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert len(err.strip().splitlines()) == 1, err
    assert words in err, err
    assert snapshot(home) == before
    assert not any((home / "ingest").iterdir())
    return err


def _initialised(nbdocker: RunNbdocker, home: Path) -> dict[str, str]:
    """The snapshot of an initialised, empty store (what a failed pull must leave)."""
    ok(nbdocker("images"))
    return snapshot(home)


def _serve_image(reg: HostileRegistry, layer_size: int = 130) -> str:
    manifest, config, layer_digest = image(layer_size)
    config_digest = json.loads(manifest)["config"]["digest"]
    reg.routes["/v2/x/manifests/1"] = lambda h: send(h, 200, manifest, MANIFEST_TYPE)
    reg.routes[f"/v2/x/blobs/{config_digest}"] = lambda h: send(h, 200, config)
    return f"/v2/x/blobs/{layer_digest}"


def test_a_layer_longer_than_announced_is_refused_before_it_is_stored(
    nbdocker: RunNbdocker, nbdocker_home: Path
) -> None:
    with HostileRegistry() as reg:
        path = _serve_image(reg, layer_size=130)
        reg.routes[path] = reg.stream(path, _zeros(FLOOD), {})
        ok_before = _initialised(nbdocker, nbdocker_home)
        result = nbdocker("pull", f"{reg.host}/x:1", timeout=120)
        _one_line_failure(result, nbdocker_home, ok_before, "more than the 130 bytes")
        assert reg.sent[path] < READ_AT_MOST


def test_a_huge_manifest_is_refused_while_it_is_read(
    nbdocker: RunNbdocker, nbdocker_home: Path
) -> None:
    with HostileRegistry() as reg:
        path = "/v2/x/manifests/1"
        flood = itertools.chain([b'{"schemaVersion": 2, "layers": ["'], _zeros(FLOOD))
        reg.routes[path] = reg.stream(path, flood, {"Content-Type": MANIFEST_TYPE})
        before = _initialised(nbdocker, nbdocker_home)
        result = nbdocker("pull", f"{reg.host}/x:1", timeout=120)
        _one_line_failure(result, nbdocker_home, before, "larger than 4 MiB")
        assert reg.sent[path] < READ_AT_MOST


def _trickle() -> Iterator[bytes]:
    while True:
        yield b" "
        time.sleep(0.1)


def test_a_trickling_registry_is_given_up_at_the_deadline(
    nbdocker: RunNbdocker, nbdocker_home: Path
) -> None:
    with HostileRegistry() as reg:
        path = "/v2/x/manifests/1"
        reg.routes[path] = reg.stream(path, _trickle(), {"Content-Type": MANIFEST_TYPE})
        before = _initialised(nbdocker, nbdocker_home)
        env = {"NBDOCKER_REGISTRY_DEADLINE": "2"}
        result = nbdocker("pull", f"{reg.host}/x:1", env=env, timeout=60)
        _one_line_failure(result, nbdocker_home, before, "deadline of 2 s")


def test_a_trickling_layer_is_given_up_at_the_deadline(
    nbdocker: RunNbdocker, nbdocker_home: Path
) -> None:
    with HostileRegistry() as reg:
        path = _serve_image(reg, layer_size=1000)
        reg.routes[path] = reg.stream(path, _trickle(), {})
        before = _initialised(nbdocker, nbdocker_home)
        env = {"NBDOCKER_REGISTRY_DEADLINE": "2"}
        result = nbdocker("pull", f"{reg.host}/x:1", env=env, timeout=60)
        _one_line_failure(result, nbdocker_home, before, "deadline of 2")


def _silent(h: BaseHTTPRequestHandler) -> None:
    time.sleep(120)


def test_a_silent_registry_stalls_after_the_stall_timeout(
    nbdocker: RunNbdocker, nbdocker_home: Path
) -> None:
    with HostileRegistry() as reg:
        reg.routes["/v2/x/manifests/1"] = _silent
        before = _initialised(nbdocker, nbdocker_home)
        env = {"NBDOCKER_REGISTRY_TIMEOUT": "0.5", "NBDOCKER_REGISTRY_DEADLINE": "4"}
        result = nbdocker("pull", f"{reg.host}/x:1", env=env, timeout=60)
        _one_line_failure(result, nbdocker_home, before, "timed out")


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "0"])
def test_a_bad_timeout_setting_is_one_line(nbdocker: RunNbdocker, value: str) -> None:
    result = nbdocker("pull", "127.0.0.1:1/x:1", env={"NBDOCKER_REGISTRY_TIMEOUT": value})
    assert result.returncode == 1
    assert "NBDOCKER_REGISTRY_TIMEOUT" in result.stderr.decode()
    assert len(result.stderr.decode().strip().splitlines()) == 1


def _login_file(docker_config: Path, host: str) -> None:
    auth = base64.b64encode(b"alice:s3cret").decode()
    (docker_config / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))


def _challenge(realm: str) -> Handler:
    def handler(h: BaseHTTPRequestHandler) -> None:
        body = b'{"errors":[{"code":"UNAUTHORIZED"}]}'
        h.send_response(401)
        h.send_header("WWW-Authenticate", f'Bearer realm="{realm}",service="reg"')
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return handler


def test_credentials_never_go_to_a_plain_http_token_service_on_another_host(
    nbdocker: RunNbdocker, nbdocker_home: Path, docker_config: Path
) -> None:
    with HostileRegistry() as reg, HostileRegistry() as thief:
        thief.routes["/token"] = lambda h: send(h, 200, b'{"token": "t"}')
        port = thief.server.server_address[1]
        # localhost is another host name than the registry's 127.0.0.1 (as evil.example would be)
        reg.routes["/v2/x/manifests/1"] = _challenge(f"http://localhost:{port}/token")
        _login_file(docker_config, reg.host)
        before = _initialised(nbdocker, nbdocker_home)
        result = nbdocker("pull", f"{reg.host}/x:1", timeout=60)
        err = _one_line_failure(result, nbdocker_home, before, "only over HTTPS")
        assert "s3cret" not in err
        assert not [r for r in thief.requests if "Authorization" in r[2]], thief.requests


def test_credentials_go_to_the_token_service_on_an_insecure_registrys_own_host(
    nbdocker: RunNbdocker, nbdocker_home: Path, docker_config: Path
) -> None:
    with HostileRegistry() as reg, HostileRegistry() as issuer:
        issuer.routes["/token"] = lambda h: send(h, 200, b'{"token": "t"}')
        port = issuer.server.server_address[1]
        reg.routes["/v2/x/manifests/1"] = _challenge(f"http://127.0.0.1:{port}/token")
        _login_file(docker_config, reg.host)
        nbdocker("pull", f"{reg.host}/x:1", timeout=60)
        sent = [r[2].get("Authorization", "") for r in issuer.requests]
        assert "Basic " + base64.b64encode(b"alice:s3cret").decode() in sent
