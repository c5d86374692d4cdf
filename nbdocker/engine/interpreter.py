"""Starting a helper process: a fresh interpreter that runs one engine module's ``main()``.

The engine starts two kinds of helper — the sandbox's (between the caller and a container) and
the user namespace's (rootless file work) — because what they do (``unshare``, ``fork`` of a PID
1, changing ids) must not happen in the caller, which may be a threaded Jupyter kernel. Each runs
as ``python -I -c "…import main; main()"``: isolated from the caller's ``PYTHON*`` variables and
user site, with this installation of nbdocker first on its path. Importing the helper's module
loads only what that module imports: the package ``__init__``\\ s on the way load their public
names lazily (ARCHITECTURE.md, "Start-up").
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["helper_argv"]

_ROOT = str(Path(__file__).resolve().parents[2])  # the directory holding the nbdocker package


def helper_argv(module: str, *args: str, hold_signals: Sequence[int] = ()) -> list[str]:
    """The command line that runs ``module.main()`` (``module`` absolute, e.g.
    ``nbdocker.engine.userns_helper``) in a new interpreter, with ``args`` as ``sys.argv[1:]``.

    ``hold_signals`` are blocked from the interpreter's first instruction: one that arrives
    while the helper starts (a kernel interrupt goes to its whole process group) stays pending
    until the helper unblocks it, rather than ending the helper half-way through its imports."""
    hold = ""
    if hold_signals:
        numbers = ", ".join(str(int(s)) for s in hold_signals)
        hold = f"import signal; signal.pthread_sigmask(signal.SIG_BLOCK, {{{numbers}}}); "
    code = f"{hold}import sys; sys.path.insert(0, {_ROOT!r}); from {module} import main; main()"
    return [sys.executable, "-I", "-c", code, *args]
