"""``nbdocker build``: Docker's flags, the Dockerfile and context from where Docker takes them,
and the output chosen by ``--progress``."""

from __future__ import annotations

import argparse
import os
from typing import Any

from ..engine import Engine
from ..engine.atomic import atomic_write
from ..engine.builder import BuildOptions
from ..engine.errors import UsageError
from ..engine.events import BuildFailed, Event
from .build_output import ClassicOutput, JsonOutput, LiveOutput, QuietOutput
from .streams import Streams
from .system_verbs import add_isolation_argument

__all__ = ["build_options", "register"]


def _pairs(values: list[str], flag: str, allow_bare: bool) -> tuple[tuple[str, Any], ...]:
    out: list[tuple[str, Any]] = []
    for value in values:
        key, sep, val = value.partition("=")
        if not key:
            raise UsageError(f"{flag} {value!r}: give NAME=VALUE")
        if not sep:
            if not allow_bare:
                raise UsageError(f"{flag} {value!r}: give NAME=VALUE")
            env = os.environ.get(key)
            if env is None:
                continue  # docker: --build-arg NAME without value takes it from the environment
            val = env
        out.append((key, val))
    return tuple(out)


def source_date_epoch(flag: int | None = None) -> int | None:
    """The time every date of a new image takes: ``flag`` (``--source-date-epoch``), else
    ``$SOURCE_DATE_EPOCH``, else None (build: now; import: the tarball's newest mtime)."""
    if flag is not None:
        return flag
    text = os.environ.get("SOURCE_DATE_EPOCH")
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise UsageError(
            f"SOURCE_DATE_EPOCH={text!r}: give a number of seconds since 1970, or unset it"
        ) from None


def build_options(args: argparse.Namespace, dockerfile_text: str | None = None) -> BuildOptions:
    """The BuildOptions a parsed ``build`` command line asks for (shared with %%dockerfile)."""
    epoch = source_date_epoch(args.source_date_epoch)
    return BuildOptions(
        tags=tuple(args.tag),
        dockerfile=None if getattr(args, "file", None) in (None, "-") else args.file,
        dockerfile_text=dockerfile_text,
        build_args=_pairs(args.build_arg, "--build-arg", True),
        target=args.target,
        no_cache=args.no_cache,
        labels=_pairs(args.label, "--label", False),
        network=args.network,
        source_date_epoch=epoch,
        isolation=args.isolation,
    )


def add_build_arguments(p: argparse.ArgumentParser, file_flag: bool = True) -> None:
    """``build``'s flags; without ``file_flag`` no ``-f`` (a ``%%dockerfile`` cell is the
    Dockerfile)."""
    p.add_argument(
        "-t",
        "--tag",
        action="append",
        default=[],
        help="Name and optionally a tag in the 'name:tag' format",
    )
    if file_flag:
        p.add_argument(
            "-f",
            "--file",
            help="Name of the Dockerfile (default: PATH/Dockerfile; - reads it from STDIN)",
        )
    p.add_argument("--build-arg", action="append", default=[], help="Set build-time variables")
    p.add_argument("--target", help="Set the target build stage to build")
    p.add_argument("--no-cache", action="store_true", help="Do not use cache when building")
    p.add_argument("--label", action="append", default=[], help="Set metadata for an image")
    p.add_argument(
        "--network",
        default="default",
        choices=("default", "host", "none"),
        help="Networking mode for the RUN instructions during build",
    )
    add_isolation_argument(p)
    p.add_argument(
        "--source-date-epoch",
        type=int,
        default=None,
        help="Timestamp for every date in the image (reproducible builds; default "
        "$SOURCE_DATE_EPOCH)",
    )


def do_build(engine: Engine, args: argparse.Namespace, io: Streams) -> int:
    text = None
    context: Any = args.context
    if args.file == "-":
        if args.context == "-":
            raise UsageError("build: the Dockerfile and the context cannot both come from STDIN")
        text = io.binary_in.read().decode()
    if args.context == "-":
        context = io.binary_in
    options = build_options(args, text)
    if args.quiet:
        render: Any = QuietOutput()
    elif args.progress == "json":
        render = JsonOutput(io.out)
    elif args.progress == "auto" and io.err.isatty():
        render = LiveOutput(io.err)
    else:
        render = ClassicOutput(io.out, explain=args.progress == "plain")
    failures: list[BuildFailed] = []

    def sink(event: Event) -> None:
        if isinstance(event, BuildFailed):
            failures.append(event)
        render(event)
        previous(event)

    previous = engine.on_event
    engine.on_event = sink
    try:
        image = engine.build(context, options)
    except Exception:
        if failures and failures[-1].last_lines and not args.quiet and args.progress != "json":
            for line in failures[-1].last_lines[-5:]:
                print(f"  | {line}", file=io.err)
        raise
    finally:
        engine.on_event = previous
    if args.quiet:
        print(image.id, file=io.out)
    if args.iidfile:
        atomic_write(args.iidfile, image.id.encode())
    return 0


VERBS = ("build",)  # what register() adds

EXIT_STATUS = (
    "Exit status, as docker build's: 0 when the image was built; the status of the RUN command "
    "that failed (RUN exit 7: 7, a failed apt-get: 100); 1 for any other failure; 2 for a usage "
    "error."
)


def register(verbs: Any) -> None:
    """Add ``build`` to the ``nbdocker`` sub-command parser."""
    p = verbs.add_parser("build", help="Build an image from a Dockerfile", epilog=EXIT_STATUS)
    add_build_arguments(p)
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="Suppress the build output and print image ID on success",
    )
    p.add_argument(
        "--progress",
        choices=("auto", "plain", "json"),
        default="auto",
        help="Type of progress output: auto, plain (with cache-miss reasons) or json",
    )
    p.add_argument("--iidfile", help="Write the image ID to the file")
    p.add_argument("context", metavar="PATH | URL | -")
    p.set_defaults(handler=do_build)
