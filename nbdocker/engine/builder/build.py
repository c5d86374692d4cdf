"""Running a Dockerfile: stages, steps, cache, layers — the engine's ``build``.

:class:`Builder` turns a parsed Dockerfile into images. Each step starts from the image the
previous one made (its *parent*) and either reuses a cached result (:mod:`.cache`) or runs: a
config instruction edits the config; RUN runs in the sandbox on the parent's unpacked layers
with a fresh upper dir; COPY/ADD write into such an upper dir; an upper dir that gained files
becomes one new layer. Every intermediate image is staged in the store and recorded in the cache,
so a later build reuses it. Only the final image is named; a failed or interrupted build names
nothing, and the steps that completed stay cached.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import userns
from ..changes import apply_instruction, env_map
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
    Volume,
    Workdir,
    expand_instruction,
    parse,
    parse_instruction,
    parse_instructions,
)
from ..errors import DockerfileError, ImageNotFound, NbdockerError
from ..events import (
    BuildFailed,
    BuildFinished,
    BuildStarted,
    Event,
    EventSink,
    StepCached,
    StepDone,
    StepLog,
    StepMiss,
    StepStarted,
)
from ..image import Image
from ..lazy_dataclasses import lazy_dataclass
from ..reference import parse_reference
from ..sandbox import DEFAULT_PATH
from .cache import FIRST_BUILD, BuildCache, StepKey
from .options import BuildOptions
from .stages import BuildPlan, Stage, plan_build
from .state import MAX_LAYERS, ImageState

if TYPE_CHECKING:
    from ..engine import Engine
    from ..sandbox import BindMount, Started
    from ..store import LayerRecord, Transaction
    from .context import BuildContext

__all__ = ["BuildError", "Builder"]

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


@lazy_dataclass()
class _StageRun:
    """A stage being built: its image so far and the ARGs in scope."""

    stage: Stage
    state: ImageState
    args: dict[str, str | None] = field(default_factory=dict)
    cmd_set: bool = False
    rebuilt: int = 0  # the first step of this stage that ran rather than came from the cache


class Builder:
    """One build. ``context_dir`` is the build context on disk (None: no context)."""

    def __init__(
        self,
        engine: Engine,
        options: BuildOptions,
        context: BuildContext | None,
        context_size: int,
        context_label: str,
        on_event: EventSink,
    ) -> None:
        self.engine = engine
        self.options = options
        self.context = context
        self.context_dir = context.root if context is not None else None
        self.context_size = context_size
        self.context_label = context_label
        self._lock = threading.Lock()
        self._sink = on_event
        self.cache = BuildCache(engine.store)
        self.path = options.dockerfile_name
        self.build_args = dict(options.build_args)
        # (os.urandom, not secrets: a random name is all these need, and secrets would cost every
        # build the import of random, hmac and base64)
        self.scratch = engine.store.root / "builds" / os.urandom(6).hex()
        self.results: dict[int, ImageState] = {}
        self.running: set[int] = set()  # container PIDs, killed on interrupt
        self.interrupted = False
        self.used_args: set[str] = set()
        self.current = 0  # the step running (for BuildFailed)
        # What makes an earlier build one of this Dockerfile (see .cache): its names, its file,
        # what the caller adds; and the cache keys of the steps reused, to tag with it.
        self.lineage = (*options.lineage, *(f"tag:{parse_reference(t)}" for t in options.tags))
        self.reused: list[str] = []
        self._first: bool | None = None
        self._lineage_lock = threading.Lock()

    def emit(self, event: Event) -> None:
        with self._lock:
            self._sink(event)

    # -- the whole build --------------------------------------------------------------------------

    def run(self, text: str) -> Image:
        dockerfile = parse(text, self.path)
        instructions = parse_instructions(dockerfile)
        self.escape = dockerfile.escape
        plan = plan_build(instructions, self.build_args, self.options.target, self.path)
        self.plan = plan
        self.emit(BuildStarted(self.context_label, self.context_size, plan.total))
        self._report_leading_args(plan)
        try:
            self._run_stages(plan)
            final = self.results[plan.target]
            image = self._finish(final)
        except NbdockerError as exc:
            self.emit(
                BuildFailed(
                    self.current,
                    str(exc),
                    getattr(exc, "command_status", None),
                    tuple(getattr(exc, "last_lines", ())),
                )
            )
            raise
        except KeyboardInterrupt:
            self.interrupted = True
            self._kill_running()
            self.emit(BuildFailed(self.current, "the build was interrupted; nothing was tagged"))
            raise
        finally:
            userns.remove_tree(self.scratch)
        self.emit(BuildFinished(image.id, tuple(r.familiar for r in image.tags)))
        return image

    def _report_leading_args(self, plan: BuildPlan) -> None:
        """The ARGs before the first FROM are steps, as Docker numbers them; they make no image
        (their values were read when the build was planned), so their StepDone names none."""
        for number, ins in enumerate(plan.leading_args, 1):
            location = f"{self.path}:{ins.line}"
            self.emit(StepStarted(number, plan.total, ins.original, "", location))
            self.emit(StepDone(number, "", 0, 0.0, True))

    def _run_stages(self, plan: BuildPlan) -> None:
        done: set[int] = set()
        pending = list(plan.needed)
        while pending:
            ready = [i for i in pending if plan.depends[i] <= done]
            for i in ready:
                pending.remove(i)
            if len(ready) == 1:
                self.results[ready[0]] = self._run_stage(plan.stages[ready[0]])
            else:  # independent stages run at the same time
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(max_workers=min(len(ready), os.cpu_count() or 2)) as pool:
                    futures = {i: pool.submit(self._run_stage, plan.stages[i]) for i in ready}
                    try:
                        for i, future in futures.items():
                            self.results[i] = future.result()
                    except BaseException:
                        self._kill_running()
                        raise
            done.update(ready)

    def _kill_running(self) -> None:
        import signal

        for pid in list(self.running):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _finish(self, final: ImageState) -> Image:
        from ..engine import _name_image

        state = final.copy()
        if self.options.labels:
            labels = dict(state.run_config.get("Labels") or {})
            labels.update(dict(self.options.labels))
            state.run_config["Labels"] = labels
        history = state.config.get("history") or []
        if self.options.comment and history:  # provenance, e.g. the notebook cell
            history[-1] = {**history[-1], "comment": self.options.comment}
        refs = [parse_reference(t) for t in self.options.tags]
        with self.engine.store.staging() as txn:
            staged = state.stage(txn)

            def update(t: Any) -> None:
                self._note_reuse()
                if refs:
                    for ref in refs:
                        _name_image(t, staged, ref)
                else:
                    _name_image(t, staged, None)

            self.engine.store.commit_staged(txn, update)
        return self.engine.get(staged[0])

    # -- stages -----------------------------------------------------------------------------------

    def _now(self) -> datetime:
        epoch = self.options.source_date_epoch
        if epoch is not None:
            return datetime.fromtimestamp(epoch, timezone.utc)
        return datetime.now(timezone.utc)

    def _base(self, stage: Stage) -> ImageState:
        ref = stage.base.base
        for other in self.plan.stages[: stage.index]:
            if other.name == ref.lower() or str(other.index) == ref:
                return self.results[other.index].copy()
        if ref == "scratch":
            return ImageState.scratch()
        try:
            image = self.engine.get(ref)
        except ImageNotFound:
            pull = getattr(self.engine, "pull", None)
            if pull is None:
                raise
            try:
                image = pull(ref)
            except NbdockerError as exc:
                raise DockerfileError(
                    f"FROM {ref}: the image is not in the store and could not be pulled ({exc}); "
                    "import, load or pull it first",
                    self.path,
                    stage.base.line,
                ) from None
        return ImageState.of(image)

    def _run_stage(self, stage: Stage) -> ImageState:
        number = self.plan.numbers[(stage.index, 0)]
        start = time.monotonic()
        self.emit(
            StepStarted(
                number,
                self.plan.total,
                stage.base.original,
                stage.label,
                f"{self.path}:{stage.base.line}",
            )
        )
        run = _StageRun(stage, self._base(stage))
        if not run.state.image_id:
            run.state.image_id = "scratch"
        env = list(run.state.run_config.get("Env") or [])
        if not any(e.startswith("PATH=") for e in env):  # as Docker: steps get a default PATH
            run.state.run_config["Env"] = [f"PATH={DEFAULT_PATH}", *env]
        triggers = list(run.state.run_config.get("OnBuild") or [])
        size, empty = 0, True
        if triggers:  # part of the FROM step, as in Docker: one step, one resulting image
            run.state.run_config["OnBuild"] = None
            plural = "s" if len(triggers) > 1 else ""
            self.emit(StepLog(number, f"# Executing {len(triggers)} build trigger{plural}"))
            for text in triggers:
                node = parse(text, f"{self.path} (ONBUILD of {stage.base.base})").instructions[0]
                trigger = parse_instruction(node, self.path)
                done = self._step(run, trigger, number, trigger_of=stage.base.line)
                size, empty = size + done.layer_size, empty and done.empty_layer
        self.emit(StepDone(number, run.state.image_id, size, time.monotonic() - start, empty))
        for position, ins in enumerate(stage.instructions, 1):
            self._step(run, ins, self.plan.numbers[(stage.index, position)])
        return run.state

    # -- steps ------------------------------------------------------------------------------------

    def _scope(self, run: _StageRun) -> dict[str, str]:
        """Values of the ARGs in scope (declared in this stage, with build-arg overrides)."""
        return {k: v for k, v in run.args.items() if v is not None}

    def _step(
        self, run: _StageRun, ins: Instruction, number: int, trigger_of: int | None = None
    ) -> StepDone:
        """Run one step and report its StepDone, which it returns; an ONBUILD trigger
        (``trigger_of``: the FROM's line) is part of the FROM step, which reports it."""
        start = time.monotonic()
        self.current = number
        line = trigger_of or ins.line
        if trigger_of is None:
            self.emit(
                StepStarted(
                    number,
                    self.plan.total,
                    ins.original,
                    run.stage.label,
                    f"{self.path}:{ins.line}",
                )
            )
        args = self._scope(run)
        env = {**args, **env_map(run.state.run_config)}
        expanded = expand_instruction(ins, env, escape=self.escape, path=self.path)
        ins = expanded.instruction
        if isinstance(ins, Arg):
            for name, default in ins.pairs:
                if name in self.build_args:
                    value = self.build_args[name]
                    self.used_args.add(name)
                elif default is None and name in self.plan.global_args:
                    value = self.plan.global_args[name]
                else:
                    value = default
                run.args[name] = value
        seen = {k: args[k] for k in expanded.referenced if k in args}
        if isinstance(ins, Run):
            seen = dict(args)  # RUN sees every ARG in scope, as environment variables
        # An ARG's key is its declaration: a changed value misses where it is used, as Docker.
        described = _describe(ins)
        key = StepKey(described, seen)
        source_files: dict[str, str] = {}
        copy_plan: Any = None
        if isinstance(ins, (Copy, Add)):
            from .copystep import prepare_copy

            copy_plan, digest, source_files = prepare_copy(self, run, ins, number)
            key = StepKey(key.instruction, seen, digest, source_files)
        parent = run.state.image_id
        if not self.options.no_cache:
            record = self.cache.lookup(parent, key)
            if record is not None:
                # From the blobs, not an Image: that would also add up the sizes of all its
                # layers, which no step reads.
                store = self.engine.store
                run.state = ImageState.of_blobs(
                    record.image, store.read_json(record.manifest), store.read_json(record.image)
                )
                self._after(run, ins)
                if not set(self.lineage) <= set(record.lineage):
                    with self._lock:  # tagged with this Dockerfile when the build commits
                        self.reused.append(record.key)
                self.emit(StepCached(number, record.image))
                done = StepDone(number, record.image, 0, time.monotonic() - start)
                if trigger_of is None:
                    self.emit(done)
                return done
            if self._first_build():
                reason = FIRST_BUILD
            elif run.rebuilt:
                reason = f"step {run.rebuilt} before it was rebuilt"
            else:
                reason = self.cache.explain_miss(parent, key, self.lineage)
        else:
            reason = "--no-cache"
        if isinstance(ins, (Run, Copy, Add)) and len(run.state.layers) + 1 > MAX_LAYERS:
            raise BuildError(
                f"the image would have {len(run.state.layers) + 1} layers, more "
                f"than {MAX_LAYERS}; merge RUN steps with &&",
                self.path,
                line,
            )
        container = os.urandom(6).hex() if isinstance(ins, Run) else ""
        self.emit(StepMiss(number, reason, container, ins.keyword))
        state = run.state.copy()
        size = 0
        empty = True
        now = self._now()
        if isinstance(ins, Run):
            size = self._run(run, state, ins, number, line, container, args)
            empty = False
            state.add_history(now, _created_by(ins, args, state), empty=False)
        elif isinstance(ins, (Copy, Add)):
            from .copystep import apply_copy_step

            size = apply_copy_step(self, run, state, ins, copy_plan, number, line)
            empty = False
            state.add_history(
                now,
                f"/bin/sh -c #(nop) {ins.keyword} {key.sources[:19]} in {ins.dest} ",
                empty=False,
            )
        elif isinstance(ins, Workdir):
            state.config["config"] = apply_instruction(state.run_config, ins)
            size, empty = self._workdir(state, ins, number)
            state.add_history(
                now, f"/bin/sh -c #(nop) WORKDIR {state.run_config['WorkingDir']}", empty=empty
            )
        else:
            if isinstance(ins, Maintainer):
                state.config["author"] = ins.name
            elif not isinstance(ins, Arg):
                state.config["config"] = apply_instruction(
                    state.run_config, ins, cmd_set=run.cmd_set
                )
            state.add_history(now, f"/bin/sh -c #(nop)  {described}", empty=True)
        if len(state.layers) > MAX_LAYERS:
            raise BuildError(
                f"the image would have {len(state.layers)} layers, more than "
                f"{MAX_LAYERS}; merge RUN steps with &&",
                self.path,
                line,
            )
        self._commit_step(state, parent, key)
        run.state = state
        run.rebuilt = run.rebuilt or number
        self._after(run, ins)
        done = StepDone(number, state.image_id, size, time.monotonic() - start, empty)
        if trigger_of is None:
            self.emit(done)
        return done

    def _after(self, run: _StageRun, ins: Instruction) -> None:
        if isinstance(ins, Cmd):
            run.cmd_set = True

    def _commit_step(self, state: ImageState, parent: str, key: StepKey) -> None:
        with self.engine.store.staging() as txn:
            staged_id, desc = state.stage(txn)

            def update(t: Any) -> None:
                self._note_reuse()
                self.cache.add(parent, key, staged_id, desc["digest"], self.lineage)

            self.engine.store.commit_staged(txn, update)

    def _first_build(self) -> bool:
        """Whether no earlier build of this Dockerfile left a record (decided at the first miss,
        before this build records anything)."""
        with self._lineage_lock:
            if self._first is None:
                self._first = not self.cache.has_lineage(self.lineage)
            return self._first

    def _note_reuse(self) -> None:
        """Tag the steps reused so far with this Dockerfile's lineage (store lock held)."""
        with self._lock:
            reused, self.reused = self.reused, []
        self.cache.note_reuse(reused, self.lineage)

    def _step_dirs(self, number: int) -> tuple[Path, Path]:
        base = self.scratch / f"step-{number}-{os.urandom(3).hex()}"
        (base / "upper").mkdir(parents=True)
        (base / "work").mkdir()
        return base / "upper", base / "work"

    def _add_layer(self, state: ImageState, ingest: Callable[[Transaction], LayerRecord]) -> int:
        """Store the layer ``ingest`` writes into a transaction as a new layer of ``state``;
        return the size of its files."""
        with self.engine.store.staging() as txn:
            record = ingest(txn)
            self.engine.store.commit_staged(txn, lambda t: None)
        state.add_layer(record.blob_descriptor(), record.diff_id)
        return record.content_size

    def _layer_from(self, state: ImageState, upper: Path, where: str) -> int:
        """Store ``upper`` as a new layer of ``state``; return its size in bytes."""
        from ..upper import ingest_upper

        epoch = self.options.source_date_epoch
        size = self._add_layer(
            state,
            lambda txn: ingest_upper(txn, upper, where, self.engine.compression, epoch),
        )
        if epoch is None:
            # The upper dir already is this layer unpacked: keep it as the layer cache's copy
            # rather than deleting it now and unpacking the blob again for the next step.
            # (With SOURCE_DATE_EPOCH the blob's times differ from the dir's: unpack later.)
            self.engine.layer_cache.adopt(state.diff_ids, upper)
        return size

    def _workdir(self, state: ImageState, ins: Workdir, number: int) -> tuple[int, bool]:
        """Create the working directory if the image lacks it (a layer), as Docker does."""
        from ..sandbox._view import LowerView

        path = state.run_config.get("WorkingDir") or "/"
        lowers = self.engine.layer_cache.ensure(state.diff_ids, self.engine._opaque_xattr())
        view = LowerView(tuple(lowers))
        if path == "/" or view.lookup(path.strip("/")) is not None:
            return 0, True
        upper, _ = self._step_dirs(number)
        current = upper
        for part in [p for p in path.split("/") if p]:
            current = current / part
            if not current.exists():
                current.mkdir(mode=0o755)
                os.chmod(current, 0o755)
        return self._layer_from(state, upper, f"{self.path}:{ins.line}"), False

    def _run(
        self,
        run: _StageRun,
        state: ImageState,
        ins: Run,
        number: int,
        line: int,
        container: str,
        args: dict[str, str],
    ) -> int:
        # The sandbox is loaded here, when a step really runs: a cached build never needs it.
        from ..sandbox import SandboxSpec
        from ..sandbox import run as sandbox_run

        cfg = state.run_config
        argv = _argv(ins, cfg)
        env = dict(args)
        env.update(env_map(cfg))
        upper, work = self._step_dirs(number)
        lowers = self.engine.layer_cache.ensure(state.diff_ids, self.engine._opaque_xattr())
        network = ins.network if ins.network != "default" else self.options.network
        mounts = self._mounts(run, ins, line)
        spec = SandboxSpec(
            layers=tuple(lowers),
            upper=upper,
            work=work,
            argv=tuple(argv),
            env=tuple(f"{k}={v}" for k, v in env.items()),
            cwd=cfg.get("WorkingDir") or "/",
            user=cfg.get("User") or "",
            hostname=container,
            network="none" if network == "none" else "host",
            mounts=mounts,
        )
        last: list[str] = []
        read_fd, write_fd = os.pipe()

        def pump() -> None:
            with os.fdopen(read_fd, "rb") as source:
                for raw in source:
                    text = raw.decode(errors="replace").rstrip("\r\n")
                    last.append(text)
                    del last[:-_LAST_LINES]
                    self.emit(StepLog(number, text))

        reader = threading.Thread(target=pump, name=f"step-{number}-log", daemon=True)
        reader.start()
        pid: list[int] = []

        def on_start(started: Started) -> None:
            pid.append(started.pid)
            self.running.add(started.pid)
            if self.interrupted:  # the interrupt came while the container was starting
                self._kill_running()

        devnull = os.open(os.devnull, os.O_RDONLY)
        try:
            code = self._interruptible(
                lambda: sandbox_run(
                    spec,
                    devnull,
                    write_fd,
                    write_fd,
                    on_start=on_start,
                    stop_timeout=_STEP_STOP_TIMEOUT,
                )
            )
        finally:
            os.close(devnull)
            os.close(write_fd)
            reader.join()
            for p in pid:
                self.running.discard(p)
        if code != 0:
            shown = " ".join(argv) if ins.json_form else f"{' '.join(argv[:-1])} {argv[-1]}"
            raise BuildError(
                f"The command '{shown}' returned a non-zero code: {code}"
                + ("; the build was interrupted" if code in (130, 137, 143) else ""),
                self.path,
                line,
                code,
                tuple(last),
            )
        return self._layer_from(state, upper, f"{self.path}:{line}")

    def _interruptible(self, run: Callable[[], int]) -> int:
        """``run()`` (a step's container) on a thread while this one waits, so that an interrupt
        (SIGINT, ``KeyboardInterrupt``) ends the build at once: the container is killed and the
        interrupt goes on. Run on this thread, the sandbox would take the signal to forward it
        to the container, and a step whose command then exits 0 (it finished, or ignored the
        signal) would swallow the interrupt. Off the main thread (parallel stages) there is no
        signal to catch: ``run()`` runs here."""
        if threading.current_thread() is not threading.main_thread():
            return run()
        outcome: dict[str, Any] = {}

        def target() -> None:
            try:
                outcome["code"] = run()
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                outcome["error"] = exc

        worker = threading.Thread(target=target, name="step-container", daemon=True)
        worker.start()
        try:
            worker.join()
        except KeyboardInterrupt:
            self.interrupted = True
            self._kill_running()
            while worker.is_alive():  # the sandbox cleans up after its container
                with contextlib.suppress(KeyboardInterrupt):
                    worker.join()
            raise
        if "error" in outcome:
            raise outcome["error"]
        code: int = outcome["code"]
        return code

    def _mounts(self, run: _StageRun, ins: Run, line: int) -> tuple[BindMount, ...]:
        from ..sandbox import BindMount

        mounts: list[BindMount] = []
        for m in ins.mounts:
            target = m.target if m.target.startswith("/") else "/" + m.target
            if m.type == "cache":
                cache_id = m.id or target
                import hashlib

                name = hashlib.sha256(cache_id.encode()).hexdigest()[:32]
                source = self.engine.store.root / "buildcache" / name
                source.mkdir(parents=True, exist_ok=True)
                mounts.append(BindMount(source, target, bool(m.readonly)))
            elif m.type == "bind":
                if m.from_:
                    raise BuildError(
                        "RUN --mount=type=bind,from=… is not supported yet; COPY "
                        "--from the files into the stage instead",
                        self.path,
                        line,
                    )
                if self.context_dir is None:
                    raise BuildError("RUN --mount=type=bind needs a build context", self.path, line)
                from ..sandbox._rootfs import secure_join

                source = secure_join(self.context_dir, m.source or ".")
                if not source.exists():
                    raise BuildError(
                        f"--mount source {m.source!r} is not in the build context", self.path, line
                    )
                mounts.append(BindMount(source, target, readonly=not getattr(m, "rw", False)))
            elif m.type == "tmpfs":
                tmp = self.scratch / f"tmpfs-{os.urandom(4).hex()}"
                tmp.mkdir(parents=True)
                mounts.append(BindMount(tmp, target, False))
            else:
                raise BuildError(
                    f"RUN --mount=type={m.type} is not supported; use cache, bind or tmpfs",
                    self.path,
                    line,
                )
        return tuple(mounts)


def _describe(ins: Instruction) -> str:
    """The instruction as one line with its variables expanded (for cache keys and history)."""
    import json

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
    if isinstance(ins, (Volume, Shell)):
        return f"{ins.keyword} " + json.dumps(
            list(ins.paths if isinstance(ins, Volume) else ins.shell)
        )
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
    if isinstance(ins, (Copy, Add)):
        flags = [
            f"--{k}={v}"
            for k, v in (
                ("from", getattr(ins, "from_", None)),
                ("chown", ins.chown),
                ("chmod", ins.chmod),
                ("checksum", getattr(ins, "checksum", None)),
            )
            if v
        ]
        docs = [f"<<{d.name}" for d in ins.heredocs]
        return " ".join([ins.keyword, *flags, *ins.sources, *docs, ins.dest])
    fields = [v for k, v in vars(ins).items() if k not in ("line", "original")]
    return f"{ins.keyword} " + " ".join(str(v) for v in fields if v not in (None, ()))


def _argv(ins: Run, cfg: dict[str, Any]) -> list[str]:
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
            script = (
                ins.heredocs[0].body
                if hasattr(ins.heredocs[0], "body")
                else ins.heredocs[0].content
            )
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


BuildEventSink = Callable[[Event], None]
