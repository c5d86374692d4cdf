"""ADD from a URL: download to a scratch file, check ``--checksum``, note Last-Modified.

Why separate from the rest of the copy: downloading needs httpx and the network, which the
user-namespace helper never needs; the step fetches first (:func:`fetch_plan`), then the local
files are copied like any other.

Docker's rules: the file is streamed (never held in memory), gets mode 0600 and the server's
Last-Modified time; when the destination is a directory its name is the URL path's last
component (else Content-Disposition's filename); a remote archive is *not* extracted.
Failure guarantee: any failure is one :class:`DockerfileError` line and leaves no partial file.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import os
import posixpath
import tempfile
import urllib.parse
from dataclasses import replace
from email.message import Message
from pathlib import Path

import httpx

from ...lazy import lazy_dataclass
from .plan import CopyPlan, Where

__all__ = ["Fetched", "fetch_plan", "fetch_url"]

_CHUNK = 1 << 20


@lazy_dataclass(frozen=True)
class Fetched:
    """A downloaded file: where it is, its name for a directory destination, the server's
    modification time (None without Last-Modified) and its ``sha256:`` digest."""

    path: Path
    name: str
    mtime: float | None
    digest: str


def _name_for(url: str, response: httpx.Response) -> str:
    path = urllib.parse.unquote(urllib.parse.urlsplit(url).path)
    if path and not path.endswith("/"):
        name = posixpath.basename(path)
        if name:
            return name
    disposition = response.headers.get("content-disposition")
    if disposition:
        message = Message()
        message["content-disposition"] = disposition
        filename = message.get_param("filename", header="content-disposition")
        if isinstance(filename, str) and filename and not filename.endswith("/"):
            return posixpath.basename(filename)
    return ""


def _mtime(response: httpx.Response) -> float | None:
    value = response.headers.get("last-modified")
    if not value:
        return None
    with contextlib.suppress(TypeError, ValueError):
        return email.utils.parsedate_to_datetime(value).timestamp()
    return None


def fetch_url(
    url: str,
    scratch: Path,
    *,
    where: Where,
    checksum: str | None = None,
    client: httpx.Client | None = None,
) -> Fetched:
    """Download ``url`` into a new file under ``scratch``; ``checksum`` is ``sha256:<hex>``.
    Raises :class:`DockerfileError` (HTTP error, unreachable, checksum mismatch)."""
    if checksum is not None:
        algorithm, _, expected = checksum.partition(":")
        if algorithm != "sha256" or len(expected) != 64:
            raise where.error(f"invalid --checksum={checksum}: give sha256:<64 hex digits>")
    scratch.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="add-", dir=scratch)
    path = Path(name)
    own = client is None
    http = client or httpx.Client(follow_redirects=True, timeout=httpx.Timeout(60.0))
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, http.stream("GET", url) as response:
            if response.status_code >= 400:
                raise where.error(
                    f"ADD failed: failed to GET {url} with status {response.status_code} "
                    f"{response.reason_phrase}; check the URL"
                )
            for chunk in response.iter_bytes(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
            fetched = Fetched(path, _name_for(url, response), _mtime(response), "")
        got = "sha256:" + digest.hexdigest()
        if checksum is not None and got != checksum:
            raise where.error(
                f"ADD {url}: checksum mismatch: expected {checksum}, got {got}; the file "
                "changed or the checksum is wrong"
            )
        os.chmod(path, 0o600)
        return replace(fetched, digest=got)
    except httpx.HTTPError as exc:
        path.unlink(missing_ok=True)
        raise where.error(f"ADD failed: cannot download {url}: {exc}") from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    finally:
        if own:
            http.close()


def fetch_plan(plan: CopyPlan, scratch: Path, *, client: httpx.Client | None = None) -> CopyPlan:
    """``plan`` with every URL downloaded (its items become ``fetched``, ready for
    :func:`.plan.source_digest` and :func:`.layertree.build_copy`)."""
    items = []
    for item in plan.items:
        if item.kind != "url":
            items.append(item)
            continue
        got = fetch_url(item.url, scratch, where=plan.where, checksum=item.checksum, client=client)
        if not got.name and plan.dest_dir:
            raise plan.where.error(
                f"ADD {item.url}: cannot determine a file name from the URL; give the "
                "destination as a file path"
            )
        items.append(
            replace(item, kind="fetched", local=str(got.path), mtime=got.mtime, name=got.name)
        )
    return replace(plan, items=tuple(items))
