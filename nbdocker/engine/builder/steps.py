"""What a build step does when it runs (the cache had no result for it): one handler per
instruction, in one table (:data:`HANDLERS`), as BuildKit's ``dispatch`` does.

A handler gets a :class:`StepContext` — everything the step may use, explicit — the image so
far (a copy it may change) and the instruction with its variables expanded, and returns a
:class:`StepResult`: the size of the layer it added, whether it added none, and the history's
``created_by``. The builder (:mod:`.build`) does what every step shares: expanding variables,
the cache key and look-up, the layer limit, history, and committing the result.

:func:`describe` is the instruction as one line, the text the build cache keys on (and the
history of config steps records); it must not change, or every cached step would miss.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .. import layer, sandbox
from ..dockerfile import (
    Add,
    Arg,
    Cmd,
    Copy,
    Entrypoint,
    Env,
    Expose,
    Healthcheck,
    Instruction,
    Label,
    Maintainer,
    Onbuild,
    Run,
    Shell,
    SourcesAndDest,
    Volume,
    Workdir,
    apply_instruction,
    env_map,
)
from ..errors import DockerfileError
from ..events import Event, StepLog
from ..lazy import lazy_dataclass
from ..oci import ContainerConfig
from . import copy
from .image_state import ImageState
from .options import BuildOptions
from .services import BuildServices

if TYPE_CHECKING:
    from .copy.step import CopyContext, PreparedCopy

__all__ = [
    "CONFIG_HANDLER",
    "HANDLERS",
    "MAKES_LAYER",
    "RUNS_CONTAINER",
    "BuildContainers",
    "BuildError",
    "Handler",
    "StepContext",
    "StepResult",
    "describe",
]

_LAST_LINES = 20
# An interrupted RUN step is killed at once: its result is thrown away, so the grace period a
# container gets to stop cleanly (10 s) would only keep the user waiting. A shell as PID 1
# ignores SIGINT, so without this a step ran on for the whole grace period.
_STEP_STOP_TIMEOUT = 0.0


class BuildError(DockerfileError):
    """A step failed; ``command_status`` and ``last_lines`` tell what its command said.

    A failed command's status is also the error's ``exit_code``, the status ``nbdocker build``
    exits with, as ``docker build`` exits with the status of the RUN command that failed (``RUN
    exit 7``: 7; a failed ``apt-get``: 100). Every other build failure exits 1."""

    def __init__(
        self,
        message: str,
        path: str,
        line: int,
        exit_code: int | None = None,
        last_lines: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message, path, line)
        self.command_status = exit_code
        if exit_code:
            self.exit_code = exit_code
        self.last_lines = last_lines


class BuildContainers:
    """The containers a build's RUN steps are running, to kill them when the build is
    interrupted. An interrupt may come while a container is still starting (its PID not yet
    known): ``interrupted`` stays set, and a container that starts after it is killed as soon
    as its PID is reported."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pids: set[int] = set()
        self.interrupted = False

    def started(self, pid: int) -> None:
        with self._lock:
            self._pids.add(pid)
            late = self.interrupted
        if late:  # the interrupt came while the container was starting
            self.kill()

    def ended(self, pid: int) -> None:
        with self._lock:
            self._pids.discard(pid)

    def interrupt(self) -> None:
        """The build was interrupted: kill what runs now and what starts from now on."""
        self.interrupted = True
        self.kill()

    def kill(self) -> None:
        import signal  # (enum work at import) only an interrupted build needs it

        with self._lock:
            pids = list(self._pids)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@lazy_dataclass(frozen=True)
class StepContext:
    """What a running step may use.

    ``number`` and ``line`` place it (``Step N``, ``Dockerfile:line``); ``described`` is
    :func:`describe` of the instruction; ``args`` the ARG values in scope; ``cmd_set`` whether
    CMD was set earlier in the stage; ``container`` the ID a RUN step's container gets;
    ``emit`` reports its output; ``announce_isolation`` says (once per build) that a RUN step
    runs at a level weaker than namespaces; ``containers`` are the build's running containers
    (killed on interrupt); ``copy``/``prepared`` are what a COPY/ADD step planned before the cache
    look-up."""

    services: BuildServices
    options: BuildOptions
    path: str
    scratch: Path
    number: int
    line: int
    described: str
    args: dict[str, str]
    cmd_set: bool
    container: str
    emit: Callable[[Event], None]
    announce_isolation: Callable[[], None]
    containers: BuildContainers
    context_dir: Path | None
    copy: CopyContext | None = None
    prepared: PreparedCopy | None = None


@lazy_dataclass(frozen=True)
class StepResult:
    size: int  # bytes of files in the layer the step added (0 for none)
    empty: bool  # the step added no layer
    created_by: str  # the history entry's


