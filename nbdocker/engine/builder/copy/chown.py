"""``--chown``: the owner a COPY/ADD gives its files, by name or number, from the destination
image's ``/etc/passwd`` and ``/etc/group``."""

from __future__ import annotations

from collections.abc import Callable

from ...lazy import lazy_dataclass
from .plan import Where

__all__ = ["Identity", "resolve_chown"]


@lazy_dataclass(frozen=True)
class Identity:
    """The owner ``--chown`` asks for."""

    uid: int
    gid: int


def _rows(data: bytes | None) -> list[list[str]]:
    if data is None:
        return []
    text = data.decode("utf-8", errors="replace")
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def resolve_chown(spec: str, read: Callable[[str], bytes | None], where: Where) -> Identity:
    """``user[:group]`` (names or numbers) in the destination image's ``/etc/passwd`` and
    ``/etc/group``; without ``:group`` the group of the same name (or number) is used, as in
    Docker's classic builder. ``read(rel)`` gives a file of the destination (``etc/passwd``) or
    None. An unknown name is a :class:`DockerfileError`."""
    user, sep, group = spec.partition(":")
    if not sep:
        group = user
    if not user or not group:
        raise where.error(f"invalid --chown={spec}: give user[:group], by name or number")

    def find(kind: str, name: str, file: str, column: int) -> int:
        if name.isdigit():
            return int(name)
        for row in _rows(read(f"etc/{file}")):
            if len(row) > column and row[0] == name and row[column].isdigit():
                return int(row[column])
        raise where.error(
            f"--chown={spec}: unable to find {kind} {name}: no matching entries in the "
            f"image's /etc/{file}; create the {kind} first or use a numeric id"
        )

    return Identity(find("user", user, "passwd", 2), find("group", group, "group", 2))
