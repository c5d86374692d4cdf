"""The argument grammar of every verb: Docker's names and flags, shared by the CLI and magics."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import NoReturn

from .. import __version__
from ..engine.errors import UsageError
from . import (
    build_verbs,
    container_verbs,
    housekeeping_verbs,
    image_verbs,
    registry_verbs,
    system_verbs,
)
from .bool_flags import DockerBool

__all__ = ["VERB_GROUPS", "VerbParser", "build_parser"]

# Each group adds its verbs (grammar and handler side by side) to the parser; ``VERBS`` names them.
VERB_GROUPS = (
    image_verbs,
    container_verbs,
    build_verbs,
    registry_verbs,
    system_verbs,
    housekeeping_verbs,
)


class VerbParser(argparse.ArgumentParser):
    """argparse that raises one-line UsageErrors instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """Docker's ``--flag=false`` for this verb's boolean flags (:mod:`.flags`), then
        argparse's parsing (the verb's own parser is called with its words, so each verb
        rewrites only its own flags)."""
        if args is not None:
            args = [DockerBool.rewrite(self, word) for word in args]
        return super().parse_known_args(args, namespace)


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    """The grammar of the ``nbdocker`` command.

    Given ``verb`` (the first word of a command line), only the group that defines it is added:
    a process runs one verb, and building every verb's sub-parser would cost a cached ``build``
    more than parsing its command line. Any other first word (``--help``, a typo) gets all of
    them, so that help and errors list every verb.
    """
    parser = VerbParser(
        prog="nbdocker",
        description="Create container images without a Docker daemon (docker-compatible verbs).",
    )
    parser.add_argument(
        "-v", "--version", action="version", version=f"nbdocker version {__version__}"
    )
    verbs = parser.add_subparsers(dest="verb", metavar="COMMAND", parser_class=VerbParser)
    verbs.required = True

    for group in [g for g in VERB_GROUPS if verb in g.VERBS] or VERB_GROUPS:
        group.register(verbs)
    return parser
