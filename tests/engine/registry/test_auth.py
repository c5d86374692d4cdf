"""Challenge parsing, Basic and Bearer flows, token reuse and refresh, and the plain-HTTP rules
— the logic, against httpx.MockTransport stand-ins (the real registry is in
test_registries.py)."""

from __future__ import annotations

import base64
from collections.abc import Callable

import httpx
import pytest

from nbdocker.engine.errors import AuthenticationError
from nbdocker.engine.registry import RegistrySettings, is_insecure, parse_challenges
from nbdocker.engine.registry.auth import Credentials
from nbdocker.engine.registry.client import RegistryClient

CHALLENGES = [
    (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:ouruser/sinatra:pull,push"',
        [
            (
                "bearer",
                {
                    "realm": "https://auth.docker.io/token",
                    "service": "registry.docker.io",
                    "scope": "repository:ouruser/sinatra:pull,push",
                },
            )
        ],
    ),
    ('Basic realm="Registry Realm"', [("basic", {"realm": "Registry Realm"})]),
    ("basic realm=simple", [("basic", {"realm": "simple"})]),
    (
        'Basic realm="a, b", Bearer realm="https://t/x", service=reg',
        [("basic", {"realm": "a, b"}), ("bearer", {"realm": "https://t/x", "service": "reg"})],
    ),
    ('Bearer realm="quo\\"ted"', [("bearer", {"realm": 'quo"ted'})]),
    ("Negotiate", [("negotiate", {})]),
    ("", []),
]


@pytest.mark.parametrize(("header", "expected"), CHALLENGES)
def test_parse_challenges(header: str, expected: list[tuple[str, dict[str, str]]]) -> None:
    got = [(c.scheme, dict(c.params)) for c in parse_challenges(header)]
    assert got == expected


@pytest.mark.parametrize(
    ("host", "listed", "insecure"),
    [
        ("localhost:5000", (), True),
        ("127.0.0.1:5000", (), True),
        ("127.9.8.7", (), True),
        ("[::1]:5000", (), True),
        ("registry-1.docker.io", (), False),
        ("10.0.0.1:5000", (), False),
        ("myreg.example:5000", ("myreg.example:5000",), True),
        ("myreg.example:5000", ("myreg.example",), True),
        ("myreg.example:5000", ("other.example",), False),
    ],
)
def test_plain_http_rules(host: str, listed: tuple[str, ...], insecure: bool) -> None:
    assert is_insecure(host, listed) is insecure


def test_settings_from_env_add_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBDOCKER_INSECURE_REGISTRIES", "a.example:5000, b.example")
    settings = RegistrySettings.from_env(insecure=["c.example"])
    assert settings.insecure == {"a.example:5000", "b.example", "c.example"}


class FakeRegistry:
    """A registry with Bearer auth (realm on another host) whose tokens expire."""

    def __init__(self, user: str = "ouruser", password: str = "pw") -> None:
        self.user, self.password = user, password
        self.token_requests: list[httpx.Request] = []
        self.valid_tokens: set[str] = set()

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example":
            self.token_requests.append(request)
            auth = request.headers.get("authorization")
            expected = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            if auth is not None and auth != expected:
                return httpx.Response(401)
            token = f"t{len(self.token_requests)}"
            self.valid_tokens.add(token)
            return httpx.Response(200, json={"token": token, "expires_in": 300})
        auth = request.headers.get("authorization", "")
        if auth.removeprefix("Bearer ") not in self.valid_tokens:
            return httpx.Response(
                401,
                headers={
                    "WWW-Authenticate": 'Bearer realm="https://auth.example/token",'
                    'service="reg.example",scope="repository:a/b:pull"'
                },
            )
        if request.url.path == "/v2/a/b/manifests/v1":
            return httpx.Response(
                200,
                content=b"{}",
                headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
            )
        return httpx.Response(404)


def _client(fake: FakeRegistry, creds: Credentials | None) -> RegistryClient:
    settings = RegistrySettings(transport=httpx.MockTransport(fake.handler), backoff=0)
    return RegistryClient("reg.example", settings, creds)


def test_bearer_token_is_fetched_once_reused_and_refreshed_when_rejected() -> None:
    fake = FakeRegistry()
    with _client(fake, Credentials("ouruser", "pw")) as client:
        for _ in range(3):
            client.get_manifest("a/b", "v1")
        assert len(fake.token_requests) == 1
        request = fake.token_requests[0]
        assert request.url.params.get_list("scope") == ["repository:a/b:pull"]
        assert request.url.params["service"] == "reg.example"
        fake.valid_tokens.clear()  # the registry now rejects it (expired): fetch a new one
        client.get_manifest("a/b", "v1")
        assert len(fake.token_requests) == 2


def test_token_past_its_expiry_is_not_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRegistry()
    clock = [1000.0]
    monkeypatch.setattr("nbdocker.engine.registry.auth.time.monotonic", lambda: clock[0])
    with _client(fake, None) as client:
        client.get_manifest("a/b", "v1")
        client.get_manifest("a/b", "v1")
        assert len(fake.token_requests) == 1
        assert "authorization" not in fake.token_requests[0].headers  # anonymous pull token
        clock[0] += 301
        client.get_manifest("a/b", "v1")
        assert len(fake.token_requests) == 2


def test_wrong_password_at_the_token_service_is_a_clear_error() -> None:
    fake = FakeRegistry()
    with (
        _client(fake, Credentials("ouruser", "nope")) as client,
        pytest.raises(AuthenticationError, match="rejected") as info,
    ):
        client.get_manifest("a/b", "v1")
    assert "nope" not in str(info.value)


def test_credentials_repr_hides_the_secret() -> None:
    assert "hunter2" not in repr(Credentials("me", "hunter2"))


def _flaky(statuses: list[int]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        status = statuses.pop(0) if statuses else 200
        if status == 200:
            return httpx.Response(200, content=b"{}", headers={"Content-Type": "application/json"})
        return httpx.Response(status, headers={"Retry-After": "0"})

    return handler


def test_429_and_5xx_are_retried_with_backoff() -> None:
    statuses = [429, 503, 502]
    settings = RegistrySettings(transport=httpx.MockTransport(_flaky(statuses)), backoff=0)
    with RegistryClient("reg.example", settings, None) as client:
        client.get_manifest("a/b", "v1")
    assert statuses == []


def test_blob_redirect_to_storage_is_followed_without_the_registry_token() -> None:
    seen: list[httpx.Request] = []
    blob = b"layer bytes"

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "storage.example":
            return httpx.Response(200, content=blob)
        if not request.headers.get("authorization"):
            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'})
        return httpx.Response(307, headers={"Location": "https://storage.example/b?sig=1"})

    settings = RegistrySettings(transport=httpx.MockTransport(handler), backoff=0)
    with RegistryClient("reg.example", settings, Credentials("u", "p")) as client:
        import hashlib

        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        assert client.read_small_blob("a/b", digest, 1024) == blob
    storage = [r for r in seen if r.url.host == "storage.example"]
    assert storage and "authorization" not in storage[0].headers
