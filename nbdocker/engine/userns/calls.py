"""Running file work in a user namespace, for rootless use.

As an ordinary user, a container's files belong to ids that exist only inside its user
namespace (container root is the user; 1…65536 are the user's /etc/subuid range). Unpacking
layers with their owners, reading a container's changes for ``commit``, ``diff`` and
``export``, deleting what a container made, and COPY over such files must therefore happen
inside a namespace with the same mapping, as ``podman unshare`` does. :func:`start` runs one
request in a fresh helper process (:mod:`nbdocker.engine.userns_helper`) there, mapped by
:func:`.ids.map_ids` like the sandbox's containers.

At the ``chroot`` and ``ptrace`` isolation levels (:func:`.local.emulated`) there is no user
namespace: the helper runs as the caller with the layers' metadata emulation installed
(:mod:`nbdocker.engine.layer.emulated`; owners emulated too when the caller is not root), and
the rest of the exchange is the same.

Channels: the helper's *status* pipe says ``{"userns": pid}`` once it has unshared, and at the
end carries the :class:`~.protocol.Reply`; the *control* pipe answers ``go`` (or why the maps
could not be written) and then sends the :class:`~.protocol.Request`. The request's bulk data
goes on the helper's stdin/stdout; its stderr is kept only to explain a crash.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING, cast

from ..errors import NbdockerError, StorageError
from ..interpreter import helper_argv
from .ids import map_ids, subids
from .local import emulated, root_only
from .protocol import Reply, Request, raise_failure

if TYPE_CHECKING:
    import subprocess

__all__ = ["Helper", "call", "start"]

HELPER_MODULE = "nbdocker.engine.userns_helper"


class Helper:
    """One request running in a helper: write its input to :attr:`stdin` (then close it), read
    its output from :attr:`stdout`, then :meth:`reply` for the result."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        status: IO[str],
        what: str,
        own: Callable[[NbdockerError], NbdockerError] | None = None,
    ) -> None:
        self._proc = proc
        self._status = status
        self._own = own
        self.what = what
        self.stdin = proc.stdin
        self.stdout = proc.stdout

    def reply(self) -> dict[str, object]:
        """Wait for the helper to end; its result, or its failure raised (as the error it was
        in the helper, see :func:`~.protocol.raise_failure`, made the caller's own by ``own``)."""
        try:
            return self._reply()
        except NbdockerError as exc:
            if self._own is None:
                raise
            raise self._own(exc) from None

    def _reply(self) -> dict[str, object]:
        with self._status:
            line = self._status.readline()
        if self.stdout is not None:
            self.stdout.close()
        err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
        code = self._proc.wait()
        if not line:
            lines = err.strip().splitlines()
            reason = lines[-1] if lines else f"exit status {code}"
            raise StorageError(f"{self.what} failed in the user namespace: {reason}")
        reply = cast(Reply, json.loads(line))
        if "failure" in reply:
            raise_failure(reply["failure"], self.what)
        return reply.get("result", {})

    def kill(self) -> None:
        """Stop the helper (the caller failed); what it made is the caller's to remove."""
        self._proc.kill()
        self._proc.wait()
        self._status.close()


def start(
    op: str,
    args: Mapping[str, object],
    *,
    what: str,
    stdin: bool = False,
    stdout: bool = False,
    own: Callable[[NbdockerError], NbdockerError] | None = None,
) -> Helper:
    """Start the helper on the request ``op(args)``; ``stdin``/``stdout``: whether the request
    reads or writes bulk data there. ``what`` names the work in errors that carry no context;
    ``own`` turns the request's failures into the caller's errors (e.g. located at a Dockerfile
    line). StorageError when no user namespace can be made or mapped here."""
    import subprocess  # (selectors, signal…) only rootless, when there is file work

    form = "userns"
    if emulated():
        form = "emulated-owners" if os.geteuid() != 0 else "emulated"
    status_r, status_w = os.pipe()
    control_r, control_w = os.pipe()
    try:
        proc = subprocess.Popen(
            helper_argv(HELPER_MODULE, str(status_w), str(control_r), form),
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdout else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=(status_w, control_r),
        )
    except BaseException:
        for fd in (status_r, status_w, control_r, control_w):
            os.close(fd)
        raise
    os.close(status_w)
    os.close(control_r)
    status = os.fdopen(status_r)
    with os.fdopen(control_w, "w") as control:
        helper = Helper(proc, status, what, own)
        if not status.readline():
            helper.kill()
            raise StorageError(
                "cannot enter a user namespace for rootless file work; enable user namespaces "
                "(sysctl user.max_user_namespaces) or run nbdocker as root"
            )
        why = "" if form != "userns" else map_ids(proc.pid, None if root_only() else subids())
        control.write("go\n" if not why else why + "\n")
        if why:
            helper.kill()
            raise StorageError(f"cannot map ids for rootless file work: {why}")
        request: Request = {"op": op, "args": dict(args)}
        control.write(json.dumps(request) + "\n")
    return helper


def call(
    op: str,
    args: Mapping[str, object],
    *,
    what: str,
    own: Callable[[NbdockerError], NbdockerError] | None = None,
) -> dict[str, object]:
    """Run the request ``op(args)`` (no bulk data) in a helper; its result (see :func:`start`)."""
    return start(op, args, what=what, own=own).reply()
