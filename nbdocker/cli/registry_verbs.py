"""The registry verbs — pull, push, login, logout: Docker's flags and output lines over the
engine's registry client.

Where the registry is trusted from: ``--insecure-registry HOST`` (repeatable) adds to
``$NBDOCKER_INSECURE_REGISTRIES``, ``--ca-cert FILE`` overrides ``$NBDOCKER_REGISTRY_CA``; see
:mod:`nbdocker.engine.registry.transport` for the rules.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..engine import Engine
from ..engine.errors import UsageError
from ..engine.events import Event, TaskDone
from ..engine.reference import parse_reference
from .streams import Handler, Streams

if TYPE_CHECKING:
    from ..engine.registry import RegistrySettings

__all__ = ["register", "registry_settings"]

_SHORT = re.compile(r"[0-9a-f]{12}")


def registry_settings(args: argparse.Namespace) -> RegistrySettings:
    """The registry settings the verb's flags (--insecure, CA) give; the notebook's verbs too."""
    from ..engine.registry import RegistrySettings  # httpx: loaded only by registry verbs

    return RegistrySettings.from_env(insecure=args.insecure_registry, ca_cert=args.ca_cert)


@contextlib.contextmanager
def _lines(engine: Engine, task: str, io: Streams, quiet: bool) -> Iterator[None]:
    """Print Docker's per-layer lines (``<short>: Pull complete``) as the engine reports them,
    while the usual progress display keeps getting the events."""
    previous = engine.on_event

    def sink(event: Event) -> None:
        previous(event)
        if (
            not quiet
            and isinstance(event, TaskDone)
            and event.task == task
            and _SHORT.fullmatch(event.item)
        ):
            print(f"{event.item}: {event.result}", file=io.out, flush=True)

    engine.on_event = sink
    try:
        yield
    finally:
        engine.on_event = previous


def do_pull(engine: Engine, args: argparse.Namespace, io: Streams) -> None:
    ref = parse_reference(args.reference)
    status: list[str] = []
    previous = engine.on_event

    def note(event: Event) -> None:
        if isinstance(event, TaskDone) and event.task == "pull" and event.item == ref.familiar:
            status.append(event.result)
        previous(event)

    engine.on_event = note
    try:
        if not args.quiet:
            print(f"{ref.digest or ref.tag}: Pulling from {ref.familiar_name}", file=io.out)
        with _lines(engine, "pull", io, args.quiet):
            image = engine.pull(args.reference, settings=registry_settings(args))
    finally:
        engine.on_event = previous
    if not args.quiet:
        digest = ref.digest or next((d.digest for d in image.digests if d.name == ref.name), None)
        if digest:
            print(f"Digest: {digest}", file=io.out)
        result = status[-1] if status else "Downloaded newer image"
        print(f"Status: {result} for {ref.familiar}", file=io.out)
    print(str(ref), file=io.out)


def do_push(engine: Engine, args: argparse.Namespace, io: Streams) -> None:
    ref = parse_reference(args.reference, default_tag=False)
    if not args.quiet:
        print(f"The push refers to repository [{ref.name}]", file=io.out, flush=True)
    with _lines(engine, "push", io, args.quiet):
        results = engine.push(args.reference, settings=registry_settings(args))
    for result in results:
        if args.quiet:
            print(result.reference.familiar, file=io.out)
        else:
            print(
                f"{result.reference.tag}: digest: {result.digest} size: {result.size}",
                file=io.out,
            )


def _read_password(args: argparse.Namespace, io: Streams) -> str:
    if args.password_stdin:
        if args.password is not None:
            raise UsageError("login: --password and --password-stdin are mutually exclusive")
        if not args.username:
            raise UsageError("login: must provide --username with --password-stdin")
        return io.binary_in.read().decode().rstrip("\r\n")
    if args.password is not None:
        print(
            "WARNING! Using --password via the CLI is insecure. Use --password-stdin.", file=io.err
        )
        return str(args.password)
    if not sys.stdin.isatty():
        raise UsageError(
            "login: no password given and no terminal to ask on; use -p or --password-stdin"
        )
    import getpass  # (termios) only when a password is asked for

    return getpass.getpass("Password: ")


def do_login(engine: Engine, args: argparse.Namespace, io: Streams) -> None:
    username = args.username
    if not username:
        if not sys.stdin.isatty():
            raise UsageError("login: no user name given and no terminal to ask on; use -u USER")
        username = input("Username: ").strip()
    password = _read_password(args, io)
    engine.login(args.server, username, password, settings=registry_settings(args))
    print("Login Succeeded", file=io.out)


def do_logout(engine: Engine, args: argparse.Namespace, io: Streams) -> None:
    domain, found = engine.logout(args.server)
    if found:
        print(f"Removing login credentials for {domain}", file=io.out)
    else:
        print(f"Not logged in to {domain}", file=io.out)


HANDLERS: dict[str, Handler] = {
    "pull": do_pull,
    "push": do_push,
    "login": do_login,
    "logout": do_logout,
}


def _trust_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--insecure-registry",
        action="append",
        default=[],
        metavar="HOST",
        help="Allow plain HTTP or unverified TLS to HOST[:PORT] "
        "(also $NBDOCKER_INSECURE_REGISTRIES)",
    )
    p.add_argument(
        "--ca-cert",
        metavar="FILE",
        help="Trust the registry's TLS certificate by this CA (PEM; also $NBDOCKER_REGISTRY_CA)",
    )


VERBS = tuple(HANDLERS)  # what register() adds


def register(verbs: Any) -> None:
    """Add the registry verbs to the ``nbdocker`` sub-command parser."""
    p = verbs.add_parser("pull", help="Download an image from a registry")
    p.add_argument("reference", metavar="NAME[:TAG|@DIGEST]")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress verbose output")
    _trust_flags(p)

    p = verbs.add_parser("push", help="Upload an image (or all tags of a repository) to a registry")
    p.add_argument("reference", metavar="NAME[:TAG]")
    p.add_argument(
        "-a", "--all-tags", action="store_true", help="Push all tags (the default without a tag)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress verbose output")
    _trust_flags(p)

    p = verbs.add_parser("login", help="Log in to a registry")
    p.add_argument("server", nargs="?", metavar="SERVER")
    p.add_argument("-u", "--username", help="Username")
    p.add_argument("-p", "--password", help="Password")
    p.add_argument("--password-stdin", action="store_true", help="Take the password from stdin")
    _trust_flags(p)

    p = verbs.add_parser("logout", help="Log out from a registry")
    p.add_argument("server", nargs="?", metavar="SERVER")

    for name, handler in HANDLERS.items():
        verbs.choices[name].set_defaults(handler=handler)
