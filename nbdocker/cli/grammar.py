"""The argument grammar of every verb: Docker's names and flags, shared by the CLI and magics."""

from __future__ import annotations

import argparse
from typing import NoReturn

from ..engine.errors import UsageError

__all__ = ["build_parser"]


class _Parser(argparse.ArgumentParser):
    """argparse that raises one-line UsageErrors instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="nbdocker",
        description="Create container images without a Docker daemon (docker-compatible verbs).",
    )
    verbs = parser.add_subparsers(dest="verb", metavar="COMMAND", parser_class=_Parser)
    verbs.required = True

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
    return parser
