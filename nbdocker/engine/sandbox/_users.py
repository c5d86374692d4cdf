"""Resolve a Docker ``--user`` value against the image's ``/etc/passwd`` and ``/etc/group``.

The rules follow Docker's: a name must exist in passwd; a numeric uid need not (gid 0 and HOME
``/`` then); an explicit group (name or number) replaces the primary group and disables the
supplementary-group lookup; otherwise the user's supplementary groups are every group that lists
the user's name as a member.
"""

from __future__ import annotations

from pathlib import Path

from ..lazy import lazy_dataclass


class UserLookupError(Exception):
    """Raised with Docker's wording when a user or group name is unknown."""


@lazy_dataclass(frozen=True)
class ExecUser:
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str


def _read(path: Path) -> list[list[str]]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    rows = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        rows.append(line.split(":"))
    return rows


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def resolve_user(spec: str, root: Path = Path("/")) -> ExecUser:
    """Resolve ``spec`` ("", "name", "uid", "uid:gid", "name:group") inside ``root``."""
    user_part, _, group_part = spec.partition(":")
    passwd = [r for r in _read(root / "etc/passwd") if len(r) >= 4]
    groups = [r for r in _read(root / "etc/group") if len(r) >= 3]

    name = ""
    uid, gid, home = 0, 0, "/"
    wanted = user_part or "0"
    number = _int(wanted)
    entry = next(
        (r for r in passwd if (r[0] == wanted if number is None else _int(r[2]) == number)),
        None,
    )
    if entry is not None:
        name = entry[0]
        uid = _int(entry[2]) or 0
        gid = _int(entry[3]) or 0
        home = entry[5] if len(entry) > 5 and entry[5] else "/"
    elif number is None:
        raise UserLookupError(f"unable to find user {wanted}: no matching entries in passwd file")
    else:
        uid = number

    if group_part:
        gnum = _int(group_part)
        if gnum is not None:
            gid = gnum
        else:
            gentry = next((g for g in groups if g[0] == group_part), None)
            if gentry is None or _int(gentry[2]) is None:
                raise UserLookupError(
                    f"unable to find group {group_part}: no matching entries in group file"
                )
            gid = _int(gentry[2]) or 0
        return ExecUser(uid, gid, (gid,), home)

    supplementary = [gid]
    if name:
        for g in groups:
            members = g[3].split(",") if len(g) > 3 else []
            gnum = _int(g[2])
            if name in members and gnum is not None and gnum not in supplementary:
                supplementary.append(gnum)
    return ExecUser(uid, gid, tuple(supplementary), home)
