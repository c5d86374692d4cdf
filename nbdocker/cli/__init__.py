"""The ``nbdocker`` command line: Docker's verbs and flags over the engine.

Expected failures print one line on stderr and exit 1 (2 for usage errors); no traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ..engine import Engine
from ..engine.errors import NbdockerError
from .grammar import build_parser
from .progress import TerminalProgress
from .streams import Streams

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    progress = TerminalProgress()
    try:
        args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
        engine = Engine(on_event=progress)
        streams = Streams(
            sys.stdout, sys.stderr, sys.stdin.buffer, sys.stdout.buffer, sys.stdout.isatty()
        )
        code: int | None = args.handler(engine, args, streams)
        return code or 0
    except NbdockerError as exc:
        progress.close()
        print(f"Error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        progress.close()
        print("Error: interrupted; nothing was changed", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    finally:
        progress.close()
