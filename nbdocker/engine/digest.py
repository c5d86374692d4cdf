"""Content digests (``sha256:<hex>``) and streams that hash what passes through them."""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

from .errors import DigestMismatch

if TYPE_CHECKING:
    from .chunks import Sink

__all__ = ["HashingWriter", "check_digest", "sha256_digest"]

_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(digest: str, what: str = "digest") -> str:
    """Return ``digest`` if it is a well-formed sha256 digest, else raise DigestMismatch."""
    if not _DIGEST_RE.fullmatch(digest):
        raise DigestMismatch(f"{what} {digest!r} is not of the form sha256:<64 hex digits>")
    return digest


class HashingWriter:
    """A binary sink that counts and hashes every byte written, then passes it on."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        self.size += len(data)
        self._sink.write(data)
        return len(data)

    def flush(self) -> None:
        self._sink.flush()

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()
