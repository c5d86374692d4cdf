"""The typed instructions: one frozen (lazy) dataclass per Dockerfile instruction.

Separate from the parsing in :mod:`.instructions` so that code which only *consumes* steps
(the builder, the image-config writer, ``commit --change``) can import the types alone.
Fields hold values as written; :func:`~.expand.expand_instruction` returns expanded copies.
"""

from __future__ import annotations

from typing import ClassVar

from ..lazy import lazy_dataclass
from .flags import Mount
from .nodes import Heredoc

__all__ = [
    "Add",
    "Arg",
    "Cmd",
    "Copy",
    "Entrypoint",
    "Env",
    "Expose",
    "From",
    "Healthcheck",
    "Instruction",
    "Label",
    "Maintainer",
    "Onbuild",
    "Run",
    "Shell",
    "SourcesAndDest",
    "Stopsignal",
    "User",
    "Volume",
    "Workdir",
]


@lazy_dataclass(frozen=True, kw_only=True)
class Instruction:
    """Common to all instructions: where it came from, for messages and ``Step N : …``.

    Lazy dataclasses: a build makes a few kinds of instruction out of these nineteen, and only
    those pay for their generated methods (see :mod:`..lazy`).
    """

    keyword: ClassVar[str] = ""
    line: int = 0
    original: str = ""


@lazy_dataclass(frozen=True)
class From(Instruction):
    keyword: ClassVar[str] = "FROM"
    base: str
    name: str | None = None
    platform: str | None = None


@lazy_dataclass(frozen=True)
class Run(Instruction):
    """``command`` is a tuple for the exec (JSON) form, a string for the shell form."""

    keyword: ClassVar[str] = "RUN"
    command: tuple[str, ...] | str
    json_form: bool = False
    heredocs: tuple[Heredoc, ...] = ()
    mounts: tuple[Mount, ...] = ()
    network: str = "default"


@lazy_dataclass(frozen=True)
class Cmd(Instruction):
    keyword: ClassVar[str] = "CMD"
    command: tuple[str, ...] | str
    json_form: bool = False


@lazy_dataclass(frozen=True)
class Entrypoint(Instruction):
    keyword: ClassVar[str] = "ENTRYPOINT"
    command: tuple[str, ...] | str
    json_form: bool = False


@lazy_dataclass(frozen=True)
class Shell(Instruction):
    keyword: ClassVar[str] = "SHELL"
    shell: tuple[str, ...]


@lazy_dataclass(frozen=True)
class Env(Instruction):
    keyword: ClassVar[str] = "ENV"
    pairs: tuple[tuple[str, str], ...]


@lazy_dataclass(frozen=True)
class Label(Instruction):
    keyword: ClassVar[str] = "LABEL"
    pairs: tuple[tuple[str, str], ...]


@lazy_dataclass(frozen=True)
class Maintainer(Instruction):
    keyword: ClassVar[str] = "MAINTAINER"
    name: str


@lazy_dataclass(frozen=True)
class Expose(Instruction):
    keyword: ClassVar[str] = "EXPOSE"
    ports: tuple[str, ...]


class SourcesAndDest(Instruction):
    """What COPY and ADD share (BuildKit's ``SourcesAndDest`` and their common flags):
    ``sources`` are paths (ADD: also URLs), heredoc sources are in ``heredocs`` (file name =
    name). What only one of them takes reads as None/False on the other, so a step needs no
    type probe: ``from_`` (COPY ``--from``), ``checksum`` and ``keep_git_dir`` (ADD).

    Not a dataclass itself: each of the two declares its fields, in the order of its flags, as
    they are made positionally in that order."""

    sources: tuple[str, ...]
    dest: str
    chown: str | None
    chmod: str | None
    link: bool
    heredocs: tuple[Heredoc, ...]

    @property
    def from_(self) -> str | None:
        """``--from``: the stage name, index or image the sources come from (COPY only)."""
        return None

    @property
    def checksum(self) -> str | None:
        """``--checksum``: the expected ``sha256:`` of a URL source (ADD only)."""
        return None

    @property
    def keep_git_dir(self) -> bool:
        return False


@lazy_dataclass(frozen=True)
class Add(SourcesAndDest):
    keyword: ClassVar[str] = "ADD"
    sources: tuple[str, ...]
    dest: str
    chown: str | None = None
    chmod: str | None = None
    checksum: str | None = None
    keep_git_dir: bool = False
    link: bool = False
    heredocs: tuple[Heredoc, ...] = ()


@lazy_dataclass(frozen=True)
class Copy(SourcesAndDest):
    keyword: ClassVar[str] = "COPY"
    sources: tuple[str, ...]
    dest: str
    from_: str | None = None
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    heredocs: tuple[Heredoc, ...] = ()


@lazy_dataclass(frozen=True)
class Volume(Instruction):
    keyword: ClassVar[str] = "VOLUME"
    paths: tuple[str, ...]


@lazy_dataclass(frozen=True)
class User(Instruction):
    keyword: ClassVar[str] = "USER"
    user: str


@lazy_dataclass(frozen=True)
class Workdir(Instruction):
    keyword: ClassVar[str] = "WORKDIR"
    path: str


@lazy_dataclass(frozen=True)
class Arg(Instruction):
    """``ARG a b=1`` → ``(("a", None), ("b", "1"))``: None means no default."""

    keyword: ClassVar[str] = "ARG"
    pairs: tuple[tuple[str, str | None], ...]


@lazy_dataclass(frozen=True)
class Onbuild(Instruction):
    """``expression`` is the trigger as text (heredoc bodies appended), run in child builds."""

    keyword: ClassVar[str] = "ONBUILD"
    expression: str


@lazy_dataclass(frozen=True)
class Stopsignal(Instruction):
    keyword: ClassVar[str] = "STOPSIGNAL"
    signal: str


@lazy_dataclass(frozen=True)
class Healthcheck(Instruction):
    """``test`` is None for ``HEALTHCHECK NONE``, else ``("CMD", …)`` or ``("CMD-SHELL", cmd)``.

    Durations are nanoseconds as in the image config; 0 means "use the default".
    """

    keyword: ClassVar[str] = "HEALTHCHECK"
    test: tuple[str, ...] | None
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0
