"""The container verbs — run, create, start, ps, rm, diff, export, commit: Docker's flags and
output shapes over the engine's containers."""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..engine import Engine
from ..engine.atomic import atomic_output
from ..engine.containers import RunOptions
from ..engine.errors import UsageError
from ..engine.oci import parse_time
from ..formatting import human_duration, since, table, truncate
from .bool_flags import DockerBool
from .streams import Streams
from .system_verbs import add_isolation_argument

if TYPE_CHECKING:  # the container store is loaded by the engine methods that use it
    from ..engine.containers import Container

__all__ = ["container_status", "register", "run_options"]


def run_options(args: argparse.Namespace) -> RunOptions:
    """The RunOptions a parsed ``run``/``create`` command line asks for (shared with %docker)."""
    return RunOptions(
        name=args.name,
        entrypoint=args.entrypoint,
        env=tuple(args.env),
        env_files=tuple(args.env_file),
        workdir=args.workdir,
        user=args.user,
        network=args.network,
        volumes=tuple(args.volume),
        tty=args.tty,
        interactive=args.interactive,
        isolation=args.isolation,
    )


def _fds(args: argparse.Namespace, io: Streams) -> dict[str, int | None]:
    """The process's own descriptors for the CLI (None), the streams' for other front ends."""
    if io.out is sys.stdout:
        return {"stdin": None, "stdout": None, "stderr": None}
    return {"stdin": None, "stdout": io.binary_out.fileno(), "stderr": io.err.fileno()}


def do_run(engine: Engine, args: argparse.Namespace, io: Streams) -> int:
    container = engine.create(args.image, args.command, run_options(args))
    if args.detach:
        _start_detached(engine, container)
        print(container.id, file=io.out)
        return 0
    try:
        io.out.flush()
        return engine.start(container.id, **_fds(args, io))
    finally:
        if args.rm:
            engine.remove_container(container.id, force=True)


def _start_detached(engine: Engine, container: Container) -> None:
    """Run the container in a background nbdocker process, its output in the container's log."""
    import subprocess

    log = open(container.path / "log", "ab")  # noqa: SIM115 - handed to the child
    with log:
        subprocess.Popen(
            [sys.executable, "-m", "nbdocker", "start", "-a", container.id],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            env={**os.environ, "NBDOCKER_HOME": str(engine.home)},
        )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and engine.containers.get(container.id).state != "running":
        time.sleep(0.02)


def do_create(engine: Engine, args: argparse.Namespace, io: Streams) -> None:
    print(engine.create(args.image, args.command, run_options(args)).id, file=io.out)


def do_start(engine: Engine, args: argparse.Namespace, io: Streams) -> int:
    code = 0
    for name in args.containers:
        if args.attach or args.interactive:
            code = engine.start(name, **_fds(args, io))
        else:
            _start_detached(engine, engine.containers.get(name))
            print(name, file=io.out)
    return code


def container_status(c: Container, now: datetime | None = None) -> str:
    """``ps``' STATUS column: ``Up 2 minutes``, ``Exited (0) 5 seconds ago``, ``Created``
    (shared with the lab's containers panel)."""
    now = now or datetime.now(timezone.utc)
    if c.state == "running":
        started = c.started_at and datetime.fromisoformat(
            c.started_at.replace("Z", "+00:00")[:26] + "+00:00"
        )
        seconds = (now - started).total_seconds() if started else 0
        return f"Up {human_duration(seconds)}"
    if c.state == "exited":
        finished = parse_time(c.finished_at)
        ago = since(finished, now) if finished else ""
        return f"Exited ({c.exit_code}) {ago}".rstrip()
    return "Created"


def do_ps(engine: Engine, args: argparse.Namespace, io: Streams) -> None:
    containers = engine.ps(all=args.all)
    if args.quiet:
        for c in containers:
            print(c.id if args.no_trunc else c.short_id, file=io.out)
        return
    now = datetime.now(timezone.utc)
    rows = []
    for c in containers:
        command = " ".join(c.config.argv)
        command = command if args.no_trunc else truncate(command, 20)
        rows.append(
            [
                c.id if args.no_trunc else c.short_id,
                c.config.image_name,
                f'"{command}"',
                since(c.created_time, now),
                container_status(c, now),
                "",
                c.name,
            ]
        )
    io.out.write(
        table(["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"], rows)
    )


