"""``Engine.build``: find the Dockerfile and the context, then run the build."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO

from .. import layer, sandbox, userns
from ..errors import DockerfileError, InvalidReference, NbdockerError, UsageError
from ..events import EventSink
from ..image import Image
from ..leftovers import BUILDS, owned_name
from ..reference import parse_reference
from .build import Builder
from .context import BuildContext
from .options import BuildOptions
from .services import BuildServices

__all__ = ["BuildServices", "run_build"]


def _looks_like_tar(head: bytes) -> bool:
    return len(head) >= 262 and head[257:262] == b"ustar"


@contextlib.contextmanager
def _context(
    services: BuildServices,
    context: str | os.PathLike[str] | IO[bytes] | None,
    options: BuildOptions,
) -> Iterator[tuple[BuildContext | None, str, tuple[str, Path | None]]]:
    """(context, its label, (Dockerfile text, the file it was read from))."""
    scratch = services.store.root / BUILDS / owned_name("context-")
    try:
        if context is None:
            yield None, "", _dockerfile_text(options, None)
        elif isinstance(context, (str, os.PathLike)):
            root = Path(context)
            if not root.is_dir():
                raise UsageError(
                    f"unable to prepare context: path {str(root)!r} not found; "
                    "give a directory, - for a tar on standard input, or no "
                    "context"
                )
            ctx = BuildContext.from_dir(root)
            yield ctx, str(root), _dockerfile_text(options, ctx)
        else:
            stream = layer.decompressed(context)
            head = stream.read(512)
            rest = io.BufferedReader(layer.Peekable(stream, head))
            if _looks_like_tar(head):
                ctx = BuildContext.from_tar(rest, scratch)
                text, path = _dockerfile_text(options, ctx)
                if path is not None and scratch in path.parents:
                    path = None  # read from the tar: no file of the user's
                yield ctx, "-", (text, path)
            else:  # docker build - < Dockerfile: the stream is the Dockerfile, no context
                text = (head + rest.read()).decode()
                yield None, "", (options.dockerfile_text or text, None)
    finally:
        userns.remove_tree(scratch)


def _dockerfile_text(options: BuildOptions, ctx: BuildContext | None) -> tuple[str, Path | None]:
    """The Dockerfile's text and the file it came from (None: given as text)."""
    if options.dockerfile_text is not None:
        return options.dockerfile_text, None
    if options.dockerfile is not None:
        candidates = [Path(options.dockerfile)]
        if ctx is not None and not Path(options.dockerfile).is_absolute():
            candidates.append(ctx.root / options.dockerfile)
    elif ctx is not None:
        candidates = [ctx.root / "Dockerfile"]
    else:
        raise UsageError("no Dockerfile: give a context directory that holds one, or -f FILE")
    for path in candidates:
        if path.is_file():
            try:
                return path.read_text(), path
            except (OSError, UnicodeDecodeError) as exc:
                raise DockerfileError(f"cannot read the Dockerfile ({exc})", str(path)) from None
    # Not a usage error: the command line is right, the file is missing (Docker exits 1 too).
    raise NbdockerError(
        f"cannot find the Dockerfile {str(candidates[0])!r}: create it or give its path with -f"
    )


def run_build(
    services: BuildServices,
    context: str | os.PathLike[str] | IO[bytes] | None,
    options: BuildOptions,
    on_event: EventSink,
) -> Image:
    """Build the Dockerfile ``options`` name (or hold) with ``context``; the final image.
    A bad ``-t`` name or an isolation level this machine cannot give fails here, before the
    context is read or any step runs."""
    if options.isolation is not None:
        sandbox.level_for(options.isolation, services.store.root)
    for tag in options.tags:
        try:
            parse_reference(tag)
        except InvalidReference as exc:
            raise UsageError(f"-t {tag}: {exc}") from None
    with _context(services, context, options) as (ctx, label, (text, path)):
        if options.dockerfile is not None and options.dockerfile_name == "Dockerfile":
            options = replace(options, dockerfile_name=options.dockerfile)
        if path is not None:  # builds of the file at this path are builds of one Dockerfile
            options = replace(options, lineage=(*options.lineage, f"file:{path.resolve()}"))
        builder = Builder(services, options, ctx, ctx.size if ctx else 0, label, on_event)
        return builder.run(text)
