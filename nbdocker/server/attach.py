"""``python -m nbdocker.server.attach [--rm] CONTAINER``: what a container's terminal runs.

A JupyterLab terminal is a pty whose process is this one: it starts the container with that
pty as its stdin/stdout/stderr — the engine's ``-t`` support copies between it and the
container's own pty, raw mode and window size included, exactly as ``nbdocker start -a -i``
does in any terminal — and exits with the container's exit code, which closes the tab. With
``--rm`` the container goes when its command ends (``run --rm -it``); without, it stays for
``commit``.

An expected failure is printed as one line, and the terminal stays open until Enter is pressed
so the message can be read before the tab closes.
"""

from __future__ import annotations

import argparse
import sys

from ..engine import Engine, NbdockerError

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nbdocker.server.attach")
    parser.add_argument("--rm", action="store_true", help="remove the container when it exits")
    parser.add_argument("container")
    args = parser.parse_args(argv)
    engine = Engine()
    try:
        try:
            return engine.start(args.container)
        finally:
            if args.rm:
                engine.remove_container(args.container, force=True)
    except NbdockerError as exc:
        print(f"nbdocker: {exc}", file=sys.stderr)
        print("(press Enter to close this terminal)", file=sys.stderr)
        sys.stdin.readline()
        return 1


if __name__ == "__main__":
    sys.exit(main())