# How an instruction runs: the image (a copy the handler may change) and the instruction,
# expanded, in; the step's result out.
Handler = Callable[[StepContext, ImageState, Instruction], StepResult]


# -- the new layer of a step ------------------------------------------------------------------


def step_dirs(ctx: StepContext) -> tuple[Path, Path]:
    """A fresh upper dir and overlay work dir for the step, in the build's scratch dir."""
    base = ctx.scratch / f"step-{ctx.number}-{os.urandom(3).hex()}"
    (base / "upper").mkdir(parents=True)
    (base / "work").mkdir()
    return base / "upper", base / "work"


def layer_from(ctx: StepContext, state: ImageState, upper: Path) -> int:
    """Store ``upper`` as a new layer of ``state``; return its size in bytes."""
    services = ctx.services
    epoch = ctx.options.source_date_epoch
    where = f"{ctx.path}:{ctx.line}"
    size = state.store_layer(
        services.store,
        lambda txn: layer.ingest_upper(txn, upper, where, services.compression, epoch),
    )
    if epoch is None:
        # The upper dir already is this layer unpacked: keep it as the layer cache's copy
        # rather than deleting it now and unpacking the blob again for the next step.
        # (With SOURCE_DATE_EPOCH the blob's times differ from the dir's: unpack later.)
        services.layer_cache.adopt(state.diff_ids, upper)
    return size


# -- handlers ---------------------------------------------------------------------------------


def _config(ctx: StepContext, state: ImageState, ins: Instruction) -> StepResult:
    """CMD, ENTRYPOINT, ENV, LABEL, EXPOSE, USER, VOLUME, STOPSIGNAL, ONBUILD, SHELL,
    HEALTHCHECK: the image config changes (:mod:`..changes`), no layer."""
    state.config["config"] = apply_instruction(state.run_config, ins, cmd_set=ctx.cmd_set)
    return StepResult(0, True, f"/bin/sh -c #(nop)  {ctx.described}")


def _maintainer(ctx: StepContext, state: ImageState, ins: Instruction) -> StepResult:
    assert isinstance(ins, Maintainer)
    state.config["author"] = ins.name
    return StepResult(0, True, f"/bin/sh -c #(nop)  {ctx.described}")


def _arg(ctx: StepContext, state: ImageState, ins: Instruction) -> StepResult:
    """The value is the builder's (it sets the ARGs in scope); the step is history only."""
    return StepResult(0, True, f"/bin/sh -c #(nop)  {ctx.described}")


def _workdir(ctx: StepContext, state: ImageState, ins: Instruction) -> StepResult:
    """Set the working dir, and create it as a layer if the image lacks it, as Docker does."""
    assert isinstance(ins, Workdir)
    state.config["config"] = apply_instruction(state.run_config, ins)
    path = state.run_config.get("WorkingDir") or "/"
    created_by = f"/bin/sh -c #(nop) WORKDIR {path}"
    view = layer.LowerView(tuple(ctx.services.layer_cache.ensure(state.diff_ids)))
    if path == "/" or view.lookup(path.strip("/")) is not None:
        return StepResult(0, True, created_by)
    upper, _ = step_dirs(ctx)
    current = upper
    for part in [p for p in path.split("/") if p]:
        current = current / part
        if not current.exists():
            current.mkdir(mode=0o755)
            os.chmod(current, 0o755)
    return StepResult(layer_from(ctx, state, upper), False, created_by)


def _copy(ctx: StepContext, state: ImageState, ins: Instruction) -> StepResult:
    """COPY/ADD: the layer streamed from the sources it planned before the cache look-up."""
    assert isinstance(ins, SourcesAndDest) and ctx.copy is not None and ctx.prepared is not None
    size = copy.apply_copy(ctx.copy, ctx.prepared, ins, state, ctx.number, ctx.line)
    summary = ctx.prepared.digest[:19]
    return StepResult(size, False, f"/bin/sh -c #(nop) {ins.keyword} {summary} in {ins.dest} ")


