"""Whose ids a user namespace maps: the caller's own, plus its /etc/subuid range if it has one.

As an ordinary user, container root is the caller; with a subordinate range (and
``newuidmap``/``newgidmap`` installed) uids and gids 1…65536 map to that range, so files of other
users (apt's ``_apt``) work. The sandbox's containers and the user-namespace helper are mapped the
same way, by :func:`map_ids`.
"""

from __future__ import annotations

import os
import pwd
import shutil
from pathlib import Path

from ..lazy import lazy_dataclass

__all__ = ["SUBID_COUNT", "SubIds", "map_ids", "subids"]

SUBID_COUNT = 65536


@lazy_dataclass(frozen=True)
class SubIds:
    """The caller's subordinate uid and gid ranges (from /etc/subuid and /etc/subgid)."""

    uid_start: int
    uid_count: int
    gid_start: int
    gid_count: int


def _ranges(path: str, user: str, uid: int) -> tuple[int, int] | None:
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[0] in (user, str(uid)):
            try:
                return int(parts[1]), int(parts[2])
            except ValueError:
                continue
    return None


def subids() -> SubIds | None:
    """The caller's sub-id ranges, when both files list them and newuidmap/newgidmap exist."""
    if not (shutil.which("newuidmap") and shutil.which("newgidmap")):
        return None
    uid = os.getuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    u = _ranges("/etc/subuid", name, uid)
    g = _ranges("/etc/subgid", name, uid)
    if u is None or g is None:
        return None
    return SubIds(u[0], min(u[1], SUBID_COUNT), g[0], min(g[1], SUBID_COUNT))


def map_ids(pid: int, ids: SubIds | None) -> str:
    """Write the uid/gid maps of process ``pid``'s new user namespace; '' on success, else why
    not."""
    import subprocess

    uid, gid = os.getuid(), os.getgid()
    if ids is not None:
        for tool, own, start, count in (
            ("newuidmap", uid, ids.uid_start, ids.uid_count),
            ("newgidmap", gid, ids.gid_start, ids.gid_count),
        ):
            args = [tool, str(pid), "0", str(own), "1", "1", str(start), str(count)]
            done = subprocess.run(args, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                return f"{tool} failed: {done.stderr.strip() or done.returncode}"
        return ""
    try:
        Path(f"/proc/{pid}/setgroups").write_text("deny")
        Path(f"/proc/{pid}/uid_map").write_text(f"0 {uid} 1")
        Path(f"/proc/{pid}/gid_map").write_text(f"0 {gid} 1")
    except OSError as exc:
        return f"writing the id map failed: {exc.strerror}"
    return ""
