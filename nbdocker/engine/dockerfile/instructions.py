"""Typed instructions from syntax-tree nodes (the dataclasses live in :mod:`.commands`).

:func:`parse_instruction` turns a syntax-tree :class:`~.parser.Node` into one of these,
checking flags and argument counts, so that the builder deals only with well-formed steps and
every mistake is reported before anything runs, as ``path:line: what is wrong; what to do``.

Variables are *not* expanded here: which ``ARG``/``ENV`` values a step sees depends on the
build, so the builder calls :func:`expand_instruction` per step. That returns the expanded
instruction and the names it referenced, which the build cache keys on.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

from ..errors import DockerfileError
from .commands import (
    Add,
    Arg,
    Cmd,
    Copy,
    Entrypoint,
    Env,
    Expose,
    From,
    Healthcheck,
    Instruction,
    Label,
    Maintainer,
    Onbuild,
    Run,
    Shell,
    Stopsignal,
    User,
    Volume,
    Workdir,
)
from .expand import Expanded, expand_instruction
from .flags import (
    NETWORK_MODES,
    FlagError,
    FlagKind,
    parse_duration,
    parse_flags,
    parse_mount,
)
from .parser import Dockerfile, Heredoc, Node, parse, parse_heredoc_word

__all__ = [
    "CHANGE_INSTRUCTIONS",
    "INSTRUCTIONS",
    "Add",
    "Arg",
    "Cmd",
    "Copy",
    "Entrypoint",
    "Env",
    "Expanded",
    "Expose",
    "From",
    "Healthcheck",
    "Instruction",
    "Label",
    "Maintainer",
    "Onbuild",
    "Run",
    "Shell",
    "Stopsignal",
    "User",
    "Volume",
    "Workdir",
    "expand_instruction",
    "parse_change",
    "parse_instruction",
    "parse_instructions",
]

INSTRUCTIONS = (
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
)  # fmt: skip
CHANGE_INSTRUCTIONS = (
    "CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "USER", "WORKDIR", "VOLUME",
    "STOPSIGNAL",
)  # fmt: skip
_STAGE_NAME = re.compile(r"[a-z][a-z0-9\-_.]*")


class _Invalid(Exception):
    """Internal: a message for the instruction being parsed; the caller adds path:line."""


def _strings(node: Node) -> tuple[str, ...]:
    return tuple(a for a in node.args if isinstance(a, str))


def _command(node: Node) -> tuple[str, ...] | str:
    args = _strings(node)
    return args if node.json_form else " ".join(args)


def _exactly_one(node: Node, example: str) -> str:
    args = _strings(node)
    if len(args) != 1:
        raise _Invalid(f"{node.keyword.upper()} requires exactly one argument, e.g. {example}")
    return args[0]


def _pairs(node: Node) -> tuple[tuple[str, str], ...]:
    args = _strings(node)
    kw = node.keyword.upper()
    if not args:
        raise _Invalid(f"{kw} requires at least one argument, e.g. {kw} name=value")
    pairs = tuple((args[i], args[i + 1]) for i in range(0, len(args) - 2, 3))
    if any(not name for name, _ in pairs):
        raise _Invalid(f"{kw} names can not be blank; write {kw} name=value")
    return pairs


def _parse_from(node: Node) -> From:
    flags = parse_flags("FROM", node.flags, {"platform": "string"})
    args = _strings(node)
    name = None
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _STAGE_NAME.fullmatch(name):
            raise _Invalid(
                f"invalid stage name {args[2]!r}; it must start with a letter and use only "
                "letters, digits, '-', '_' and '.'"
            )
    elif not args:
        raise _Invalid("FROM needs an image, e.g. FROM debian:bookworm")
    elif len(args) != 1:
        raise _Invalid("FROM takes an image and optionally AS name, e.g. FROM debian AS build")
    return From(args[0], name, flags.string("platform"))


def _parse_run(node: Node) -> Run:
    flags = parse_flags("RUN", node.flags, {"mount": "strings", "network": "string"})
    network = flags.string("network") or "default"
    if network not in NETWORK_MODES:
        raise _Invalid(f"invalid network mode {network!r}; use one of {', '.join(NETWORK_MODES)}")
    if not node.args:
        raise _Invalid("RUN requires a command, e.g. RUN apt-get update")
    mounts = tuple(parse_mount(spec) for spec in flags.strings("mount"))
    return Run(_command(node), node.json_form, node.heredocs, mounts, network)


def _sources_and_dest(
    node: Node,
) -> tuple[tuple[str, ...], str, tuple[Heredoc, ...]]:
    args = _strings(node)
    kw = node.keyword.upper()
    if len(args) < 2:
        raise _Invalid(f"{kw} requires a source and a destination, e.g. {kw} app.py /app/")
    dest = args[-1]
    if parse_heredoc_word(dest) is not None:
        raise _Invalid(f"{kw} cannot accept a heredoc as the destination; put the path last")
    bodies = {h.name: h for h in node.heredocs}
    sources: list[str] = []
    heredocs: list[Heredoc] = []
    for src in args[:-1]:
        word = parse_heredoc_word(src)
        if word is None:
            sources.append(src)
        else:
            body = bodies.get(word.name, dataclasses.replace(word, content=""))
            heredocs.append(body)
    return tuple(sources), dest, tuple(heredocs)


def _parse_add(node: Node) -> Add:
    spec: dict[str, FlagKind] = {
        "chown": "string",
        "chmod": "string",
        "checksum": "string",
        "keep-git-dir": "bool",
        "link": "bool",
    }
    flags = parse_flags("ADD", node.flags, spec)
    sources, dest, heredocs = _sources_and_dest(node)
    return Add(
        sources,
        dest,
        chown=flags.string("chown"),
        chmod=flags.string("chmod"),
        checksum=flags.string("checksum"),
        keep_git_dir=flags.boolean("keep-git-dir"),
        link=flags.boolean("link"),
        heredocs=heredocs,
    )


def _parse_copy(node: Node) -> Copy:
    spec: dict[str, FlagKind] = {"from": "string", "chown": "string", "chmod": "string"}
    flags = parse_flags("COPY", node.flags, {**spec, "link": "bool"})
    sources, dest, heredocs = _sources_and_dest(node)
    return Copy(
        sources,
        dest,
        from_=flags.string("from"),
        chown=flags.string("chown"),
        chmod=flags.string("chmod"),
        link=flags.boolean("link"),
        heredocs=heredocs,
    )


def _parse_healthcheck(node: Node) -> Healthcheck:
    args = _strings(node)
    if not args:
        raise _Invalid("HEALTHCHECK requires an argument, e.g. HEALTHCHECK CMD curl -f localhost")
    kind = args[0].upper()
    if kind == "NONE":
        if len(args) > 1:
            raise _Invalid("HEALTHCHECK NONE takes no arguments")
        return Healthcheck(None)
    names = ("interval", "timeout", "start-period", "start-interval", "retries")
    flags = parse_flags("HEALTHCHECK", node.flags, dict.fromkeys(names, "string"))
    if kind != "CMD":
        raise _Invalid(f"unknown HEALTHCHECK type {args[0]!r}; use HEALTHCHECK CMD … or NONE")
    if len(args) < 2:
        raise _Invalid("missing command after HEALTHCHECK CMD")
    test = ("CMD", *args[1:]) if node.json_form else ("CMD-SHELL", " ".join(args[1:]))
    interval, timeout, start_period, start_interval = (
        _interval(name, flags.string(name)) for name in names[:4]
    )
    retries_text = flags.string("retries") or "0"
    try:
        retries = int(retries_text, 10)
    except ValueError:
        raise _Invalid(
            f"HEALTHCHECK --retries must be a whole number, not {retries_text!r}"
        ) from None
    if retries < 0:
        raise _Invalid(f"HEALTHCHECK --retries cannot be negative ({retries})")
    return Healthcheck(test, interval, timeout, start_period, start_interval, retries)


def _interval(name: str, value: str | None) -> int:
    ns = parse_duration(value) if value else 0
    if 0 < ns < 1_000_000 or ns < 0:
        raise _Invalid(f"HEALTHCHECK --{name} cannot be less than 1ms (got {value})")
    return ns


def _parse_onbuild(node: Node, path: str) -> Onbuild:
    parse_flags("ONBUILD", node.flags, {})
    if not node.args or not isinstance(node.args[0], Node):
        raise _Invalid("ONBUILD requires an instruction, e.g. ONBUILD RUN make")
    trigger = node.args[0].keyword.upper()
    if trigger == "ONBUILD":
        raise _Invalid("chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("FROM", "MAINTAINER"):
        raise _Invalid(f"{trigger} isn't allowed as an ONBUILD trigger")
    parse_instruction(node.args[0], path)  # report a bad trigger now, not in a child build
    expression = re.sub(r"(?i)^\s*ONBUILD\s*", "", node.original)
    for heredoc in node.heredocs:
        expression += "\n" + heredoc.content + heredoc.name
    return Onbuild(expression)


def _parse_arg(node: Node) -> Arg:
    args = _strings(node)
    if not args:
        raise _Invalid("ARG requires at least one argument, e.g. ARG VERSION=1.0")
    pairs: list[tuple[str, str | None]] = []
    for arg in args:
        name, has_value, value = arg.partition("=")
        if not name:
            raise _Invalid("ARG names can not be blank; write ARG name or ARG name=default")
        pairs.append((name, value if has_value else None))
    return Arg(tuple(pairs))


def _parse_shell(node: Node) -> Shell:
    if not node.args:
        raise _Invalid('SHELL requires at least one argument, e.g. SHELL ["/bin/bash", "-c"]')
    if not node.json_form:
        raise _Invalid('SHELL requires the JSON form, e.g. SHELL ["/bin/bash", "-c"]')
    return Shell(_strings(node))


def _parse_volume(node: Node) -> Volume:
    args = _strings(node)
    if not args:
        raise _Invalid("VOLUME requires at least one argument, e.g. VOLUME /data")
    paths = tuple(a.strip() for a in args)
    if not all(paths):
        raise _Invalid("VOLUME paths can not be empty strings")
    return Volume(paths)


def _dispatch(node: Node, path: str) -> Instruction:
    kw = node.keyword
    if kw == "from":
        return _parse_from(node)
    if kw == "run":
        return _parse_run(node)
    if kw in ("add", "copy"):
        return _parse_add(node) if kw == "add" else _parse_copy(node)
    if kw == "onbuild":
        return _parse_onbuild(node, path)
    if kw == "healthcheck":
        return _parse_healthcheck(node)
    parse_flags(kw.upper(), node.flags, {})  # the rest take no flags
    if kw == "cmd":
        if not node.args and not node.json_form:
            raise _Invalid("CMD requires a command; write CMD [] to clear the inherited one")
        return Cmd(_command(node), node.json_form)
    if kw == "entrypoint":
        # A bare ENTRYPOINT clears the inherited one, like ENTRYPOINT [] (as in Docker).
        return Entrypoint(_command(node) if node.args else (), node.json_form)
    if kw in ("env", "label"):
        return Env(_pairs(node)) if kw == "env" else Label(_pairs(node))
    if kw == "expose":
        if not node.args:
            raise _Invalid("EXPOSE requires at least one port, e.g. EXPOSE 80/tcp")
        return Expose(_strings(node))
    simple: dict[str, Callable[[Node], Instruction]] = {
        "arg": _parse_arg,
        "shell": _parse_shell,
        "volume": _parse_volume,
        "user": lambda n: User(_exactly_one(n, "USER app:app")),
        "workdir": lambda n: Workdir(_exactly_one(n, "WORKDIR /app")),
        "maintainer": lambda n: Maintainer(_exactly_one(n, "MAINTAINER Jane <jane@example.org>")),
        "stopsignal": lambda n: Stopsignal(_exactly_one(n, "STOPSIGNAL SIGTERM")),
    }
    if kw in simple:
        return simple[kw](node)
    import difflib  # only to suggest a name for a mistyped instruction

    word = node.original.split()[0] if node.original.split() else kw
    close = difflib.get_close_matches(word.upper(), INSTRUCTIONS, n=1)
    hint = f"did you mean {close[0]}?" if close else "valid ones: " + ", ".join(INSTRUCTIONS)
    raise _Invalid(f"unknown instruction {word}; {hint}")


def parse_instruction(node: Node, path: str = "Dockerfile") -> Instruction:
    """Turn one syntax-tree node into its typed instruction.

    Raises ``DockerfileError`` (``path:line: …``) for an unknown instruction, an unknown or
    malformed flag, or a wrong number of arguments.
    """
    try:
        instruction = _dispatch(node, path)
    except (_Invalid, FlagError) as exc:
        raise DockerfileError(str(exc), path, node.start_line) from None
    return dataclasses.replace(instruction, line=node.start_line, original=node.original)


def parse_instructions(dockerfile: Dockerfile) -> tuple[Instruction, ...]:
    """Every instruction of a parsed file, typed; stops at the first error."""
    return tuple(parse_instruction(node, dockerfile.path) for node in dockerfile.instructions)


def parse_change(text: str, path: str = "--change") -> Instruction:
    """Parse one ``docker commit``/``docker import`` ``-c``/``--change`` value.

    Only instructions that change image configuration are allowed; anything that would need
    a build step (RUN, COPY, FROM, …) is rejected with the list of allowed ones.
    """
    nodes = parse(text, path).instructions
    if len(nodes) != 1:
        raise DockerfileError("a --change value must hold exactly one instruction", path, 1)
    keyword = nodes[0].keyword.upper()
    if keyword not in CHANGE_INSTRUCTIONS:
        raise DockerfileError(
            f"commit/import -c does not support {keyword}; allowed: "
            + ", ".join(CHANGE_INSTRUCTIONS),
            path,
            nodes[0].start_line,
        )
    return parse_instruction(nodes[0], path)
