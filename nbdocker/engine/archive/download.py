"""A tarball from an ``http(s)://`` URL, streamed (``import URL``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import IO, cast

import httpx

from ..chunks import ChunkStream
from ..errors import ArchiveError

__all__ = ["open_url"]

_CHUNK = 1 << 20


@contextlib.contextmanager
def open_url(url: str) -> Iterator[tuple[IO[bytes], int | None]]:
    """Stream the body of ``url``; one-line errors for unreachable hosts and HTTP failures."""
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=60) as response:
            if response.status_code != 200:
                raise ArchiveError(
                    f"{url}: the server answered {response.status_code} "
                    f"{response.reason_phrase}; check the address"
                )
            total = response.headers.get("content-length")
            yield (
                cast(IO[bytes], _ResponseReader(response)),
                int(total) if total and total.isdigit() else None,
            )
    except httpx.InvalidURL as exc:
        raise ArchiveError(f"{url}: not a valid address ({exc}); check the URL") from None
    except httpx.HTTPError as exc:
        raise ArchiveError(
            f"{url}: cannot download ({exc}); check the address and network"
        ) from None


class _ResponseReader(ChunkStream):
    """The body of a streamed response, in the chunks httpx receives."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__()
        self._chunks = response.iter_bytes(_CHUNK)

    def _next_chunk(self) -> bytes:
        return next(self._chunks, b"")
