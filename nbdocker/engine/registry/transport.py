"""HTTP to registries: which scheme a host gets, TLS trust, retries, and error translation.

Decisions (also in the README, "Registries"):

- **Plain HTTP** is allowed only for *insecure* hosts: ``localhost``, 127.0.0.0/8 and ``::1``
  (as Docker treats them) and the hosts listed in ``$NBDOCKER_INSECURE_REGISTRIES``
  (comma-separated ``host[:port]``) or given with ``--insecure-registry``. For those, as Docker
  does, HTTPS is tried first — verified against the CA when one is given, else without
  verification — and plain HTTP is used when the host does not speak TLS.
- Every other host gets **HTTPS verified** against the system trust store, or against the CA
  bundle in ``$NBDOCKER_REGISTRY_CA`` / ``--ca-cert`` when given.
- Requests whose body can be sent again are **retried** with exponential backoff on 429, 5xx
  and broken connections (``Retry-After`` is honoured, capped); streamed uploads are resumed by
  the caller (see :mod:`.client`), which knows where to start again.
- **Time**: a request whose server sends nothing for ``timeout`` seconds (the stall timeout,
  ``$NBDOCKER_REGISTRY_TIMEOUT``, default 60) has stalled; one that has not finished within
  ``deadline`` seconds (``$NBDOCKER_REGISTRY_DEADLINE``, default 600, retries included) is
  given up, so a server trickling a byte at a time cannot hold a command for ever. A layer's
  download gets, on top of the deadline, the time its announced size takes at 64 KiB/s.
- **Size**: a response read whole (manifests, tokens, errors) is refused once it passes
  ``MAX_BODY`` (4 MiB, distribution's manifest limit), while it is read, not after.
- Every ``httpx`` error is turned into a one-line :class:`~nbdocker.engine.errors.RegistryError`
  here, where it enters; no secret ever appears in one (URLs we build carry none; headers are
  never quoted).

The interface the rest of the package uses is :class:`Transport` (``request`` / ``close``), so a
unit test can pass ``httpx.MockTransport`` through :class:`RegistrySettings.transport`.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import field
from typing import Any

import httpx

from ..errors import RegistryError
from ..lazy import lazy_dataclass

__all__ = [
    "ENV_CA",
    "ENV_DEADLINE",
    "ENV_INSECURE",
    "ENV_TIMEOUT",
    "MAX_BODY",
    "RegistrySettings",
    "Transport",
    "bare_host",
    "is_insecure",
    "registry_host",
]

ENV_INSECURE = "NBDOCKER_INSECURE_REGISTRIES"
ENV_CA = "NBDOCKER_REGISTRY_CA"
ENV_TIMEOUT = "NBDOCKER_REGISTRY_TIMEOUT"
ENV_DEADLINE = "NBDOCKER_REGISTRY_DEADLINE"
MAX_BODY = 4 << 20  # as distribution limits manifests
DOCKER_HUB_HOST = "registry-1.docker.io"
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_MAX_RETRY_AFTER = 30.0


def registry_host(domain: str) -> str:
    """The host to talk to for a reference's domain (``docker.io`` is served elsewhere)."""
    return DOCKER_HUB_HOST if domain in ("docker.io", "index.docker.io") else domain


