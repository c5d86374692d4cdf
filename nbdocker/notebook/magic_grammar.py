"""What each magic accepts, and the one line that says what it does.

The verbs that are also CLI verbs (``%commit``, ``%tag``, …, and every ``%docker VERB``) use the
very ``argparse`` sub-parser the ``nbdocker`` command uses (:func:`verb_parsers`), so their
flags are Docker's and their help is the CLI's. The magics only a notebook has
(``%%dockerfile``, ``%%container``, ``%snapshot``, ``%layers``, ``%nbdocker``) have their
parsers here. A magic's docstring is its parser's help, so ``%commit?`` and ``%%dockerfile?``
show exactly what it accepts, and :func:`help_text` (``%nbdocker help``) lists every magic with
its one line.
"""

from __future__ import annotations

import argparse

from ..cli.build_verbs import add_build_arguments
from ..cli.grammar import VerbParser, build_parser
from ..cli.system_verbs import add_isolation_argument

__all__ = [
    "LINE_VERBS",
    "container_parser",
    "dockerfile_parser",
    "help_text",
    "layers_parser",
    "nbdocker_parser",
    "snapshot_parser",
    "verb_parsers",
    "verb_summaries",
]

# The CLI verbs that are line magics of their own (the rest: %docker VERB).
LINE_VERBS = ("commit", "tag", "images", "import", "push", "pull", "rmi", "history", "inspect")

# One line each, for the magics only a notebook has (the verbs' lines are the CLI's help).
DOCKERFILE = "Build the cell as a Dockerfile; flags are docker build's"
CONTAINER = "Run the cell as a shell script in the persistent container NAME"
SNAPSHOT = "Make an image that reproduces this kernel's Python environment"
LAYERS = "Show what each layer of an image added, changed and removed"
DOCKER = "Any nbdocker (docker) verb: %docker run, ps, rm, save, load, …"
NBDOCKER = "This list of magics; %nbdocker lang zh|en|auto sets the outputs' language"


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:  # type: ignore[type-arg]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise RuntimeError("the nbdocker parser has no verbs")


def verb_parsers() -> dict[str, argparse.ArgumentParser]:
    """The CLI's sub-parser of every verb (fresh instances: their ``prog`` is ours to set)."""
    return dict(_subparsers(build_parser()).choices)


def verb_summaries() -> dict[str, str]:
    """Each CLI verb's one-line help, as ``nbdocker --help`` lists it."""
    return {a.dest: a.help or "" for a in _subparsers(build_parser())._choices_actions}


def dockerfile_parser() -> argparse.ArgumentParser:
    p = VerbParser(
        prog="%%dockerfile",
        usage="%(prog)s [-t NAME]... [FLAGS] [CONTEXT]\n<Dockerfile lines>",
        description=f"{DOCKERFILE}. The cell is the Dockerfile (so there is no -f). CONTEXT "
        "defaults to the notebook's folder (honouring .dockerignore) when the Dockerfile "
        "COPYs or ADDs local files, and to no context otherwise. Returns the image.",
    )
    add_build_arguments(p, file_flag=False)
    p.add_argument("-q", "--quiet", action="store_true", help="No progress display")
    p.add_argument("context", nargs="?", metavar="CONTEXT", help="Build context directory")
    return p


def container_parser() -> argparse.ArgumentParser:
    p = VerbParser(
        prog="%%container",
        description=f"{CONTAINER} (created from --from IMAGE the first time), streaming its "
        "output. Later cells run in the same container, on the files earlier cells changed; "
        "%commit NAME makes an image of it. This is the notebook's docker run -it.",
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("--from", dest="image", metavar="IMAGE", help="Image to create NAME from")
    p.add_argument("--shell", default="/bin/sh", help="Shell that runs the cell (/bin/sh)")
    p.add_argument("-e", "--env", action="append", default=[], help="Set environment variables")
    p.add_argument("-w", "--workdir", help="Working directory inside the container")
    p.add_argument("-u", "--user", help="Username or UID")
    p.add_argument("--network", default="host", choices=("host", "none"), help="host or none")
    add_isolation_argument(p)
    return p


def snapshot_parser() -> argparse.ArgumentParser:
    p = VerbParser(
        prog="%snapshot",
        description=f"{SNAPSHOT}: every installed distribution pinned in a lock file (kept in "
        "the image and as a label), installed into a venv on a base image with the kernel's "
        "Python. A base whose Python some pinned package does not support is refused before "
        "anything is built.",
    )
    p.add_argument("-t", "--tag", default="snapshot:latest", help="Name of the image")
    p.add_argument(
        "--base",
        metavar="IMAGE",
        help="Base image with python3 (default: Debian bookworm with this kernel's own Python)",
    )
    p.add_argument("--no-cache", action="store_true", help="Do not use the build cache")
    p.add_argument("-q", "--quiet", action="store_true", help="No progress display")
    return p


def layers_parser() -> argparse.ArgumentParser:
    p = VerbParser(
        prog="%layers",
        description=f"{LAYERS}: a size bar and the instruction that made each layer, and "
        "(unfold a layer) its files.",
    )
    p.add_argument("image", metavar="IMAGE")
    return p


def nbdocker_parser() -> argparse.ArgumentParser:
    p = VerbParser(prog="%nbdocker", description=NBDOCKER)
    p.add_argument(
        "command",
        nargs="?",
        default="help",
        choices=("help", "lang"),
        help="help (the default): list the magics; lang: show or set the language",
    )
    p.add_argument("language", nargs="?", metavar="zh|en|auto", help="for lang")
    return p


def help_text() -> str:
    """Every magic with one line each (what ``%nbdocker`` and ``%nbdocker?`` show)."""
    summaries = verb_summaries()
    rows = [
        ("%%dockerfile [-t NAME] [FLAGS] [CONTEXT]", DOCKERFILE),
        ("%%container NAME [--from IMAGE]", CONTAINER),
        *((f"%{verb} …", summaries.get(verb, "")) for verb in LINE_VERBS),
        ("%docker VERB …", DOCKER),
        ("%snapshot [-t NAME] [--base IMAGE]", SNAPSHOT),
        ("%layers IMAGE", LAYERS),
        ("%nbdocker [help | lang [zh|en|auto]]", NBDOCKER),
    ]
    width = max(len(usage) for usage, _ in rows)
    lines = [
        "nbdocker magics — build, commit, tag, import, push and pull images without a Docker "
        "daemon. Flags are docker's; %MAGIC? (or %MAGIC --help) shows a magic's flags. More in "
        "nbdocker's README.md, section 'In the notebook'.",
        "",
    ]
    lines += [f"  {usage.ljust(width)}  {summary}" for usage, summary in rows]
    return "\n".join(lines)
