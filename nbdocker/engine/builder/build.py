"""Running a Dockerfile: stages, steps, cache, layers — the engine's ``build``.

:class:`Builder` turns a parsed Dockerfile into images. Each step starts from the image the
previous one made (its *parent*) and either reuses a cached result (:mod:`.cache`) or runs the
handler of its instruction (:mod:`.steps`): a config instruction edits the config; RUN runs in
the sandbox on the parent's unpacked layers with a fresh upper dir; COPY/ADD stream their
files into a new layer. Every intermediate image is staged in the store and recorded in the
cache, so a later build reuses it. Only the final image is named; a failed or interrupted build
names nothing, and the steps that completed stay cached.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from .. import sandbox, userns
from ..dockerfile import (
    Arg,
    Cmd,
    Instruction,
    Run,
    SourcesAndDest,
    env_map,
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
    IsolationInUse,
    StepCached,
    StepDone,
    StepLog,
    StepMiss,
    StepStarted,
)
from ..image import Image, find_image
from ..lazy import lazy_dataclass
from ..leftovers import BUILDS, dead_builds, owned_name
from ..reference import Reference, parse_reference
from ..store import Transaction
from . import copy
from .cache import FIRST_BUILD, BuildCache, StepKey
from .image_state import MAX_LAYERS, ImageState
from .options import BuildOptions
from .services import BuildServices
from .stages import BuildPlan, Stage, plan_build
from .steps import (
    CONFIG_HANDLER,
    HANDLERS,
    MAKES_LAYER,
    RUNS_CONTAINER,
    BuildContainers,
    BuildError,
    StepContext,
    describe,
)

if TYPE_CHECKING:
    from .context import BuildContext
    from .copy.step import CopyContext, PreparedCopy

__all__ = ["BuildError", "Builder"]


@lazy_dataclass()
class _StageRun:
    """A stage being built: its image so far and the ARGs in scope."""

    stage: Stage
    state: ImageState
    args: dict[str, str | None] = field(default_factory=dict)
    cmd_set: bool = False
    rebuilt: int = 0  # the first step of this stage that ran rather than came from the cache


class Builder:
    """One build of one Dockerfile, with the build context ``context`` (None: no context)."""

    def __init__(
        self,
        services: BuildServices,
        options: BuildOptions,
        context: BuildContext | None,
        context_size: int,
        context_label: str,
        on_event: EventSink,
    ) -> None:
        self.services = services
        self.store = services.store
        self.options = options
        self.context = context
        self.context_size = context_size
        self.context_label = context_label
        self._lock = threading.Lock()
        self._sink = on_event
        self.cache = BuildCache(services.store)
        self.path = options.dockerfile_name
        self.build_args = dict(options.build_args)
        # Named by this process, so that a killed build's folder is known as a leftover and a live
        # one's is not (nbdocker.engine.leftovers).
        self.scratch = services.store.root / BUILDS / owned_name()
        self.results: dict[int, ImageState] = {}
        self.containers = BuildContainers()  # RUN steps' containers, killed on interrupt
        self.current = 0  # the step running (for BuildFailed)
        self._copy: CopyContext | None = None
        self._isolation_told = False
        # What makes an earlier build one of this Dockerfile (see .cache): its names, its file,
        # what the caller adds; and the cache keys of the steps reused, to tag with it.
        self.lineage = (*options.lineage, *(f"tag:{parse_reference(t)}" for t in options.tags))
        self.reused: list[str] = []
        self._first: bool | None = None
        self._lineage_lock = threading.Lock()

    @property
    def copy(self) -> CopyContext:
        """What this build's COPY/ADD steps get (made for the first one: a build without COPY
        never loads the copy machinery)."""
        if self._copy is None:
            self._copy = copy.CopyContext(
                self.services,
                self.path,
                self.scratch,
                self.context,
                self.options.source_date_epoch,
                self._from_layers,
            )
        return self._copy

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
        # What a killed build left goes with the next one (one listing of builds/, usually
        # empty); every prune removes it too.
        for leftover in dead_builds(self.store.root):
            userns.remove_tree(leftover)
        self.emit(BuildStarted(self.context_label, self.context_size, plan.total))
        self._report_leading_args(plan)
        try:
            self._run_stages(plan)
            final = self.results[plan.target]
            image = self._finish(final)
        except BuildError as exc:
            self.emit(BuildFailed(self.current, str(exc), exc.command_status, exc.last_lines))
            raise
        except NbdockerError as exc:
            self.emit(BuildFailed(self.current, str(exc)))
            raise
        except KeyboardInterrupt:
            self.containers.interrupt()
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
                        self.containers.kill()
                        raise
            done.update(ready)

    def _finish(self, final: ImageState) -> Image:
        state = final.copy()
        if self.options.labels:
            labels = dict(state.run_config.get("Labels") or {})
            labels.update(dict(self.options.labels))
            state.run_config["Labels"] = labels
        history = state.config.get("history") or []
        if self.options.comment and history:  # provenance, e.g. the notebook cell
            history[-1] = {**history[-1], "comment": self.options.comment}
        refs = [parse_reference(t) for t in self.options.tags]
        with self.store.staging() as txn:
            staged = state.stage(txn)

            def update(t: Transaction) -> None:
                self._note_reuse()
                named: list[Reference | None] = [*refs] or [None]
                for ref in named:
                    t.name(staged, ref)

            self.store.commit_staged(txn, update)
        return find_image(self.store, staged.id)

    # -- stages -----------------------------------------------------------------------------------

    def _now(self) -> datetime:
        epoch = self.options.source_date_epoch
        if epoch is not None:
            return datetime.fromtimestamp(epoch, timezone.utc)
        return datetime.now(timezone.utc)

    def _image(self, ref: str, what: str, line: int) -> Image:
        """An image the build names (FROM, ``--from``): from the store, else pulled."""
        try:
            return find_image(self.store, ref)
        except ImageNotFound:
            if self.services.pull is None:
                raise
            try:
                return self.services.pull(ref)
            except NbdockerError as exc:
                raise DockerfileError(
                    f"{what} ({exc}); import, load or pull it first", self.path, line
                ) from None

    def _base(self, stage: Stage) -> ImageState:
        ref = stage.base.base
        for other in self.plan.stages[: stage.index]:
            if other.name == ref.lower() or str(other.index) == ref:
                return self.results[other.index].copy()
        if ref == "scratch":
            return ImageState.scratch()
        what = f"FROM {ref}: the image is not in the store and could not be pulled"
        return ImageState.of(self._image(ref, what, stage.base.line))

    def _from_layers(self, ref: str, line: int) -> list[str]:
        """The diffIDs of what ``COPY --from=ref`` reads: a stage built above, or an image."""
        for stage in self.plan.stages:
            if stage.name == ref.lower() or str(stage.index) == ref:
                return self.results[stage.index].diff_ids
        try:
            return find_image(self.store, ref).diff_ids
        except ImageNotFound:
            pull = self.services.pull
            try:
                if pull is None:
                    raise
                return pull(ref).diff_ids
            except NbdockerError as exc:
                raise DockerfileError(
                    f"--from={ref}: no stage or image of that name ({exc}); "
                    "name a stage defined above or an image in the store",
                    self.path,
                    line,
                ) from None

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
            run.state.run_config["Env"] = [f"PATH={sandbox.DEFAULT_PATH}", *env]
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

    def _declare(self, run: _StageRun, ins: Arg) -> None:
        """ARG: its names enter the scope, valued by --build-arg, the global ARG or the default."""
        for name, default in ins.pairs:
            if name in self.build_args:
                value = self.build_args[name]
            elif default is None and name in self.plan.global_args:
                value = self.plan.global_args[name]
            else:
                value = default
            run.args[name] = value

    def _step(
        self, run: _StageRun, ins: Instruction, number: int, trigger_of: int | None = None
    ) -> StepDone:
        """Run one step and report its StepDone, which it returns; an ONBUILD trigger
        (``trigger_of``: the FROM's line) is part of the FROM step, which reports it."""
        start = time.monotonic()
        self.current = number
        line = trigger_of or ins.line
        if trigger_of is None:
            location = f"{self.path}:{ins.line}"
            self.emit(StepStarted(number, self.plan.total, ins.original, run.stage.label, location))
        args = self._scope(run)
        expanded = expand_instruction(
            ins, {**args, **env_map(run.state.run_config)}, escape=self.escape, path=self.path
        )
        ins = expanded.instruction
        if isinstance(ins, Arg):
            self._declare(run, ins)
        key, prepared = self._key(run, ins, args, expanded.referenced)
        parent = run.state.image_id
        if self.options.no_cache:
            reason = "--no-cache"
        elif (done := self._reuse(run, ins, parent, key, number, start)) is not None:
            if trigger_of is None:
                self.emit(done)
            return done
        elif self._first_build():
            reason = FIRST_BUILD
        elif run.rebuilt:
            reason = f"step {run.rebuilt} before it was rebuilt"
        else:
            reason = self.cache.explain_miss(parent, key, self.lineage)
        if isinstance(ins, MAKES_LAYER):
            self._check_layers(len(run.state.layers) + 1, line)
        container = os.urandom(6).hex() if isinstance(ins, RUNS_CONTAINER) else ""
        self.emit(StepMiss(number, reason, container, ins.keyword))
        state = run.state.copy()
        now = self._now()
        ctx = StepContext(
            services=self.services,
            options=self.options,
            path=self.path,
            scratch=self.scratch,
            number=number,
            line=line,
            described=key.instruction,
            args=args,
            cmd_set=run.cmd_set,
            container=container,
            emit=self.emit,
            announce_isolation=self._announce_isolation,
            containers=self.containers,
            context_dir=self.context.root if self.context is not None else None,
            copy=self._copy,
            prepared=prepared,
        )
        result = HANDLERS.get(type(ins), CONFIG_HANDLER)(ctx, state, ins)
        state.add_history(now, result.created_by, empty=result.empty)
        self._check_layers(len(state.layers), line)
        self._commit_step(state, parent, key)
        run.state = state
        run.rebuilt = run.rebuilt or number
        run.cmd_set = run.cmd_set or isinstance(ins, Cmd)
        duration = time.monotonic() - start
        done = StepDone(number, state.image_id, result.size, duration, result.empty)
        if trigger_of is None:
            self.emit(done)
        return done

    def _key(
        self, run: _StageRun, ins: Instruction, args: dict[str, str], referenced: frozenset[str]
    ) -> tuple[StepKey, PreparedCopy | None]:
        """What the step's result depends on besides its parent; a COPY/ADD's plan with it.

        An ARG's key is its declaration: a changed value misses where it is used, as Docker;
        RUN sees every ARG in scope (as environment variables), so all of them key it."""
        seen = dict(args) if isinstance(ins, Run) else {k: args[k] for k in referenced if k in args}
        key = StepKey(describe(ins), seen)
        if not isinstance(ins, SourcesAndDest):
            return key, None
        # the one instruction whose key reads files
        prepared = copy.prepare_copy(self.copy, ins, run.state.run_config.get("WorkingDir") or "/")
        return replace(key, sources=prepared.digest, files=prepared.files), prepared

    def _reuse(
        self,
        run: _StageRun,
        ins: Instruction,
        parent: str,
        key: StepKey,
        number: int,
        start: float,
    ) -> StepDone | None:
        """Take the cached result of the step, if the cache has one; return the StepDone to
        report (after StepCached, reported here), or None for a miss."""
        record = self.cache.lookup(parent, key)
        if record is None:
            return None
        # From the blobs, not an Image: that would also add up the sizes of all its layers,
        # which no step reads.
        run.state = ImageState.of_blobs(
            record.image,
            self.store.read_manifest(record.manifest),
            self.store.read_config(record.image),
        )
        run.cmd_set = run.cmd_set or isinstance(ins, Cmd)
        if not set(self.lineage) <= set(record.lineage):
            with self._lock:  # tagged with this Dockerfile when the build commits
                self.reused.append(record.key)
        self.emit(StepCached(number, record.image))
        return StepDone(number, record.image, 0, time.monotonic() - start)

    def _check_layers(self, count: int, line: int) -> None:
        if count > MAX_LAYERS:
            raise BuildError(
                f"the image would have {count} layers, more than {MAX_LAYERS}; merge RUN steps "
                "with &&",
                self.path,
                line,
            )

    def _commit_step(self, state: ImageState, parent: str, key: StepKey) -> None:
        with self.store.staging() as txn:
            staged = state.stage(txn)

            def update(t: Transaction) -> None:
                self._note_reuse()
                self.cache.add(parent, key, staged.id, staged.manifest["digest"], self.lineage)

            self.store.commit_staged(txn, update)

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

    def _announce_isolation(self) -> None:
        """Say once per build when steps run at a level weaker than namespaces."""
        isolation = sandbox.current(self.services.store.root)
        with self._lock:
            if self._isolation_told or not isolation.weaker:
                return
            self._isolation_told = True
        self.emit(IsolationInUse(isolation.level, isolation.explanation()))