def bare_host(host: str) -> str:
    """``host[:port]`` without its port (IPv6 brackets removed)."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_insecure(host: str, listed: Iterable[str] = ()) -> bool:
    """Whether plain HTTP (and unverified TLS) is allowed for ``host`` (``host[:port]``)."""
    bare = bare_host(host)
    if host in listed or bare in listed or bare == "localhost":
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


@lazy_dataclass(frozen=True)
class RegistrySettings:
    """How to reach registries: insecure hosts, a CA bundle, retry policy.

    ``from_env`` reads ``$NBDOCKER_INSECURE_REGISTRIES`` and ``$NBDOCKER_REGISTRY_CA`` and adds
    what the command line gave. ``transport`` replaces the network (tests).
    """

    insecure: frozenset[str] = frozenset()
    ca_cert: str | None = None
    retries: int = 4
    backoff: float = 0.5  # seconds; doubles each attempt
    timeout: float = 60.0  # seconds without a byte: the request stalled
    deadline: float = 600.0  # seconds for a whole request, retries included
    parallel: int = 3  # layers moved at once
    chunk_size: int = 16 << 20  # bytes per PATCH of a chunked upload
    transport: httpx.BaseTransport | None = field(default=None, compare=False)

    @classmethod
    def from_env(
        cls,
        insecure: Iterable[str] = (),
        ca_cert: str | None = None,
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> RegistrySettings:
        env = os.environ if environ is None else environ
        hosts = {h.strip() for h in env.get(ENV_INSECURE, "").split(",") if h.strip()}
        hosts.update(h.strip() for h in insecure if h.strip())
        ca = ca_cert or env.get(ENV_CA) or None
        if ca is not None and not os.path.isfile(ca):
            raise RegistryError(
                f"CA certificate file {ca} does not exist; give the PEM file of the CA that "
                f"signed the registry's certificate (--ca-cert or {ENV_CA})"
            )
        for name, env_name in (("timeout", ENV_TIMEOUT), ("deadline", ENV_DEADLINE)):
            text = env.get(env_name, "").strip()
            if text and name not in overrides:
                overrides[name] = _seconds(text, env_name)
        return cls(insecure=frozenset(hosts), ca_cert=ca, **overrides)


def _seconds(text: str, env_name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1e9:  # also refuses nan
        raise RegistryError(
            f"${env_name}={text!r} is not a number of seconds; set it to a positive number "
            "(e.g. 60) or unset it"
        )
    return value


class Transport:
    """One connection pool per registry host; knows the host's scheme after the first ping.

    ``request`` sends one request with retries (when its body can be re-sent) and returns the
    response — streamed when ``stream=True`` (the caller closes it). Errors reaching the host
    become :class:`RegistryError`.
    """

    def __init__(self, host: str, settings: RegistrySettings) -> None:
        self.host = host
        self.settings = settings
        self.insecure = is_insecure(host, settings.insecure)
        self._scheme: str | None = None if self.insecure else "https"
        verify: ssl.SSLContext | bool = True
        if settings.ca_cert:
            verify = ssl.create_default_context(cafile=settings.ca_cert)
        elif self.insecure:
            verify = False
        timeout = httpx.Timeout(settings.timeout, connect=min(settings.timeout, 15.0))
        self._client = httpx.Client(
            verify=verify,
            timeout=timeout,
            follow_redirects=True,  # blob GETs may go to storage; httpx drops auth across hosts
            transport=settings.transport,
        )

    def close(self) -> None:
        self._client.close()

    @property
    def scheme(self) -> str:
        if self._scheme is None:
            self._scheme = self._probe()
        return self._scheme

    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.host}{path}"

    def _probe(self) -> str:
        """For an insecure host: HTTPS if it speaks TLS, else plain HTTP (as Docker does)."""
        try:
            self._client.get(
                f"https://{self.host}/v2/", timeout=min(5.0, self.settings.timeout)
            ).close()
            return "https"
        except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError) as exc:
            if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                raise _translate(exc, self.host) from None
            return "http"
        except httpx.HTTPError as exc:
            raise _translate(exc, self.host) from None

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | Iterator[bytes] | None = None,
        stream: bool = False,
        retry: bool | None = None,
    ) -> httpx.Response:
        """Send; retry 429/5xx/broken connections with backoff when the body can be re-sent.

        An iterator body is sent once (``retry`` defaults to False for it).
        """
        if url.startswith("/"):
            url = self.url(url)
        until = time.monotonic() + self.settings.deadline
        can_retry = not isinstance(content, Iterator) if retry is None else retry
        attempts = self.settings.retries + 1 if can_retry else 1
        delay = self.settings.backoff
        for attempt in range(attempts):
            last = attempt == attempts - 1 or time.monotonic() + delay >= until
            try:
                req = self._client.build_request(method, url, headers=headers, content=content)
                response = self._client.send(req, stream=True)
            except httpx.TooManyRedirects:
                raise RegistryError(
                    f"registry {self.host}: too many redirects (a redirect loop); the registry "
                    "or a proxy in front of it is misconfigured"
                ) from None
            except (httpx.TransportError, ssl.SSLError) as exc:
                if last or not _retryable_error(exc):
                    raise _translate(exc, self.host) from None
                time.sleep(delay)
                delay *= 2
                continue
            if response.status_code in _RETRY_STATUS and not last:
                wait = _retry_after(response, delay)
                response.close()
                time.sleep(wait)
                delay *= 2
                continue
            if not stream and method == "HEAD":
                # No body, whatever Content-Length says (for a blob: the blob's size).
                response.read()
            elif not stream:
                try:
                    read_capped(response, MAX_BODY, until, self.host, self.settings.deadline)
                except httpx.HTTPError as exc:
                    response.close()
                    if last:
                        raise _translate(exc, self.host) from None
                    time.sleep(delay)
                    delay *= 2
                    continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover


def check_deadline(until: float, host: str, deadline: float) -> None:
    """Raise the one-line error of a request past its deadline (``until``, monotonic)."""
    if time.monotonic() > until:
        raise RegistryError(
            f"registry {host}: a request did not finish within its deadline of {deadline:g} s; "
            f"the registry is too slow or hostile — try again, or raise ${ENV_DEADLINE}"
        )


def read_capped(
    response: httpx.Response, limit: int, until: float, host: str, deadline: float
) -> bytes:
    """Read a whole body, refusing it as soon as it passes ``limit`` bytes or the deadline;
    the response is closed on refusal. Sets ``response``'s content as ``read()`` would."""
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        response.close()
        raise _too_large(host, limit)
    parts: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        parts.append(chunk)
        if size > limit:
            response.close()
            raise _too_large(host, limit)
        try:
            check_deadline(until, host, deadline)
        except RegistryError:
            response.close()
            raise
    response._content = b"".join(parts)  # as read() sets it, for .content
    return response._content