def do_rm(engine: Engine, args: argparse.Namespace, io: Streams) -> None:
    for name in args.containers:
        engine.remove_container(name, force=args.force)
        print(name, file=io.out)


def do_diff(engine: Engine, args: argparse.Namespace, io: Streams) -> None:
    for kind, path in engine.diff(args.container):
        print(f"{kind} {path}", file=io.out)


def do_export(engine: Engine, args: argparse.Namespace, io: Streams) -> None:
    if args.output:
        with atomic_output(args.output) as f:
            engine.export(args.container, f)
        return
    if io.out_is_tty:
        raise UsageError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    engine.export(args.container, io.binary_out)
    io.binary_out.flush()


def do_commit(engine: Engine, args: argparse.Namespace, io: Streams) -> None:
    image = engine.commit(
        args.container,
        args.reference,
        message=args.message,
        author=args.author,
        change=args.change,
        pause=args.pause,
    )
    print(image.id, file=io.out)


def _run_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--interactive", action="store_true", help="Keep STDIN open")
    p.add_argument("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY")
    p.add_argument("--name", help="Assign a name to the container")
    p.add_argument("-e", "--env", action="append", default=[], help="Set environment variables")
    p.add_argument("--env-file", action="append", default=[], help="Read in a file of env vars")
    p.add_argument("-w", "--workdir", help="Working directory inside the container")
    p.add_argument("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])")
    p.add_argument("--entrypoint", help="Overwrite the default ENTRYPOINT of the image")
    p.add_argument(
        "-v",
        "--volume",
        action="append",
        default=[],
        help="Bind mount a volume (HOST:CONTAINER[:ro])",
    )
    p.add_argument(
        "--network",
        "--net",
        default="host",
        choices=("host", "none"),
        help="Connect a container to a network (host or none)",
    )
    add_isolation_argument(p)
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND [ARG...]")


VERBS = ("run", "create", "start", "ps", "rm", "diff", "export", "commit")  # what register() adds


def register(verbs: Any) -> None:
    """Add the container verbs to the ``nbdocker`` sub-command parser."""
    p = verbs.add_parser("run", help="Create and run a new container from an image")
    p.add_argument("--rm", action="store_true", help="Remove the container when it exits")
    p.add_argument("-d", "--detach", action="store_true", help="Run in the background")
    _run_flags(p)
    p.set_defaults(handler=do_run)

    p = verbs.add_parser("create", help="Create a new container")
    _run_flags(p)
    p.set_defaults(handler=do_create)

    p = verbs.add_parser("start", help="Start one or more stopped containers")
    p.add_argument("-a", "--attach", action="store_true", help="Attach STDOUT/STDERR")
    p.add_argument("-i", "--interactive", action="store_true", help="Attach STDIN")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p.set_defaults(handler=do_start)

    p = verbs.add_parser("ps", help="List containers")
    p.add_argument("-a", "--all", action="store_true", help="Show all containers")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display container IDs")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.set_defaults(handler=do_ps)

    p = verbs.add_parser("rm", help="Remove one or more containers")
    p.add_argument(
        "-f", "--force", action="store_true", help="Force the removal of a running container"
    )
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p.set_defaults(handler=do_rm)

    p = verbs.add_parser("diff", help="Inspect changes to files on a container's filesystem")
    p.add_argument("container", metavar="CONTAINER")
    p.set_defaults(handler=do_diff)

    p = verbs.add_parser("export", help="Export a container's filesystem as a tar archive")
    p.add_argument("-o", "--output", help="Write to a file, instead of STDOUT")
    p.add_argument("container", metavar="CONTAINER")
    p.set_defaults(handler=do_export)

    p = verbs.add_parser("commit", help="Create a new image from a container's changes")
    p.add_argument("-a", "--author", help='Author (e.g., "John Hannibal Smith")')
    p.add_argument("-m", "--message", help="Commit message")
    p.add_argument(
        "-c",
        "--change",
        action="append",
        default=[],
        help="Apply Dockerfile instruction to the created image",
    )
    p.add_argument(
        "-p",
        "--pause",
        action=DockerBool,
        default=True,
        help="Pause container during commit (default true; -p=false to commit it running)",
    )
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("reference", nargs="?", metavar="REPOSITORY[:TAG]")
    p.set_defaults(handler=do_commit)
