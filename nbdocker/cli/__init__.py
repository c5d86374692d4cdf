"""The ``nbdocker`` command line: Docker's verbs and flags over the engine.

Expected failures print one line on stderr and exit with the error's ``exit_code``: 1, 2 for
usage errors, and for a build whose RUN command failed that command's status (as ``docker
build``); no traceback.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Sequence

__all__ = ["main", "run"]


def run() -> None:
    """The ``nbdocker`` console script: :func:`main` in a process that ends with it.

    Tuned for a short process (a fully cached build takes tens of milliseconds): the cyclic
    garbage collector waits for 50,000 new objects rather than 700 (loading modules makes many,
    and few cycles), and at exit every object is frozen, so the interpreter's final collection
    has nothing to walk — it was a tenth of a cached build. Finalisers still run for what
    reference counting frees; only objects in unreferenced cycles are left to the exit.
    """
    gc.set_threshold(50_000, 20, 100)
    code = main()
    gc.freeze()
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    # Imported here, after run() has set the collector's pace for loading them, and so that a
    # notebook using the grammar alone (nbdocker.cli.grammar) does not load them through this
    # package: the one import of the start-up rules' exceptions (ARCHITECTURE.md, "Start-up").
    from ..engine import Engine  # noqa: PLC0415
    from ..engine.errors import NbdockerError  # noqa: PLC0415
    from .grammar import build_parser  # noqa: PLC0415
    from .progress import TerminalProgress  # noqa: PLC0415
    from .streams import Streams  # noqa: PLC0415

    progress = TerminalProgress()
    try:
        words = list(sys.argv[1:] if argv is None else argv)
        args = build_parser(words[0] if words else None).parse_args(words)
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
