"""The distribution API of one registry: manifests and blobs of its repositories.

``/v2/`` (ping), ``HEAD``/``GET /v2/<name>/blobs/<digest>``, uploads
(``POST /v2/<name>/blobs/uploads/`` then one ``PUT ?digest=`` for small blobs, or ``PATCH``
chunks with ``Content-Range`` and a closing ``PUT``), cross-repository mounts
(``POST …/uploads/?mount=<digest>&from=<repo>``), and ``GET``/``PUT /v2/<name>/manifests/<ref>``.
Each request carries the authorisation its scope needs (see :mod:`.auth`); a 401 is answered
once by authenticating again.

Broken transfers: a blob download that breaks is resumed with a ``Range`` request when the
server allows it; a broken upload asks the registry how much it has (``GET`` of the upload
URL) and continues from there, or starts again in a fresh upload session. A blob is only
committed by the registry when its closing ``PUT`` names a digest that matches, so a failed
upload never leaves a wrong blob behind.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from typing import IO
from urllib.parse import urlencode

import httpx

from ..chunks import ChunkStream
from ..digest import sha256_digest
from ..errors import (
    AuthenticationError,
    DigestMismatch,
    ImageNotFound,
    NbdockerError,
    RegistryError,
)
from ..lazy import lazy_dataclass
from ..oci import (
    DOCKER_MANIFEST_LIST_MEDIA_TYPE,
    DOCKER_MANIFEST_MEDIA_TYPE,
    INDEX_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
)
from .auth import Authenticator, Credentials
from .transport import (
    RegistrySettings,
    Transport,
    check_deadline,
    registry_host,
    translate,
)

__all__ = [
    "MANIFEST_ACCEPT",
    "ManifestBlob",
    "RegistryClient",
    "pull_scope",
    "push_scope",
]

MANIFEST_ACCEPT = ", ".join(
    (
        DOCKER_MANIFEST_MEDIA_TYPE,
        DOCKER_MANIFEST_LIST_MEDIA_TYPE,
        MANIFEST_MEDIA_TYPE,
        INDEX_MEDIA_TYPE,
    )
)
_SLOWEST_BLOB = 64 << 10  # bytes per second a blob's download is allowed on top of the deadline
_CHUNK = 1 << 20


def pull_scope(repo: str) -> str:
    return f"repository:{repo}:pull"


def push_scope(repo: str) -> str:
    return f"repository:{repo}:pull,push"


@lazy_dataclass(frozen=True)
class ManifestBlob:
    """A manifest or index exactly as the registry served it (its digest is of ``data``)."""

    data: bytes
    media_type: str
    digest: str

    def document(self) -> object:
        """``data`` parsed (JSON from outside: check it before use)."""
        return json.loads(self.data)


def _errors_of(response: httpx.Response) -> list[tuple[str, str]]:
    try:
        body = response.json()
        return [(str(e.get("code", "")), str(e.get("message", ""))) for e in body["errors"]]
    except (ValueError, KeyError, TypeError, AttributeError):  # not Docker's error body
        return []


class _Broken(Exception):
    """A transfer broke off (connection) — the caller may resume."""


class RegistryClient:
    """Talks to one registry (``domain`` as references spell it, e.g. ``127.0.0.1:5000``)."""

    def __init__(
        self, domain: str, settings: RegistrySettings, credentials: Credentials | None
    ) -> None:
        self.domain = domain
        self.host = registry_host(domain)
        self.settings = settings
        self.transport = Transport(self.host, settings)
        self.auth = Authenticator(self.transport, credentials)

    def close(self) -> None:
        self.auth.close()
        self.transport.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests ------------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        scopes: Sequence[str],
        *,
        headers: dict[str, str] | None = None,
        content: bytes | Callable[[], Iterator[bytes]] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """Send with auth; on 401 authenticate once and send again."""
        for attempt in (0, 1):
            all_headers = dict(headers or {})
            all_headers.update(self.auth.header(scopes))
            body = content() if callable(content) else content
            response = self.transport.request(
                method, url, headers=all_headers, content=body, stream=stream
            )
            if response.status_code != 401 or attempt == 1:
                return response
            response.close()
            self.auth.unauthorized(response, scopes)
        raise AssertionError("unreachable")  # pragma: no cover

    def _fail(self, response: httpx.Response, what: str) -> NbdockerError:
        errors = _errors_of(response)
        detail = "; ".join(f"{c}: {m}" if m else c for c, m in errors) or (
            f"{response.status_code} {response.reason_phrase}"
        )
        if response.status_code == 401:
            return AuthenticationError(
                f"{what}: access denied by {self.domain} ({detail}); the repository may not "
                f"exist, or log in with 'nbdocker login {self.domain}'"
            )
        if response.status_code == 403:
            return AuthenticationError(
                f"{what}: forbidden by {self.domain} ({detail}); the account may lack access"
            )
        return RegistryError(f"{what}: registry {self.domain} answered {detail}")

    # -- login ---------------------------------------------------------------------------------

    def check_login(self) -> None:
        """Check the credentials: Basic against ``/v2/``, Bearer against the token service."""
        response = self._send("GET", "/v2/", [])
        if response.status_code == 401:
            who = self.auth.credentials.username if self.auth.credentials else "anonymous"
            raise AuthenticationError(
                f"login to {self.domain} failed: wrong user name or password for {who!r}; "
                "check them and try again"
            )
        if response.status_code != 200:
            raise self._fail(response, f"login to {self.domain}")

    # -- manifests -----------------------------------------------------------------------------

    def get_manifest(self, repo: str, reference: str, *, by_digest: bool = False) -> ManifestBlob:
        """GET a manifest by tag or digest, verified when its digest is known."""
        url = f"/v2/{repo}/manifests/{reference}"
        response = self._send("GET", url, [pull_scope(repo)], headers={"Accept": MANIFEST_ACCEPT})
        what = f"{self.domain}/{repo}:{reference}" if not by_digest else f"{repo}@{reference}"
        if response.status_code == 404:
            codes = {c for c, _ in _errors_of(response)}
            if "NAME_UNKNOWN" in codes:
                raise ImageNotFound(
                    f"repository {self.domain}/{repo} does not exist; check the name"
                )
            raise ImageNotFound(
                f"manifest for {what} not found: manifest unknown; check the tag or digest"
            )
        if response.status_code != 200:
            raise self._fail(response, f"pull {what}")
        data = response.content  # at most MAX_BODY: the transport refuses more as it reads
        digest = sha256_digest(data)
        expected = reference if by_digest else response.headers.get("docker-content-digest")
        if expected and expected.startswith("sha256:") and expected != digest:
            raise DigestMismatch(
                f"pull {what}: the manifest was announced as {expected} but hashes to {digest}; "
                "the registry or a proxy changed it — try again"
            )
        media_type = response.headers.get("content-type", "").split(";", 1)[0].strip()
        try:
            body = json.loads(data)
            media_type = body.get("mediaType") or media_type
        except (ValueError, AttributeError):
            raise RegistryError(f"pull {what}: the manifest is not valid JSON") from None
        return ManifestBlob(data, media_type, digest)

    def put_manifest(self, repo: str, reference: str, manifest: ManifestBlob) -> str:
        """PUT a manifest byte-exact under a tag; return the digest the registry reports."""
        url = f"/v2/{repo}/manifests/{reference}"
        response = self._send(
            "PUT",
            url,
            [push_scope(repo)],
            headers={"Content-Type": manifest.media_type},
            content=manifest.data,
        )
        if response.status_code not in (200, 201):
            raise self._fail(response, f"push {self.domain}/{repo}:{reference} (manifest)")
        digest = response.headers.get("docker-content-digest") or manifest.digest
        if digest != manifest.digest:
            raise DigestMismatch(
                f"push {self.domain}/{repo}:{reference}: the registry stored the manifest as "
                f"{digest}, not {manifest.digest}; it altered it"
            )
        return digest

    # -- blobs ---------------------------------------------------------------------------------

    def blob_exists(self, repo: str, digest: str, scopes: Sequence[str] | None = None) -> bool:
        url = f"/v2/{repo}/blobs/{digest}"
        response = self._send("HEAD", url, scopes or [pull_scope(repo)])
        if response.status_code == 200:
            return True
        if response.status_code == 404:
            return False
        raise self._fail(response, f"check blob {digest[:19]} in {self.domain}/{repo}")

    def read_small_blob(self, repo: str, digest: str, limit: int) -> bytes:
        """GET a small blob (a config) whole, verified against its digest."""
        with self.open_blob(repo, digest, limit + 1) as reader:
            data = reader.read(limit + 1)
        if len(data) > limit:
            raise RegistryError(f"blob {digest} of {self.domain}/{repo} is too large for a config")
        actual = sha256_digest(data)
        if actual != digest:
            raise DigestMismatch(
                f"blob {digest} of {self.domain}/{repo} hashes to {actual}; the registry or a "
                "proxy sent wrong data — try again"
            )
        return data

    @contextlib.contextmanager
    def open_blob(self, repo: str, digest: str, size: int | None) -> Iterator[IO[bytes]]:
        """A stream of a blob's bytes (redirects to storage followed; breaks resumed with
        ``Range`` where the server allows). The caller verifies the digest.

        With ``size`` (the descriptor's) the stream never yields more: a server sending more
        is refused as soon as it does, before the surplus is stored. The download must finish
        within the settings' deadline plus the time ``size`` takes at 64 KiB/s."""
        reader = _BlobReader(self, repo, digest, size)
        try:
            yield reader  # type: ignore[misc]
        finally:
            reader.close()

    def mount_blob(self, repo: str, digest: str, source_repo: str) -> str | None:
        """Ask the registry to link ``digest`` from ``source_repo``; None when mounted, else the
        upload URL of the session it opened instead."""
        query = urlencode({"mount": digest, "from": source_repo})
        response = self._send(
            "POST",
            f"/v2/{repo}/blobs/uploads/?{query}",
            [push_scope(repo), pull_scope(source_repo)],
        )
        if response.status_code == 201:
            return None
        if response.status_code == 202:
            return self._location(response)
        raise self._fail(response, f"mount blob {digest[:19]} into {self.domain}/{repo}")

    def _location(self, response: httpx.Response) -> str:
        location = response.headers.get("location")
        if not location:
            raise RegistryError(f"registry {self.domain} opened an upload without a Location")
        return str(response.request.url.join(location))

    def start_upload(self, repo: str) -> str:
        response = self._send("POST", f"/v2/{repo}/blobs/uploads/", [push_scope(repo)])
        if response.status_code != 202:
            raise self._fail(response, f"start an upload to {self.domain}/{repo}")
        return self._location(response)

    def upload_blob(
        self,
        repo: str,
        digest: str,
        size: int,
        source: IO[bytes],
        on_bytes: Callable[[int], None],
        location: str | None = None,
    ) -> None:
        """Upload a blob from a seekable ``source``: one PUT when it fits in a chunk, PATCH
        chunks otherwise; resume (or restart) a broken upload, at most ``retries`` times.

        On error the registry holds no blob under ``digest`` from us (the digest is only
        claimed by the closing PUT, which the registry verifies).
        """
        recoveries = self.settings.retries
        offset = 0
        while True:
            try:
                if location is None:
                    location, offset = self.start_upload(repo), 0
                self._upload_from(repo, digest, size, source, on_bytes, location, offset)
                return
            except _Broken:
                if recoveries <= 0:
                    raise RegistryError(
                        f"push to {self.domain}/{repo}: the upload of blob {digest[:19]} broke "
                        "off repeatedly; nothing was tagged — try again"
                    ) from None
                recoveries -= 1
                location, offset = self._upload_status(repo, location)

    def _upload_status(self, repo: str, location: str | None) -> tuple[str | None, int]:
        """Where to continue a broken upload: (location, offset), or (None, 0) to restart."""
        if location is None:
            return None, 0
        try:
            response = self._send("GET", location, [push_scope(repo)])
        except RegistryError:
            return None, 0
        if response.status_code != 204:
            self._cancel(repo, location)
            return None, 0
        new_location = self._location(response)
        rng = response.headers.get("range", "")
        try:
            end = int(rng.split("-", 1)[1]) if "-" in rng else -1
        except ValueError:
            return None, 0
        return new_location, end + 1

    def _cancel(self, repo: str, location: str) -> None:
        with contextlib.suppress(RegistryError, AuthenticationError):
            self._send("DELETE", location, [push_scope(repo)]).close()

    def _upload_from(
        self,
        repo: str,
        digest: str,
        size: int,
        source: IO[bytes],
        on_bytes: Callable[[int], None],
        location: str,
        offset: int,
    ) -> None:
        chunk = max(self.settings.chunk_size, 1)
        what = f"push blob {digest[:19]} to {self.domain}/{repo}"
        on_bytes(offset)
        if offset == 0 and size <= chunk:
            response = self._put_stream(
                repo, _with_query(location, digest), source, 0, size, on_bytes
            )
            if response.status_code != 201:
                self._restart_on_upload_error(response, repo, location, what)
            return
        while offset < size:
            n = min(chunk, size - offset)
            response = self._put_stream(
                repo,
                location,
                source,
                offset,
                n,
                on_bytes,
                method="PATCH",
                extra={"Content-Range": f"{offset}-{offset + n - 1}"},
            )
            if response.status_code != 202:
                if response.status_code == 416:
                    raise _Broken()
                # A connection broken mid-chunk can leave the registry's upload unusable
                # (BLOB_UPLOAD_INVALID on the next chunk): start again, as for a bad digest.
                self._restart_on_upload_error(response, repo, location, what)
            location = self._location(response)
            rng = response.headers.get("range", "")
            offset = int(rng.split("-", 1)[1]) + 1 if "-" in rng else offset + n
        try:
            response = self._send(
                "PUT",
                _with_query(location, digest),
                [push_scope(repo)],
                headers={"Content-Length": "0"},
            )
        except RegistryError:
            raise _Broken() from None
        if response.status_code != 201:
            self._restart_on_upload_error(response, repo, location, what)

    def _restart_on_upload_error(
        self, response: httpx.Response, repo: str, location: str, what: str
    ) -> None:
        """The registry refused what it got of this upload (other bytes than the digest says,
        or an upload a broken connection left unusable): drop it and start again (bounded by
        ``retries``); any other refusal is the push's one-line error."""
        codes = {c for c, _ in _errors_of(response)}
        if "DIGEST_INVALID" in codes or "BLOB_UPLOAD_INVALID" in codes:
            self._cancel(repo, location)
            raise _Broken()
        raise self._fail(response, what)

    def _put_stream(
        self,
        repo: str,
        url: str,
        source: IO[bytes],
        offset: int,
        length: int,
        on_bytes: Callable[[int], None],
        *,
        method: str = "PUT",
        extra: dict[str, str] | None = None,
    ) -> httpx.Response:
        def body() -> Iterator[bytes]:
            source.seek(offset)
            left = length
            done = offset
            while left > 0:
                data = source.read(min(_CHUNK, left))
                if not data:
                    raise RegistryError(f"blob source ended early at byte {done}")
                left -= len(data)
                done += len(data)
                yield data
                on_bytes(done)

        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(length)}
        headers.update(extra or {})
        try:
            return self._send(method, url, [push_scope(repo)], headers=headers, content=body)
        except RegistryError as exc:
            if "connection broke" in str(exc) or "timed out" in str(exc):
                raise _Broken() from None
            raise


