"""The last steps in the container's PID 1 before ``execve``: identity, privileges, command.

Privileges follow Docker's defaults: the capability bounding set is cut to Docker's 14
capabilities; for root, permitted and effective hold exactly that set; inheritable and ambient
are empty (what Docker does since the CVE-2022-24769 fix, so a non-root exec of a file with
inheritable file capabilities gains nothing); a non-root user ends with no capabilities, as in
Docker. ``PR_SET_NO_NEW_PRIVS`` is set, so setuid binaries cannot regain what was dropped.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path
from typing import NoReturn

from .. import linux
from ._defaults import DEFAULT_PATH
from ._users import ExecUser

CAP_NAMES = {
    "CHOWN": 0,
    "DAC_OVERRIDE": 1,
    "FOWNER": 3,
    "FSETID": 4,
    "KILL": 5,
    "SETGID": 6,
    "SETUID": 7,
    "SETPCAP": 8,
    "NET_BIND_SERVICE": 10,
    "NET_RAW": 13,
    "SYS_CHROOT": 18,
    "MKNOD": 27,
    "AUDIT_WRITE": 29,
    "SETFCAP": 31,
}
DEFAULT_CAPS = sum(1 << bit for bit in CAP_NAMES.values())  # 0xa80425fb


def last_cap_number() -> int:
    try:
        return int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    except (OSError, ValueError):
        return 40


def build_env(env: tuple[str, ...], user: ExecUser, hostname: str, tty: bool) -> dict[str, str]:
    """Docker's environment: PATH and HOSTNAME defaults, HOME from passwd, TERM for a tty."""
    out: dict[str, str] = {"PATH": DEFAULT_PATH, "HOSTNAME": hostname}
    if tty:
        out["TERM"] = "xterm"
    for item in env:
        key, sep, value = item.partition("=")
        if key and sep:
            out[key] = value
    out.setdefault("HOME", user.home or "/")
    return out


def drop_privileges(user: ExecUser) -> None:
    """no_new_privs, bounding set, groups and ids, then the capability sets."""
    linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)
    for cap in range(last_cap_number() + 1):
        if not DEFAULT_CAPS & (1 << cap):
            with contextlib.suppress(OSError):
                linux.prctl(linux.PR_CAPBSET_DROP, cap)
    with contextlib.suppress(OSError):
        linux.prctl(linux.PR_CAP_AMBIENT, linux.PR_CAP_AMBIENT_CLEAR_ALL)
    try:
        os.setgroups(list(user.groups))
    except PermissionError:
        # A root-only map (no sub-ids) must deny setgroups(2); the container keeps none.
        if Path("/proc/self/setgroups").read_text().strip() != "deny":
            raise
    os.setresgid(user.gid, user.gid, user.gid)
    linux.capset(DEFAULT_CAPS, DEFAULT_CAPS, 0)
    os.setresuid(user.uid, user.uid, user.uid)  # a non-zero uid clears permitted/effective


def lookup(argv0: str, path_env: str) -> tuple[str | None, str]:
    """Resolve ``argv0`` like Docker/runc; (path, "") or (None, message) with exit 127/126."""
    if "/" in argv0:
        try:
            st = os.stat(argv0)
        except OSError as exc:
            return None, f'exec: "{argv0}": stat {argv0}: {os.strerror(exc.errno or 0).lower()}'
        if stat.S_ISDIR(st.st_mode):
            return None, f'exec: "{argv0}": is a directory'
        return argv0, ""
    for directory in path_env.split(":") if path_env else []:
        candidate = os.path.join(directory or ".", argv0)
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
            return candidate, ""
    return None, f'exec: "{argv0}": executable file not found in $PATH'


def final_exec(argv: tuple[str, ...], env: dict[str, str], cwd: str) -> NoReturn:
    """chdir and execve as the (already switched) user; never returns.

    Not found -> 127, found but not executable -> 126, both with Docker's message on stderr.
    """
    try:
        os.chdir(cwd)
    except OSError as exc:
        reason = os.strerror(exc.errno or 0).lower()
        _die(126, f'chdir to cwd ("{cwd}") set in config.json failed: {reason}')
    path, message = lookup(argv[0], env.get("PATH", ""))
    if path is None:
        _die(127 if "not found" in message or "no such" in message else 126, message)
    try:
        os.execve(path, list(argv), env)
    except OSError as exc:
        code = 127 if exc.errno == errno.ENOENT else 126
        _die(code, f'exec: "{argv[0]}": {os.strerror(exc.errno or 0).lower()}')


def _die(code: int, message: str) -> NoReturn:
    with contextlib.suppress(OSError):
        os.write(2, (message + "\n").encode())
    os._exit(code)
