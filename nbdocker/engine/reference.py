"""Image references, parsed and normalised by Docker's rules.

``ubuntu`` is ``docker.io/library/ubuntu:latest``; ``ouruser/sinatra`` is
``docker.io/ouruser/sinatra:latest``; ``localhost:5000/x:y`` keeps its registry; a reference may
carry a digest (``name@sha256:…``). The *familiar* form is what Docker prints (``ubuntu:14.04``,
``ouruser/sinatra:v2``), the *full* form is what the store records.
"""

from __future__ import annotations

import re

from .errors import InvalidReference
from .lazy import lazy_dataclass

__all__ = ["DEFAULT_DOMAIN", "DEFAULT_TAG", "Reference", "parse_reference"]

DEFAULT_DOMAIN = "docker.io"
DEFAULT_TAG = "latest"
_LEGACY_DOMAIN = "index.docker.io"
_OFFICIAL_PREFIX = "library/"
_NAME_MAX = 255

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?"
_PATH_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_DOMAIN_RE = re.compile(_DOMAIN)
_TAG_RE = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST_RE = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}")
_SHA256_RE = re.compile(r"sha256:[0-9a-f]{64}")
_HEX64_RE = re.compile(r"[0-9a-f]{64}")


@lazy_dataclass(frozen=True, order=True)
class Reference:
    """A normalised reference: ``domain/path[:tag][@digest]``."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The full repository name, e.g. ``docker.io/library/ubuntu``."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The repository as Docker prints it, e.g. ``ubuntu`` or ``ouruser/sinatra``."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        if self.path.startswith(_OFFICIAL_PREFIX) and "/" not in self.path[len(_OFFICIAL_PREFIX) :]:
            return self.path[len(_OFFICIAL_PREFIX) :]
        return self.path

    def __str__(self) -> str:
        return self._render(self.name)

    @property
    def familiar(self) -> str:
        """The whole reference as Docker prints it, e.g. ``ubuntu:14.04``."""
        return self._render(self.familiar_name)

    def _render(self, name: str) -> str:
        out = name
        if self.tag is not None:
            out += f":{self.tag}"
        if self.digest is not None:
            out += f"@{self.digest}"
        return out

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.domain, self.path, tag, None)

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.domain, self.path, None, digest)


def _split_domain(name: str) -> tuple[str, str]:
    head, sep, rest = name.partition("/")
    if not sep or ("." not in head and ":" not in head and head != "localhost"):
        if head.lower() == head or not sep:
            domain, path = DEFAULT_DOMAIN, name
        else:  # an upper-case first component is a domain (as Docker reads it)
            domain, path = head, rest
    else:
        domain, path = head, rest
    if domain == _LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = _OFFICIAL_PREFIX + path
    return domain, path


def parse_reference(text: str, *, default_tag: bool = True) -> Reference:
    """Parse and normalise ``text``; raise :class:`InvalidReference` with Docker's reasons.

    With ``default_tag`` a reference with neither tag nor digest gets ``:latest``.
    """
    where = f"invalid reference format {text!r}"
    if not text:
        raise InvalidReference(f"{where}: the name is empty; give a name such as ubuntu:14.04")
    if _HEX64_RE.fullmatch(text):
        raise InvalidReference(
            f"{where}: a 64-character hexadecimal string is an image ID, not a repository name"
        )
    remainder, _, digest = text.partition("@")
    if digest and not _DIGEST_RE.fullmatch(digest):
        raise InvalidReference(f"{where}: the digest must look like sha256:<64 hex digits>")
    if digest.startswith("sha256:") and not _SHA256_RE.fullmatch(digest):
        raise InvalidReference(f"{where}: a sha256 digest has exactly 64 lower-case hex digits")
    tag: str | None = None
    colon = remainder.rfind(":")
    if colon > remainder.rfind("/"):
        remainder, tag = remainder[:colon], remainder[colon + 1 :]
        if not _TAG_RE.fullmatch(tag):
            raise InvalidReference(
                f"{where}: a tag is up to 128 letters, digits, '_', '.' or '-' and cannot "
                "start with '.' or '-'"
            )
    if not remainder:
        raise InvalidReference(f"{where}: the repository name is empty")
    domain, path = _split_domain(remainder)
    if not _DOMAIN_RE.fullmatch(domain):
        raise InvalidReference(f"{where}: {domain!r} is not a valid registry host[:port]")
    if not _PATH_RE.fullmatch(path):
        if path.lower() != path:
            raise InvalidReference(f"{where}: repository name must be lowercase")
        raise InvalidReference(
            f"{where}: a repository name is made of lower-case letters, digits and single "
            "separators ('.', '_', '__', '-') in '/'-separated parts"
        )
    if len(domain) + 1 + len(path) > _NAME_MAX:
        raise InvalidReference(f"{where}: repository name must not be more than 255 characters")
    if tag is None and not digest and default_tag:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest or None)