def _with_query(location: str, digest: str) -> str:
    sep = "&" if "?" in location else "?"
    return f"{location}{sep}{urlencode({'digest': digest})}"


class _BlobReader(ChunkStream):
    """Reads a blob from a streamed GET; resumes a broken stream with a Range request."""

    def __init__(self, client: RegistryClient, repo: str, digest: str, size: int | None) -> None:
        super().__init__()
        self._client = client
        self._repo = repo
        self._digest = digest
        self._size = size
        deadline = client.settings.deadline + (size or 0) / _SLOWEST_BLOB
        self._deadline = deadline
        self._until = time.monotonic() + deadline
        self._received = 0  # bytes of the blob taken from responses (where a resume starts)
        self._response: httpx.Response | None = None
        self._chunks: Iterator[bytes] | None = None
        self._resumes = client.settings.retries
        self.total: int | None = None
        self._open()

    def _open(self) -> None:
        headers = {"Range": f"bytes={self._received}-"} if self._received else {}
        url = f"/v2/{self._repo}/blobs/{self._digest}"
        response = self._client._send(
            "GET", url, [pull_scope(self._repo)], headers=headers, stream=True
        )
        what = f"pull blob {self._digest[:19]} from {self._client.domain}/{self._repo}"
        if self._received and response.status_code == 200:
            response.close()
            raise RegistryError(f"{what}: the transfer broke and the server cannot resume it")
        if response.status_code not in (200, 206):
            response.read()
            response.close()
            if response.status_code == 404:
                raise RegistryError(f"{what}: blob unknown to the registry")
            raise self._client._fail(response, what)
        if self.total is None:
            length = response.headers.get("content-length")
            self.total = int(length) if length and length.isdigit() else None
        self._response = response
        # Chunks as they arrive (content-encoding undone, as Go does): asking httpx for chunks of
        # a fixed size makes it copy every byte several times, which costs more than the GET.
        self._chunks = response.iter_bytes()

    def _next_chunk(self) -> bytes:
        """The next chunk of the body (b"" at its end), resuming a broken transfer."""
        while True:
            assert self._chunks is not None
            try:
                chunk = next(self._chunks, b"")
            except httpx.HTTPError as exc:
                self._close_response()
                if self._resumes <= 0:
                    raise translate(exc, self._client.host) from None
                self._resumes -= 1
                self._open()
                continue
            self._received += len(chunk)
            if self._size is not None and self._received > self._size:
                self._close_response()
                raise RegistryError(
                    f"pull blob {self._digest[:19]} from {self._client.domain}/{self._repo}: the "
                    f"registry sent more than the {self._size} bytes it announced; refusing it "
                    "(the registry is broken or hostile)"
                )
            try:
                check_deadline(self._until, self._client.host, self._deadline)
            except RegistryError:
                self._close_response()
                raise
            return chunk

    def _close_response(self) -> None:
        if self._response is not None:
            self._response.close()
            self._response = None

    def close(self) -> None:
        self._close_response()
        super().close()