def _too_large(host: str, limit: int) -> RegistryError:
    return RegistryError(
        f"registry {host}: a response was larger than {limit >> 20} MiB (the most a manifest "
        "may be); refusing it — the registry is broken or hostile"
    )


def _retryable_error(exc: BaseException) -> bool:
    return isinstance(
        exc,
        httpx.ConnectError
        | httpx.ReadError
        | httpx.WriteError
        | httpx.RemoteProtocolError
        | httpx.TimeoutException,
    )


def _retry_after(response: httpx.Response, default: float) -> float:
    value = response.headers.get("retry-after", "")
    try:
        return min(max(float(value), 0.0), _MAX_RETRY_AFTER)
    except ValueError:
        return default


def _translate(exc: BaseException, host: str) -> RegistryError:
    """A one-line error for a failure to talk to ``host`` (never quoting headers)."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in text:
        return RegistryError(
            f"registry {host}: TLS certificate not trusted ({text}); give its CA with "
            f"--ca-cert or ${ENV_CA}, or list it with --insecure-registry {host}"
        )
    if isinstance(exc, httpx.ConnectError):
        return RegistryError(
            f"registry {host}: cannot connect ({text}); check the name and port, and that it "
            "is running and reachable"
        )
    if isinstance(exc, httpx.TimeoutException):
        return RegistryError(f"registry {host}: timed out ({type(exc).__name__}); try again")
    return RegistryError(f"registry {host}: the connection broke ({text}); try again")


def translate(exc: BaseException, host: str) -> RegistryError:
    """Public face of the error translation, for callers reading streamed bodies."""
    return _translate(exc, host)
