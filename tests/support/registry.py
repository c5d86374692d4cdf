"""A real registry for the tests: Debian's ``docker-registry`` (distribution 2.8) on loopback.

- :class:`Registry` writes a config and serves ``/usr/bin/docker-registry serve`` on
  ``127.0.0.1:<free port>`` with filesystem storage in its own directory; variants: open over
  plain HTTP, htpasswd (bcrypt) Basic auth over TLS with a test CA, and token auth trusting a
  :class:`TokenIssuer`. ``stop()`` terminates it (and it dies with the test process).
- :func:`make_ca` / :func:`make_server_cert`: a test CA and a certificate for 127.0.0.1 and
  localhost, made with ``cryptography``.
- :class:`TokenIssuer`: a tiny Docker token service on loopback (``GET /token?service&scope``,
  Basic auth for known users, anonymous pull), issuing RS256 JWTs with an ``x5c`` header whose
  certificate is the registry's ``rootcertbundle`` — the registry checks every signature.
- :class:`FaultProxy`: an HTTP proxy in front of a registry that breaks uploads mid-body or flips
  a byte of blobs it serves.
"""

from __future__ import annotations

import base64
import ctypes
import datetime as dt
import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

REGISTRY = "/usr/bin/docker-registry"
_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


# ---------------------------------------------------------------- certificates


@dataclass(frozen=True)
class KeyPair:
    key_pem: Path
    cert_pem: Path


def _write_pair(directory: Path, name: str, key: Any, cert: Any) -> KeyPair:
    from cryptography.hazmat.primitives import serialization

    key_path = directory / f"{name}.key"
    cert_path = directory / f"{name}.crt"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return KeyPair(key_path, cert_path)


def _cert(subject: str, key: Any, issuer: tuple[str, Any] | None, ca: bool, sans: list[Any]) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name = (
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer[0])]) if issuer else name
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    signer = issuer[1] if issuer else key
    return builder.sign(signer, hashes.SHA256())


def make_ca(directory: Path, name: str = "ca") -> tuple[KeyPair, Any]:
    """A self-signed CA; returns its files and its private key (to sign with)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = _cert(f"nbdocker test {name}", key, None, True, [])
    return _write_pair(directory, name, key, cert), key


def make_server_cert(directory: Path, ca_key: Any, ca_name: str = "nbdocker test ca") -> KeyPair:
    """A server certificate for 127.0.0.1 and localhost, signed by the CA."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = _cert("127.0.0.1", key, (ca_name, ca_key), False, sans)
    return _write_pair(directory, "server", key, cert)


