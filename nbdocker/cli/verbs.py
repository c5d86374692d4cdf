"""What each verb does with the engine and how its result is printed (Docker's output shapes)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import IO

from ..engine import Engine
from ..engine.errors import ImageNotFound, UsageError
from ..formatting import human_size, since, table, truncate

__all__ = ["VERBS", "Streams"]


@dataclass(frozen=True)
class Streams:
    """Where a verb reads and writes: the process's streams, or the notebook's."""

    out: IO[str]
    err: IO[str]
    binary_in: IO[bytes]
    binary_out: IO[bytes]
    out_is_tty: bool = False


def _short(image_id: str, no_trunc: bool) -> str:
    return image_id if no_trunc else image_id.split(":", 1)[1][:12]


def do_import(engine: Engine, args: argparse.Namespace, io: Streams) -> None:
    source = io.binary_in if args.source == "-" else args.source
    image = engine.import_image(source, args.reference, message=args.message, change=args.change)
    print(image.id, file=io.out)


def do_images(engine: Engine, args: argparse.Namespace, io: Streams) -> None:
    rows = engine.images(args.reference, all=args.all)
    if args.quiet:
        seen: list[str] = []
        for row in rows:
            short = _short(row.id, args.no_trunc)
            if short not in seen:
                seen.append(short)
        io.out.write("".join(f"{s}\n" for s in seen))
        return
    if args.format == "json":
        for row in rows:
            print(
                json.dumps(
                    {
                        "Containers": "N/A",
                        "CreatedAt": row.created.strftime("%Y-%m-%d %H:%M:%S %z %Z")
                        if row.created
                        else "",
                        "CreatedSince": since(row.created),
                        "Digest": row.digest,
                        "ID": _short(row.id, args.no_trunc),
                        "Repository": row.repository,
                        "SharedSize": "N/A",
                        "Size": human_size(row.size),
                        "Tag": row.tag,
                        "UniqueSize": "N/A",
                        "VirtualSize": human_size(row.size),
                    }
                ),
                file=io.out,
            )
        return
    header = (
        ["REPOSITORY", "TAG"]
        + (["DIGEST"] if args.digests else [])
        + ["IMAGE ID", "CREATED", "SIZE"]
    )
    now = datetime.now(timezone.utc)
    lines = [
        [row.repository, row.tag]
        + ([row.digest] if args.digests else [])
        + [_short(row.id, args.no_trunc), since(row.created, now), human_size(row.size)]
        for row in rows
    ]
    io.out.write(table(header, lines))


def do_tag(engine: Engine, args: argparse.Namespace, io: Streams) -> None:
    engine.tag(args.source, args.target)


def do_rmi(engine: Engine, args: argparse.Namespace, io: Streams) -> None:
    for removal in engine.remove(args.images, force=args.force):
        print(f"{removal.action}: {removal.what}", file=io.out)


def do_history(engine: Engine, args: argparse.Namespace, io: Streams) -> None:
    entries = engine.history(args.image)
    if args.quiet:
        for e in entries:
            print(
                e.image if e.image == "<missing>" else _short(e.image, args.no_trunc), file=io.out
            )
        return
    rows = []
    now = datetime.now(timezone.utc)
    for e in entries:
        created_by = e.created_by.replace("\t", " ")
        if not args.no_trunc:
            created_by = truncate(created_by, 45)
        image = e.image if e.image == "<missing>" else _short(e.image, args.no_trunc)
        created = (
            since(e.created, now) if args.human else (e.created.isoformat() if e.created else "N/A")
        )
        size = human_size(e.size, 3) if args.human else str(e.size)
        rows.append([image, created, created_by, size, e.comment])
    io.out.write(table(["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"], rows))


def do_inspect(engine: Engine, args: argparse.Namespace, io: Streams) -> None:
    found, missing = [], []
    for name in args.images:
        try:
            found.append(engine.inspect(name))
        except ImageNotFound:
            missing.append(name)
    print(json.dumps(found, indent=4, ensure_ascii=False), file=io.out)
    if missing:
        raise ImageNotFound(f"no such image: {', '.join(missing)}")


def do_save(engine: Engine, args: argparse.Namespace, io: Streams) -> None:
    if args.output:
        from ..engine.atomic import atomic_output

        with atomic_output(args.output) as f:
            engine.save(args.images, f, format=args.format)
        return
    if io.out_is_tty:
        raise UsageError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    engine.save(args.images, io.binary_out, format=args.format)
    io.binary_out.flush()


def do_load(engine: Engine, args: argparse.Namespace, io: Streams) -> None:
    if args.input:
        try:
            source: IO[bytes] = open(args.input, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise ImageNotFound(
                f"{args.input}: cannot open ({exc.strerror}); give the path of "
                "an archive written by docker save or nbdocker save"
            ) from None
    else:
        if sys.stdin.isatty() and io.binary_in is sys.stdin.buffer:
            raise UsageError("requested load from stdin, but stdin is empty; use -i FILE")
        source = io.binary_in
    with source:
        loaded = engine.load(source)
    if not args.quiet:
        for name in loaded:
            label = "Loaded image ID" if name.startswith("sha256:") else "Loaded image"
            print(f"{label}: {name}", file=io.out)


VERBS: dict[str, Callable[[Engine, argparse.Namespace, Streams], None]] = {
    "import": do_import,
    "images": do_images,
    "tag": do_tag,
    "rmi": do_rmi,
    "history": do_history,
    "inspect": do_inspect,
    "save": do_save,
    "load": do_load,
}
