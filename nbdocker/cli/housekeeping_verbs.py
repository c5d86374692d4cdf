"""The housekeeping verbs: ``system df``, ``system prune``, ``image prune``, ``container
prune``, ``builder prune`` (Docker's words, prompts and output) and ``fsck`` (nbdocker's own).

Like Docker, a prune asks before it removes anything unless given ``-f``, and reads the answer
from standard input whether or not it is a terminal (``yes | nbdocker image prune`` works; with
no input the answer is no). Declining removes nothing and exits 0, as Docker 20.10 does.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..engine import Engine
from ..engine.housekeeping import ALL, DANGLING, PruneOptions, PruneReport
from ..formatting import human_size, table
from .streams import Handler, Streams

__all__ = ["register"]

_DANGLING_IMAGES = "all dangling images"
_ALL_IMAGES = "all images without at least one container associated to them"


def _confirmed(io: Streams, warning: str) -> bool:
    """Docker's PromptForConfirmation: the warning, the question, one line of answer."""
    io.out.write(f"{warning}\nAre you sure you want to continue? [y/N] ")
    io.out.flush()
    answer = io.binary_in.readline().decode(errors="replace").strip()
    return answer.lower() == "y"


def _section(io: Streams, title: str, lines: list[str]) -> None:
    if lines:
        io.out.write(title + "\n" + "".join(f"{line}\n" for line in lines) + "\n")


def _image_lines(report: PruneReport) -> list[str]:
    return [f"untagged: {name}" for name in report.untagged] + [
        f"deleted: {image_id}" for image_id in report.images
    ]


def _total(io: Streams, report: PruneReport) -> None:
    io.out.write(f"Total reclaimed space: {human_size(report.reclaimed)}\n")
    if report.deferred:
        io.err.write(
            "Note: a build, pull, load or import is running on this store: the blobs and "
            "unpacked layers nothing needs any more are removed by the next prune after it ends\n"
        )


def do_image_prune(engine: Engine, args: argparse.Namespace, io: Streams) -> int:
    what = _ALL_IMAGES if args.all else _DANGLING_IMAGES
    if not args.force and not _confirmed(io, f"WARNING! This will remove {what}."):
        return 0
    report = engine.prune(PruneOptions(images=ALL if args.all else DANGLING))
    _section(io, "Deleted Images:", _image_lines(report))
    _total(io, report)
    return 0


def do_container_prune(engine: Engine, args: argparse.Namespace, io: Streams) -> int:
    if not args.force and not _confirmed(io, "WARNING! This will remove all stopped containers."):
        return 0
    report = engine.prune(PruneOptions(containers=True))
    _section(io, "Deleted Containers:", list(report.containers))
    _total(io, report)
    return 0


def do_builder_prune(engine: Engine, args: argparse.Namespace, io: Streams) -> int:
    what = "all build cache" if args.all else "all dangling build cache"
    if not args.force and not _confirmed(io, f"WARNING! This will remove {what}."):
        return 0
    report = engine.prune(PruneOptions(build_cache=ALL if args.all else DANGLING))
    _section(io, "Deleted build cache objects:", [*report.images, *report.build_cache])
    _total(io, report)
    return 0


def do_system_prune(engine: Engine, args: argparse.Namespace, io: Streams) -> int:
    items = [
        "all stopped containers",
        _ALL_IMAGES if args.all else _DANGLING_IMAGES,
        "all build cache" if args.all else "all dangling build cache",
    ]
    warning = "WARNING! This will remove:\n" + "".join(f"  - {i}\n" for i in items)
    if not args.force and not _confirmed(io, warning):
        return 0
    report = engine.prune(
        PruneOptions(
            containers=True,
            images=ALL if args.all else DANGLING,
            build_cache=ALL if args.all else DANGLING,
        )
    )
    _section(io, "Deleted Containers:", list(report.containers))
    _section(io, "Deleted Images:", _image_lines(report))
    _section(io, "Deleted build cache objects:", list(report.build_cache))
    _total(io, report)
    return 0


def do_system_df(engine: Engine, args: argparse.Namespace, io: Streams) -> int:
    usage = engine.disk_usage()
    rows = []
    for row in usage.rows:
        reclaimable = human_size(row.reclaimable)
        if row.kind != "Build Cache":  # (Docker gives the build cache no percentage)
            share = round(100 * row.reclaimable / row.size) if row.size else 0
            reclaimable += f" ({share}%)"
        rows.append([row.kind, str(row.total), str(row.active), human_size(row.size), reclaimable])
    io.out.write(table(["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], rows))
    if args.verbose and usage.leftovers:
        io.out.write("\nLeft by killed commands (removed by any prune):\n")
        io.out.write("".join(f"  {path}\n" for path in usage.leftovers))
    return 0


def do_fsck(engine: Engine, args: argparse.Namespace, io: Streams) -> int:
    report = engine.fsck(repair=args.repair)
    for problem in report.problems:
        if not args.repair:
            io.out.write(problem.text + "\n")
        elif problem.repaired:
            io.out.write(f"repaired: {problem.text}: {problem.outcome}\n")
        else:
            io.out.write(f"not repaired: {problem.text}: {problem.outcome}\n")
    summary = (
        f"checked {report.blobs} blobs, {report.images} image entries, "
        f"{report.layers} unpacked layers: "
    )
    left = sum(1 for p in report.problems if not p.repaired) if args.repair else 0
    if not report.problems:
        summary += "no problems"
    elif args.repair:
        summary += f"{len(report.problems) - left} repaired, {left} not repaired"
    else:
        summary += f"{len(report.problems)} problems (fsck --repair puts right what it can)"
    io.err.write(summary + "\n")
    return 1 if (left if args.repair else report.problems) else 0


VERBS = ("system", "image", "container", "builder", "fsck")  # what register() adds


def _group(verbs: Any, name: str, help: str) -> Any:
    p = verbs.add_parser(name, help=help)
    sub = p.add_subparsers(dest=f"{name}_command", metavar="COMMAND", parser_class=type(p))
    sub.required = True
    return sub


def _prune_parser(group: Any, help: str, handler: Handler, all_help: str | None) -> None:
    p = group.add_parser("prune", help=help)
    if all_help is not None:
        p.add_argument("-a", "--all", action="store_true", help=all_help)
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.set_defaults(handler=handler)


def register(verbs: Any) -> None:
    system = _group(verbs, "system", "Manage nbdocker's store: df, prune")
    p = system.add_parser("df", help="Show disk usage")
    p.add_argument(
        "-v", "--verbose", action="store_true", help="Also list what killed commands left"
    )
    p.set_defaults(handler=do_system_df)
    _prune_parser(
        system,
        "Remove unused data",
        do_system_prune,
        "Remove all unused images and all build cache, not just dangling ones",
    )
    _prune_parser(
        _group(verbs, "image", "Manage images: prune"),
        "Remove unused images",
        do_image_prune,
        "Remove all unused images, not just dangling ones",
    )
    _prune_parser(
        _group(verbs, "container", "Manage containers: prune"),
        "Remove all stopped containers",
        do_container_prune,
        None,
    )
    _prune_parser(
        _group(verbs, "builder", "Manage builds: prune"),
        "Remove build cache",
        do_builder_prune,
        "Remove all build cache, not just dangling ones",
    )
    p = verbs.add_parser("fsck", help="Check the store: every blob, reference and unpacked layer")
    p.add_argument(
        "--repair",
        action="store_true",
        help="Remove what is corrupt or left over and can be made again; say what cannot",
    )
    p.set_defaults(handler=do_fsck)
