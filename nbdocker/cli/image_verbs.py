"""The image verbs — import, images, tag, rmi, history, inspect, save, load: their grammar
(Docker's flags) and what each does with the engine, printed in Docker's output shapes."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from ..engine import Engine
from ..engine.atomic import atomic_output
from ..engine.errors import ImageNotFound, NbdockerError, UsageError
from ..formatting import human_size, since, table, truncate
from .build_verbs import source_date_epoch
from .streams import Handler, Streams

__all__ = ["register"]


def _short(image_id: str, no_trunc: bool) -> str:
    return image_id if no_trunc else image_id.split(":", 1)[1][:12]


def do_import(engine: Engine, args: argparse.Namespace, io: Streams) -> None:
    source = io.binary_in if args.source == "-" else args.source
    image = engine.import_image(
        source,
        args.reference,
        message=args.message,
        change=args.change,
        source_date_epoch=source_date_epoch(),
    )
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


def _check_output_path(output: str) -> None:
    """Refuse, as Docker does, an ``-o`` that is a directory or in a directory that does not
    exist, before anything is written."""
    target = Path(output)
    if target.is_dir():
        raise NbdockerError(
            f'invalid output path: "{output}" is a directory; give -o a file name, e.g. '
            f"{output.rstrip('/') or ''}/image.tar"
        )
    if not target.parent.is_dir():
        raise NbdockerError(
            f'invalid output path: directory "{target.parent}" does not exist; create it '
            "or give -o a file in an existing directory"
        )


def do_save(engine: Engine, args: argparse.Namespace, io: Streams) -> None:
    if args.output:
        _check_output_path(args.output)
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


HANDLERS: dict[str, Handler] = {
    "import": do_import,
    "images": do_images,
    "tag": do_tag,
    "rmi": do_rmi,
    "history": do_history,
    "inspect": do_inspect,
    "save": do_save,
    "load": do_load,
}


VERBS = tuple(HANDLERS)  # what register() adds


def register(verbs: Any) -> None:
    """Add the image verbs to the ``nbdocker`` sub-command parser."""
    p = verbs.add_parser("import", help="Import a root filesystem tarball as an image")
    p.add_argument("-m", "--message", help="Set a commit message for the imported image")
    p.add_argument(
        "-c",
        "--change",
        action="append",
        default=[],
        metavar="CHANGE",
        help="Apply a Dockerfile instruction to the image (CMD, ENV, …)",
    )
    p.add_argument("source", metavar="FILE|URL|-")
    p.add_argument("reference", nargs="?", metavar="REPOSITORY[:TAG]")

    p = verbs.add_parser("images", help="List images")
    p.add_argument("reference", nargs="?", metavar="REPOSITORY[:TAG]")
    p.add_argument("-a", "--all", action="store_true", help="Show all images")
    p.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    p.add_argument("--digests", action="store_true", help="Show digests")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="table (default) or json (one object per line)",
    )

    p = verbs.add_parser("tag", help="Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE")
    p.add_argument("source", metavar="SOURCE_IMAGE[:TAG]")
    p.add_argument("target", metavar="TARGET_IMAGE[:TAG]")

    p = verbs.add_parser("rmi", help="Remove one or more images")
    p.add_argument("-f", "--force", action="store_true", help="Force removal of the image")
    p.add_argument("images", nargs="+", metavar="IMAGE")

    p = verbs.add_parser("history", help="Show the history of an image")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    p.add_argument(
        "-H",
        "--human",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Print sizes and dates in human readable format",
    )
    p.add_argument("image", metavar="IMAGE")

    p = verbs.add_parser("inspect", help="Return low-level information on images")
    p.add_argument("images", nargs="+", metavar="IMAGE")

    p = verbs.add_parser("save", help="Save one or more images to a tar archive")
    p.add_argument("-o", "--output", help="Write to a file, instead of STDOUT")
    p.add_argument(
        "--format",
        choices=("docker", "oci"),
        default="docker",
        help="docker (default; loads with docker load) or oci",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE")

    p = verbs.add_parser("load", help="Load images from a tar archive or STDIN")
    p.add_argument("-i", "--input", help="Read from tar archive file, instead of STDIN")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress the load output")
    for name, handler in HANDLERS.items():
        verbs.choices[name].set_defaults(handler=handler)