def _run(ctx: StepContext, state: ImageState, ins: Instruction) -> StepResult:
    """RUN: the command in the sandbox on the image's layers; its upper dir is the layer.
    A command that fails is a :class:`BuildError` with its status and last lines."""
    assert isinstance(ins, Run)
    cfg = state.run_config
    argv = _argv(ins, cfg)
    env = dict(ctx.args)
    env.update(env_map(cfg))
    upper, work = step_dirs(ctx)
    lowers = ctx.services.layer_cache.ensure(state.diff_ids)
    network = ins.network if ins.network != "default" else ctx.options.network
    spec = sandbox.SandboxSpec(
        layers=tuple(lowers),
        upper=upper,
        work=work,
        argv=tuple(argv),
        env=tuple(f"{k}={v}" for k, v in env.items()),
        cwd=cfg.get("WorkingDir") or "/",
        user=cfg.get("User") or "",
        hostname=ctx.container,
        network="none" if network == "none" else "host",
        mounts=_mounts(ctx, ins),
        trash=ctx.services.store.root / ".trash",
        kept_roots=ctx.services.store.root / sandbox.KEPT_ROOTS,
        keep_root=True,
    )
    ctx.announce_isolation()
    last: list[str] = []
    read_fd, write_fd = os.pipe()

    def pump() -> None:
        with os.fdopen(read_fd, "rb") as source:
            for raw in source:
                text = raw.decode(errors="replace").rstrip("\r\n")
                last.append(text)
                del last[:-_LAST_LINES]
                ctx.emit(StepLog(ctx.number, text))

    reader = threading.Thread(target=pump, name=f"step-{ctx.number}-log", daemon=True)
    reader.start()
    pid: list[int] = []

    def on_start(started: sandbox.Started) -> None:
        pid.append(started.pid)
        ctx.containers.started(started.pid)

    devnull = os.open(os.devnull, os.O_RDONLY)
    try:
        code = _interruptible(
            ctx.containers,
            lambda: sandbox.run(
                spec,
                devnull,
                write_fd,
                write_fd,
                on_start=on_start,
                stop_timeout=_STEP_STOP_TIMEOUT,
            ),
        )
    finally:
        os.close(devnull)
        os.close(write_fd)
        reader.join()
        for p in pid:
            ctx.containers.ended(p)
    if code != 0:
        shown = " ".join(argv) if ins.json_form else f"{' '.join(argv[:-1])} {argv[-1]}"
        raise BuildError(
            f"The command '{shown}' returned a non-zero code: {code}"
            + ("; the build was interrupted" if code in (130, 137, 143) else ""),
            ctx.path,
            ctx.line,
            code,
            tuple(last),
        )
    size = layer_from(ctx, state, upper)
    if ctx.options.source_date_epoch is None:
        # The root this step ran in now is the new image: the next step can start there.
        made = ctx.services.layer_cache.path(layer.chain_ids(state.diff_ids)[-1])
        sandbox.name_kept_root(ctx.services.store.root / sandbox.KEPT_ROOTS, upper, (*lowers, made))
    return StepResult(size, False, _created_by(ins, ctx.args, state))


def _interruptible(containers: BuildContainers, run: Callable[[], int]) -> int:
    """``run()`` (a step's container) on a thread while this one waits, so that an interrupt
    (SIGINT, ``KeyboardInterrupt``) ends the build at once: the container is killed and the
    interrupt goes on. Run on this thread, the sandbox would take the signal to forward it to
    the container, and a step whose command then exits 0 (it finished, or ignored the signal)
    would swallow the interrupt. Off the main thread (parallel stages) there is no signal to
    catch: ``run()`` runs here."""
    if threading.current_thread() is not threading.main_thread():
        return run()
    codes: list[int] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            codes.append(run())
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            errors.append(exc)

    worker = threading.Thread(target=target, name="step-container", daemon=True)
    worker.start()
    try:
        worker.join()
    except KeyboardInterrupt:
        containers.interrupt()
        while worker.is_alive():  # the sandbox cleans up after its container
            with contextlib.suppress(KeyboardInterrupt):
                worker.join()
        raise
    if errors:
        raise errors[0]
    return codes[0]


def _mounts(ctx: StepContext, ins: Run) -> tuple[sandbox.BindMount, ...]:
    mounts: list[sandbox.BindMount] = []
    for m in ins.mounts:
        target = m.target if m.target.startswith("/") else "/" + m.target
        if m.type == "cache":
            name = hashlib.sha256((m.id or target).encode()).hexdigest()[:32]
            source = ctx.services.store.root / "buildcache" / name
            source.mkdir(parents=True, exist_ok=True)
            mounts.append(sandbox.BindMount(source, target, bool(m.readonly)))
        elif m.type == "bind":
            if m.from_:
                raise BuildError(
                    "RUN --mount=type=bind,from=… is not supported yet; COPY "
                    "--from the files into the stage instead",
                    ctx.path,
                    ctx.line,
                )
            if ctx.context_dir is None:
                raise BuildError("RUN --mount=type=bind needs a build context", ctx.path, ctx.line)
            try:
                source = layer.resolve_under(ctx.context_dir, m.source or ".")
            except layer.LinkLoop:
                raise BuildError(
                    f"--mount source {m.source!r}: too many levels of symbolic links",
                    ctx.path,
                    ctx.line,
                ) from None
            if not source.exists():
                raise BuildError(
                    f"--mount source {m.source!r} is not in the build context", ctx.path, ctx.line
                )
            # Read-only even with rw: Docker throws away what a step writes there; here the
            # writes are refused, so they can never reach the context directory on disk.
            mounts.append(sandbox.BindMount(source, target, readonly=True))
        elif m.type == "tmpfs":
            tmp = ctx.scratch / f"tmpfs-{os.urandom(4).hex()}"
            tmp.mkdir(parents=True)
            mounts.append(sandbox.BindMount(tmp, target, False))
        else:
            raise BuildError(
                f"RUN --mount=type={m.type} is not supported; use cache, bind or tmpfs",
                ctx.path,
                ctx.line,
            )
    return tuple(mounts)


