"""Registry authentication: ``WWW-Authenticate`` challenges, Basic, and Bearer tokens.

A registry answers an unauthenticated request with 401 and a challenge. ``Basic`` means: send
the user's credentials with every request. ``Bearer realm=…,service=…,scope=…`` (Docker Hub's
token service, distribution's ``auth.token``) means: ask the *realm* for a token for that
*service* and the *scopes* the request needs (``repository:ouruser/sinatra:pull,push``) —
with Basic credentials if the user logged in, anonymously otherwise — and send it as
``Authorization: Bearer``. Tokens are cached by (realm, service, scopes) and reused until shortly
before they expire (``expires_in``, 60 s when the service does not say, as the token spec
defines); an expired or rejected token is fetched again.

Credentials live only in memory here; they are never logged and never part of an error message.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import field
from urllib.parse import urlencode

import httpx

from ..errors import AuthenticationError, RegistryError
from ..lazy import lazy_dataclass
from .transport import Transport, bare_host

__all__ = ["Authenticator", "Challenge", "Credentials", "parse_challenges"]

DEFAULT_EXPIRY = 60  # seconds, when a token service does not say (token spec)
_EARLY = 10  # refresh this many seconds before expiry
IDENTITY_TOKEN_USER = "<token>"  # how Docker's config and helpers mark an identity token
_TOKEN_RE = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_SCHEME_RE = re.compile(rf"\s*({_TOKEN_RE})(?=\s|$|,)")
_PARAM_RE = re.compile(rf'\s*({_TOKEN_RE})\s*=\s*(?:"((?:[^"\\]|\\.)*)"|({_TOKEN_RE}))\s*')


@lazy_dataclass(frozen=True)
class Credentials:
    """A user name and a password or token; ``repr`` hides the secret."""

    username: str
    secret: str = field(repr=False)

    def basic(self) -> str:
        raw = f"{self.username}:{self.secret}".encode()
        return "Basic " + base64.b64encode(raw).decode()


@lazy_dataclass(frozen=True)
class Challenge:
    """One challenge of a ``WWW-Authenticate`` header: scheme (lower-case) and parameters."""

    scheme: str
    params: tuple[tuple[str, str], ...] = ()

    def get(self, key: str, default: str = "") -> str:
        for k, v in self.params:
            if k == key:
                return v
        return default


def parse_challenges(header: str) -> list[Challenge]:
    """Parse ``WWW-Authenticate`` (RFC 7235): several challenges, quoted or token values.

    >>> parse_challenges('Bearer realm="https://a/token",service="reg",scope="x:y:pull"')[0].get(
    ...     "service")
    'reg'
    """
    challenges: list[Challenge] = []
    pos = 0
    text = header.strip()
    while pos < len(text):
        if text[pos] in ", \t":
            pos += 1
            continue
        m = _SCHEME_RE.match(text, pos)
        if m is None:
            break
        scheme = m.group(1).lower()
        pos = m.end()
        params: list[tuple[str, str]] = []
        while pos < len(text):
            # skip separators, then see whether a parameter (name=value) follows
            probe = pos
            while probe < len(text) and text[probe] in ", \t":
                probe += 1
            pm = _PARAM_RE.match(text, probe)
            if pm is None:
                break
            quoted = pm.group(2)
            value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else pm.group(3)
            params.append((pm.group(1).lower(), value))
            pos = pm.end()
        challenges.append(Challenge(scheme, tuple(params)))
    return challenges


@lazy_dataclass(frozen=True)
class _Token:
    value: str
    expires_at: float


class Authenticator:
    """Adds the ``Authorization`` header a registry wants; learns how from its 401s.

    Thread-safe: layers move in parallel and share one authenticator per registry.
    """

    def __init__(self, transport: Transport, credentials: Credentials | None) -> None:
        self.transport = transport
        self.credentials = credentials
        self.challenge: Challenge | None = None
        self._tokens: dict[tuple[str, str, tuple[str, ...]], _Token] = {}
        self._realm_transports: dict[str, Transport] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the connections to token services on other hosts."""
        for transport in self._realm_transports.values():
            transport.close()
        self._realm_transports.clear()

    def _realm_transport(self, realm: httpx.URL) -> Transport:
        """The registry's own transport for a realm on its host; else one of the realm's own,
        with the TLS trust that host gets (an insecure registry's laxity is not lent to it)."""
        netloc = realm.netloc.decode("ascii")
        if netloc == self.transport.host:
            return self.transport
        with self._lock:
            transport = self._realm_transports.get(netloc)
            if transport is None:
                transport = Transport(netloc, self.transport.settings)
                self._realm_transports[netloc] = transport
        return transport

    def _check_realm_for_credentials(self, realm: httpx.URL) -> None:
        """Credentials go to a token service over HTTPS, or over plain HTTP only on the host of
        a registry that is itself insecure (one the user listed, or loopback), as its own
        requests go there in the clear anyway. Refusing sends nothing."""
        if self.credentials is None or realm.scheme == "https":
            return
        if self.transport.insecure and bare_host(realm.netloc.decode("ascii")) == bare_host(
            self.host
        ):
            return
        raise AuthenticationError(
            f"registry {self.host} sends logins to the token service {realm.scheme}://"
            f"{realm.netloc.decode('ascii')} over plain HTTP on another host; nbdocker sends "
            "credentials to a token service only over HTTPS (or to an insecure registry's own "
            "host), so nothing was sent — have the registry's token service use HTTPS, or run "
            f"'nbdocker logout {self.host}' to use it anonymously"
        )

    @property
    def host(self) -> str:
        return self.transport.host

    def header(self, scopes: Sequence[str]) -> dict[str, str]:
        """The Authorization header for a request needing ``scopes`` (empty if none known)."""
        challenge = self.challenge
        if challenge is None:
            return {}
        if challenge.scheme == "basic":
            if self.credentials is None:
                return {}
            return {"Authorization": self.credentials.basic()}
        if challenge.scheme == "bearer":
            return {"Authorization": "Bearer " + self._token(challenge, scopes, False)}
        return {}

    def unauthorized(self, response: httpx.Response, scopes: Sequence[str]) -> None:
        """Learn from a 401 how to authenticate and get fresh credentials for ``scopes``.

        Raises AuthenticationError when the registry wants something we cannot give.
        """
        challenges = parse_challenges(response.headers.get("www-authenticate", ""))
        known = [c for c in challenges if c.scheme in ("bearer", "basic")]
        if not known:
            raise AuthenticationError(
                f"registry {self.host} asks for authentication nbdocker does not support "
                f"({response.headers.get('www-authenticate', 'no challenge')!r})"
            )
        chosen = next((c for c in known if c.scheme == "bearer"), known[0])
        if chosen.scheme == "basic" and self.credentials is None:
            raise AuthenticationError(
                f"registry {self.host} requires a login: run 'nbdocker login {self.host}'"
            )
        self.challenge = chosen
        if chosen.scheme == "bearer":
            self._token(chosen, scopes, True)

    def _token(self, challenge: Challenge, scopes: Sequence[str], fresh: bool) -> str:
        realm = challenge.get("realm")
        service = challenge.get("service")
        wanted = tuple(sorted(set(scopes)))
        if not wanted and challenge.get("scope"):
            wanted = (challenge.get("scope"),)
        key = (realm, service, wanted)
        with self._lock:
            cached = self._tokens.get(key)
            if cached is not None and not fresh and cached.expires_at > time.monotonic():
                return cached.value
        token = self.fetch_token(realm, service, wanted)
        with self._lock:
            self._tokens[key] = token
        return token.value

    def fetch_token(self, realm: str, service: str, scopes: Sequence[str]) -> _Token:
        """GET the realm for a token (Docker token service protocol)."""
        try:
            realm_url = httpx.URL(realm)
        except httpx.InvalidURL:
            realm_url = None
        if realm_url is None or realm_url.scheme not in ("https", "http") or not realm_url.host:
            raise AuthenticationError(
                f"registry {self.host} names an invalid token service {realm!r}"
            )
        self._check_realm_for_credentials(realm_url)
        transport = self._realm_transport(realm_url)
        if self.credentials is not None and self.credentials.username == IDENTITY_TOKEN_USER:
            # An identity token (Docker's "<token>" user) is an OAuth2 refresh token: it is
            # exchanged at the realm for an access token, never sent as a password.
            form = {
                "grant_type": "refresh_token",
                "refresh_token": self.credentials.secret,
                "client_id": "nbdocker",
                "service": service,
                "scope": " ".join(scopes),
            }
            response = transport.request(
                "POST",
                realm,
                content=urlencode(form).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        else:
            params: list[tuple[str, str]] = []
            if service:
                params.append(("service", service))
            params.extend(("scope", s) for s in scopes)
            headers: dict[str, str] = {}
            if self.credentials is not None:
                headers["Authorization"] = self.credentials.basic()
                params.append(("account", self.credentials.username))
            url = str(httpx.URL(realm, params=params))
            response = transport.request("GET", url, headers=headers)
        if response.status_code in (401, 403):
            if self.credentials is not None and self.credentials.username == IDENTITY_TOKEN_USER:
                raise AuthenticationError(
                    f"login to {self.host} failed: the token service rejected the stored "
                    f"identity token; run 'nbdocker login {self.host}' again"
                )
            if self.credentials is not None:
                raise AuthenticationError(
                    f"login to {self.host} failed: the token service rejected the user name "
                    f"or password of {self.credentials.username!r}; check them and run "
                    f"'nbdocker login {self.host}' again"
                )
            raise AuthenticationError(
                f"registry {self.host} requires a login: run 'nbdocker login {self.host}'"
            )
        if response.status_code != 200:
            raise RegistryError(
                f"registry {self.host}: its token service answered {response.status_code} "
                f"{response.reason_phrase}; try again later"
            )
        try:
            body = response.json()
            if not isinstance(body, dict):
                raise TypeError("not a JSON object")
            value = body.get("token") or body.get("access_token")
            expires_in = int(body.get("expires_in") or DEFAULT_EXPIRY)
        except (ValueError, TypeError):
            value = None
            expires_in = 0
        if not isinstance(value, str) or not value:
            raise RegistryError(
                f"registry {self.host}: its token service sent no token; try again later"
            )
        expires_in = max(expires_in, DEFAULT_EXPIRY)
        return _Token(value, time.monotonic() + expires_in - _EARLY)
