"""The user-namespace helper process: ``helper_argv("nbdocker.engine.userns_helper", …)``.

Started by :func:`nbdocker.engine.userns.start` with two pipes (status and control, see
:mod:`nbdocker.engine.userns.calls`) and the layers' form: it enters a new user namespace, waits
for the caller to write its id maps, becomes root there (or, at the chroot and ptrace isolation
levels, installs their metadata emulation, :mod:`nbdocker.engine.layer.emulated`, instead),
reads one request, runs the operation that serves it,
and replies with the result or the failure as data (:mod:`nbdocker.engine.userns.protocol`).

It sits at the top of the engine's imports, beside the engine facade, because the operations
it serves belong to the layer package and the builder: this table is where a new one is added.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import BinaryIO, cast

from . import layer, linux
from .builder import copy
from .layer.emulated import install as install_emulation
from .userns.protocol import Failure, Reply, Request, failure_of

__all__ = ["OPERATIONS", "main"]

# An operation gets the request's arguments, the helper's stdin and stdout (its bulk data),
# and returns its result. Each is reached through its package's lazy names, so a helper loads
# only the module that serves its one request.
Operation = Callable[[dict[str, object], BinaryIO, BinaryIO], dict[str, object]]

OPERATIONS: dict[str, Operation] = {
    "unpack": lambda args, stdin, stdout: layer.serve_unpack(args, stdin, stdout),
    "diff": lambda args, stdin, stdout: layer.serve_diff(args, stdin, stdout),
    "remove": lambda args, stdin, stdout: layer.serve_remove(args, stdin, stdout),
    "changes": lambda args, stdin, stdout: layer.serve_changes(args, stdin, stdout),
    "export": lambda args, stdin, stdout: layer.serve_export(args, stdin, stdout),
    "copy-entries": lambda args, stdin, stdout: copy.serve_copy_entries(args, stdin, stdout),
    "copy-layer": lambda args, stdin, stdout: copy.serve_copy_layer(args, stdin, stdout),
}


def _serve(request: Request) -> Reply:
    operation = OPERATIONS.get(request["op"])
    try:
        if operation is None:
            raise ValueError(f"unknown operation {request['op']!r}")
        result = operation(request["args"], sys.stdin.buffer, sys.stdout.buffer)
        sys.stdout.flush()
    except Exception as exc:  # noqa: BLE001 - every failure goes back to the caller as data
        failure: Failure = failure_of(exc)
        return {"failure": failure}
    return {"result": result}


def main() -> None:
    """Entry point: ``argv`` = status fd, control fd, form (``userns``, or ``emulated`` and
    ``emulated-owners`` at the chroot and ptrace levels)."""
    status = os.fdopen(int(sys.argv[1]), "w")
    control = os.fdopen(int(sys.argv[2]))
    form = sys.argv[3] if len(sys.argv) > 3 else "userns"
    if form == "userns":
        linux.unshare(linux.CLONE_NEWUSER)
    else:
        install_emulation(emulate_owners=form == "emulated-owners")
    status.write(json.dumps({"userns": os.getpid()}) + "\n")
    status.flush()
    if control.readline().strip() != "go":
        sys.exit(1)  # the caller could not map the ids and has said so
    if form == "userns":
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
    reply = _serve(cast(Request, json.loads(control.readline())))
    sys.stdout.flush()
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the caller reads the output to its end first
    status.write(json.dumps(reply) + "\n")
    status.close()