def write_htpasswd(path: Path, users: dict[str, str]) -> Path:
    """An htpasswd file with bcrypt hashes (the only kind distribution accepts)."""
    import bcrypt

    lines = [
        f"{user}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=5)).decode()}"
        for user, pw in users.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------- token issuer


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenIssuer:
    """A Docker token service: Basic-authenticated users get what they ask for, anonymous
    callers get ``pull`` only. ``requests`` counts token requests (to check token reuse)."""

    service = "nbdtest-registry"
    issuer = "nbdtest-issuer"

    def __init__(self, directory: Path, users: dict[str, str], expires_in: int = 300) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.users = dict(users)
        self.refresh_tokens: dict[str, str] = {}  # identity token → user (OAuth2 refresh)
        self.expires_in = expires_in
        self.requests: list[dict[str, Any]] = []
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cert = _cert("nbdtest token signer", self._key, None, False, [])
        self.pair = _write_pair(directory, "token-signer", self._key, cert)
        from cryptography.hazmat.primitives import serialization

        self._x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def realm(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    def sign(self, claims: dict[str, Any]) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        header = {"alg": "RS256", "typ": "JWT", "x5c": [self._x5c]}
        signing_input = (
            _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
        )
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + _b64url(signature)

    def token_for(self, user: str | None, scopes: Iterable[str]) -> str:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            wanted = [a for a in actions.split(",") if a]
            granted = wanted if user is not None else [a for a in wanted if a == "pull"]
            access.append({"type": kind, "name": name, "actions": granted})
        now = int(time.time())
        return self.sign(
            {
                "iss": self.issuer,
                "sub": user or "",
                "aud": self.service,
                "exp": now + self.expires_in,
                "nbf": now - 10,
                "iat": now,
                "jti": uuid.uuid4().hex,
                "access": access,
            }
        )

    def start(self) -> TokenIssuer:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                user: str | None = None
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Basic "):
                    name, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
                    if issuer.users.get(name) != pw:
                        self.send_response(401)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    user = name
                scopes = query.get("scope", [])
                issuer.requests.append({"user": user, "scopes": scopes})
                body = json.dumps(
                    {
                        "token": issuer.token_for(user, scopes),
                        "expires_in": issuer.expires_in,
                        "issued_at": dt.datetime.now(dt.timezone.utc).isoformat(),
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802 - OAuth2: refresh token → access token
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                token = (form.get("refresh_token") or [""])[0]
                user = issuer.refresh_tokens.get(token)
                if (form.get("grant_type") or [""])[0] != "refresh_token" or user is None:
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                scopes = " ".join(form.get("scope", [])).split()
                issuer.requests.append({"user": user, "scopes": scopes, "oauth": True})
                body = json.dumps(
                    {
                        "access_token": issuer.token_for(user, scopes),
                        "expires_in": issuer.expires_in,
                        "refresh_token": token,
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


# ---------------------------------------------------------------- the registry


@dataclass
class Registry:
    """``docker-registry serve`` on 127.0.0.1:<port>; see the module docstring."""

    directory: Path
    tls: KeyPair | None = None
    htpasswd: Path | None = None
    token: TokenIssuer | None = None
    ca: Path | None = None  # the CA that signed ``tls`` (for clients)
    port: int = field(default_factory=free_port)
    _proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    @property
    def log_path(self) -> Path:
        return self.directory / "registry.log"

    def config(self) -> dict[str, Any]:
        http: dict[str, Any] = {"addr": self.host, "secret": uuid.uuid4().hex}
        if self.tls is not None:
            http["tls"] = {"certificate": str(self.tls.cert_pem), "key": str(self.tls.key_pem)}
        config: dict[str, Any] = {
            "version": "0.1",
            "log": {"level": "info", "accesslog": {"disabled": False}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.directory / "data")},
                "delete": {"enabled": True},
            },
            "http": http,
        }
        if self.htpasswd is not None:
            config["auth"] = {"htpasswd": {"realm": "nbdtest", "path": str(self.htpasswd)}}
        elif self.token is not None:
            config["auth"] = {
                "token": {
                    "realm": self.token.realm,
                    "service": self.token.service,
                    "issuer": self.token.issuer,
                    "rootcertbundle": str(self.token.pair.cert_pem),
                }
            }
        return config

    def start(self, timeout: float = 20.0) -> Registry:
        self.directory.mkdir(parents=True, exist_ok=True)
        config_path = self.directory / "config.yml"
        config_path.write_text(json.dumps(self.config(), indent=2))  # YAML reads JSON
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            self._proc = subprocess.Popen(
                [REGISTRY, "serve", str(config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {self.log_path.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"docker-registry did not listen: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def manifest_status(self, repo: str, tag: str, auth: tuple[str, str] | None = None) -> int:
        """HTTP status of ``HEAD /v2/<repo>/manifests/<tag>`` (open/Basic registries)."""
        import ssl

        import httpx

        verify: Any = ssl.create_default_context(cafile=str(self.ca)) if self.ca else True
        with httpx.Client(verify=verify) as client:
            headers = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
            return client.head(
                f"{self.url}/v2/{repo}/manifests/{tag}", auth=auth, headers=headers
            ).status_code

    def blob_upload_count(self) -> int:
        """How many blob uploads the registry completed (from its access log)."""
        import re

        text = self.log_path.read_text(errors="replace")
        return len(re.findall(r'"PUT /v2/\S*/blobs/uploads/\S* HTTP/1\.1" 201', text))


# ---------------------------------------------------------------- fault proxy


class FaultProxy:
    """An HTTP proxy on loopback in front of ``upstream`` (``host:port``, plain HTTP).

    ``drop_uploads``: the next N requests with a body to ``/blobs/uploads/`` are cut after
    ``drop_after`` bytes of body (no response, connection closed). ``corrupt_blobs``: blob GETs
    get one byte flipped in the middle (``corrupt_digests``: only those of these blobs). The Host
    header is passed through, so the registry's Location headers point back at the proxy.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.drop_uploads = 0
        self.drop_after = 1000
        self.corrupt_blobs = False
        self.corrupt_digests: set[str] = set()
        self.dropped = 0
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def host(self) -> str:
        assert self._server is not None
        return f"127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                drop = False
                if length and "/blobs/uploads/" in self.path:
                    with proxy.lock:
                        if proxy.drop_uploads > 0:
                            proxy.drop_uploads -= 1
                            proxy.dropped += 1
                            drop = True
                upstream = http.client.HTTPConnection(proxy.upstream, timeout=60)
                upstream.putrequest(
                    self.command, self.path, skip_host=True, skip_accept_encoding=True
                )
                for key, value in self.headers.items():
                    if key.lower() not in ("connection", "keep-alive"):
                        upstream.putheader(key, value)
                upstream.endheaders()
                left = length
                sent = 0
                while left > 0:
                    data = self.rfile.read(min(65536, left))
                    if not data:
                        break
                    if drop and sent + len(data) >= proxy.drop_after:
                        upstream.send(data[: max(proxy.drop_after - sent, 0)])
                        upstream.close()
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    upstream.send(data)
                    sent += len(data)
                    left -= len(data)
                response = upstream.getresponse()
                body = response.read()
                if (
                    self.command == "GET"
                    and "/blobs/sha256:" in self.path
                    and len(body) > 2
                    and (proxy.corrupt_blobs or any(d in self.path for d in proxy.corrupt_digests))
                ):
                    mid = len(body) // 2
                    body = body[:mid] + bytes([body[mid] ^ 0xFF]) + body[mid + 1 :]
                self.send_response(response.status, response.reason)
                for key, value in response.getheaders():
                    if key.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(key, value)
                upstream_length = response.getheader("Content-Length") or "0"
                length_out = upstream_length if self.command == "HEAD" else str(len(body))
                self.send_header("Content-Length", length_out)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)
                upstream.close()

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _forward  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def registry_available() -> bool:
    return os.access(REGISTRY, os.X_OK)