HANDLERS: dict[type[Instruction], Handler] = {
    Run: _run,
    Copy: _copy,
    Add: _copy,
    Workdir: _workdir,
    Maintainer: _maintainer,
    Arg: _arg,
}
CONFIG_HANDLER: Handler = _config  # every other instruction after FROM
MAKES_LAYER = (Run, Copy, Add)  # always add a layer: the layer limit is checked before they run
RUNS_CONTAINER = (Run,)  # run a command in a container, which gets an ID


# -- text -------------------------------------------------------------------------------------


def describe(ins: Instruction) -> str:
    """The instruction as one line with its variables expanded (for cache keys and history)."""
    if isinstance(ins, Run):
        text = " ".join(ins.command) if isinstance(ins.command, tuple) else ins.command
        for doc in ins.heredocs:
            text += f"\n{doc.content}{doc.name}"
        flags = [f"--network={ins.network}"] if ins.network != "default" else []
        flags += [f"--mount={m.spec}" for m in ins.mounts]
        return " ".join(["RUN", *flags, text])
    if isinstance(ins, (Cmd, Entrypoint)):
        body = json.dumps(list(ins.command)) if isinstance(ins.command, tuple) else ins.command
        return f"{ins.keyword} {body}"
    if isinstance(ins, (Env, Label)):
        return f"{ins.keyword} " + " ".join(f"{k}={v}" for k, v in ins.pairs)
    if isinstance(ins, Arg):
        return "ARG " + " ".join(k if v is None else f"{k}={v}" for k, v in ins.pairs)
    if isinstance(ins, Expose):
        return "EXPOSE " + " ".join(ins.ports)
    if isinstance(ins, Volume):
        return f"{ins.keyword} " + json.dumps(list(ins.paths))
    if isinstance(ins, Shell):
        return f"{ins.keyword} " + json.dumps(list(ins.shell))
    if isinstance(ins, Onbuild):
        return f"ONBUILD {ins.expression}"
    if isinstance(ins, Healthcheck):
        test = "NONE" if ins.test is None else json.dumps(list(ins.test))
        opts = [
            f"--{k}={v}"
            for k, v in (
                ("interval", ins.interval),
                ("timeout", ins.timeout),
                ("start-period", ins.start_period),
                ("start-interval", ins.start_interval),
                ("retries", ins.retries),
            )
            if v
        ]
        return " ".join(["HEALTHCHECK", *opts, test])
    if isinstance(ins, SourcesAndDest):
        flags = [
            f"--{k}={v}"
            for k, v in (
                ("from", ins.from_),
                ("chown", ins.chown),
                ("chmod", ins.chmod),
                ("checksum", ins.checksum),
            )
            if v
        ]
        docs = [f"<<{d.name}" for d in ins.heredocs]
        return " ".join([ins.keyword, *flags, *ins.sources, *docs, ins.dest])
    fields = [v for k, v in vars(ins).items() if k not in ("line", "original")]
    return f"{ins.keyword} " + " ".join(str(v) for v in fields if v not in (None, ()))


def _argv(ins: Run, cfg: ContainerConfig) -> list[str]:
    if isinstance(ins.command, tuple):
        return list(ins.command)
    shell = list(cfg.get("Shell") or ["/bin/sh", "-c"])
    script = ins.command
    if ins.heredocs:
        only = script.strip() == f"<<{ins.heredocs[0].name}" or script.strip() in (
            f"<<-{ins.heredocs[0].name}",
            f"<<'{ins.heredocs[0].name}'",
            f'<<"{ins.heredocs[0].name}"',
        )
        if only and len(ins.heredocs) == 1:
            script = ins.heredocs[0].body
        else:
            for doc in ins.heredocs:
                script += f"\n{doc.content}{doc.name}"
    return [*shell, script]


def _created_by(ins: Run, args: dict[str, str], state: ImageState) -> str:
    argv = _argv(ins, state.run_config)
    text = " ".join(argv)
    if args:
        pairs = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(args.items()))
        text = f"|{len(args)} {pairs} {text}"
    return text
