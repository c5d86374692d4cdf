"""A Dockerfile cut into stages: which are needed for the target, in what order, and how steps
are numbered (``Step 3/7``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import field

from ..dockerfile import Arg, Copy, From, Instruction, Run, expand_instruction
from ..errors import DockerfileError
from ..lazy import lazy_dataclass

__all__ = ["BuildPlan", "Stage", "plan_build"]


@lazy_dataclass()
class Stage:
    index: int
    base: From  # with variables expanded (global ARGs)
    instructions: list[Instruction] = field(default_factory=list)

    @property
    def name(self) -> str | None:
        return self.base.name.lower() if self.base.name else None

    @property
    def label(self) -> str:
        return self.name or str(self.index)


@lazy_dataclass(frozen=True)
class BuildPlan:
    global_args: dict[str, str | None]  # ARGs before the first FROM, with build-arg values
    stages: list[Stage]
    needed: list[int]  # stage indexes to build, dependencies first
    target: int
    numbers: dict[tuple[int, int], int]  # (stage, position; FROM is 0) → step number
    total: int
    depends: dict[int, set[int]]  # stage index → stages it needs
    # The ARG instructions before the first FROM: steps 1 to N, as Docker numbers them (they
    # make no image; the stages' steps follow them).
    leading_args: tuple[Arg, ...] = ()


def _stage_ref(stages: Sequence[Stage], ref: str, upto: int) -> int | None:
    """The stage a FROM / --from reference names (a name or an index before ``upto``)."""
    for stage in stages[:upto]:
        if stage.name == ref.lower():
            return stage.index
    if ref.isdigit() and int(ref) < upto:
        return int(ref)
    return None


def plan_build(
    instructions: Sequence[Instruction],
    build_args: Mapping[str, str | None],
    target: str | None,
    path: str,
) -> BuildPlan:
    """Split ``instructions`` into stages and choose what to build; DockerfileError at
    ``path:line`` for a file without FROM, an unknown ``--target`` or a bad stage reference."""
    global_args: dict[str, str | None] = {}
    leading_args: list[Arg] = []
    stages: list[Stage] = []
    for ins in instructions:
        if isinstance(ins, From):
            env = {k: v for k, v in global_args.items() if v is not None}
            expanded = expand_instruction(ins, env, path=path).instruction
            assert isinstance(expanded, From)
            stages.append(Stage(len(stages), expanded))
        elif not stages:
            if not isinstance(ins, Arg):
                raise DockerfileError(
                    f"{ins.keyword} before the first FROM; a Dockerfile starts with FROM "
                    "(only ARG may come before it)",
                    path,
                    ins.line,
                )
            leading_args.append(ins)
            for name, default in ins.pairs:
                global_args[name] = build_args.get(name, default) if name in build_args else default
        else:
            stages[-1].instructions.append(ins)
    if not stages:
        raise DockerfileError("no FROM instruction: add FROM <image> (or FROM scratch)", path, 1)
    depends: dict[int, set[int]] = {}
    for stage in stages:
        deps: set[int] = set()
        base = _stage_ref(stages, stage.base.base, stage.index)
        if base is not None:
            deps.add(base)
        for ins in stage.instructions:
            refs: list[str] = []
            if isinstance(ins, Copy) and ins.from_:
                refs.append(ins.from_)
            if isinstance(ins, Run):
                refs += [m.from_ for m in ins.mounts if m.from_]
            for ref in refs:
                dep = _stage_ref(stages, ref, stage.index)
                if dep is not None:
                    deps.add(dep)
                elif any(s.name == ref.lower() for s in stages):
                    raise DockerfileError(
                        f"stage {ref!r} is used before it is defined; move it above this stage",
                        path,
                        ins.line,
                    )
        depends[stage.index] = deps
    if target is None:
        target_index = stages[-1].index
    else:
        found = next((s.index for s in stages if s.name == target.lower()), None)
        if found is None:
            names = ", ".join(s.name for s in stages if s.name) or "none"
            raise DockerfileError(
                f"target stage {target!r} not found (stages: {names}); check --target",
                path,
                stages[0].base.line,
            )
        target_index = found
    reached = {target_index}  # the target and what it depends on, however long the chain
    pending = [target_index]
    while pending:
        for dep in depends[pending.pop()]:
            if dep not in reached:
                reached.add(dep)
                pending.append(dep)
    needed = sorted(reached)
    numbers: dict[tuple[int, int], int] = {}
    count = len(leading_args)
    for index in needed:
        for position in range(len(stages[index].instructions) + 1):
            count += 1
            numbers[(index, position)] = count
    return BuildPlan(
        global_args, stages, needed, target_index, numbers, count, depends, tuple(leading_args)
    )
