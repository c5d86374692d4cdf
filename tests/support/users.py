"""Throwaway unprivileged users for the rootless tests (created as root, removed afterwards)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.support.real import require


@dataclass
class User:
    name: str
    uid: int
    gid: int
    subuid: int | None
    python: str
    home: Path
    # A readable copy of the code this user runs (see importable_copy), when a test made one.
    code: Path | None = None


def _subid_start(name: str) -> int | None:
    for line in Path("/etc/subuid").read_text().splitlines():
        parts = line.split(":")
        if len(parts) == 3 and parts[0] == name:
            return int(parts[1])
    return None


def _free_range() -> int:
    end = 100000
    for path in ("/etc/subuid", "/etc/subgid"):
        for line in Path(path).read_text().splitlines() if Path(path).exists() else []:
            parts = line.split(":")
            if len(parts) == 3:
                end = max(end, int(parts[1]) + int(parts[2]))
    return end


def as_user(user: str) -> list[str]:
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--"]


def make_user(with_subids: bool) -> User:
    if os.geteuid() != 0:
        require(
            "root",
            "creating a throwaway user for the rootless tests needs root "
            "(as a normal user, test_sandbox_run.py already runs rootless)",
        )
    for tool in ("useradd", "userdel", "usermod", "setpriv"):
        if shutil.which(tool) is None:
            require(tool, f"{tool} not found (apt-get install passwd util-linux)")
    name = "nbdsbx" + uuid.uuid4().hex[:8]
    subprocess.run(
        ["useradd", "-M", "-d", "/nonexistent", "-s", "/usr/sbin/nologin", name],
        check=True,
        capture_output=True,
    )
    start = _subid_start(name)
    if with_subids and start is None:
        start = _free_range()
        rng = f"{start}-{start + 65535}"
        subprocess.run(["usermod", "--add-subuids", rng, "--add-subgids", rng, name], check=True)
    elif not with_subids and start is not None:
        rng = f"{start}-{start + 65535}"
        subprocess.run(["usermod", "--del-subuids", rng, "--del-subgids", rng, name], check=True)
        start = None
    import pwd

    entry = pwd.getpwnam(name)
    home = Path(tempfile.mkdtemp(prefix="nbdsbx-", dir="/tmp"))
    os.chown(home, entry.pw_uid, entry.pw_gid)
    python = ""
    check = "import subprocess, sys; subprocess.run([sys.executable, '-c', ''], check=True)"
    for candidate in ("/usr/bin/python3", sys.executable):
        probe = subprocess.run(
            [*as_user(name), candidate, "-c", check], capture_output=True, check=False
        )
        if probe.returncode == 0:
            python = candidate
            break
    user = User(name, entry.pw_uid, entry.pw_gid, start, python, home)
    if not python:
        drop_user(user)
        require("python", f"no python3 that user {name} can execute")
    return user


def drop_user(user: User) -> None:
    subprocess.run(["userdel", user.name], check=False, capture_output=True)
    shutil.rmtree(user.home, ignore_errors=True)
    for path in ("/etc/subuid", "/etc/subgid"):
        lines = Path(path).read_text().splitlines(keepends=True)
        kept = [line for line in lines if not line.startswith(user.name + ":")]
        if kept != lines:
            Path(path).write_text("".join(kept))


def importable_copy(
    dest: Path, *, with_dependencies: bool = True, extra: tuple[Path, ...] = ()
) -> str:
    """Copy nbdocker (and, unless told not to, its runtime dependencies) plus the ``extra``
    files where any user can read them; return the PYTHONPATH to use.

    The checkout and its .venv may sit below a directory other users cannot enter (root clones
    under /root, mode 0700), so a test that runs code as another user runs this copy.
    """
    import importlib.metadata as md
    import re

    repo = Path(__file__).resolve().parents[2]
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(
        repo / "nbdocker",
        dest / "nbdocker",
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    for path in extra:
        shutil.copy2(path, dest / path.name)
    import tomllib

    todo = list(tomllib.loads((repo / "pyproject.toml").read_text())["project"]["dependencies"])
    seen: set[str] = set()
    while todo and with_dependencies:
        name = re.split(r"[ ;<>=!~\[(]", todo.pop(), maxsplit=1)[0].lower()
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        for file in dist.files or []:
            source = Path(str(dist.locate_file(file)))
            if source.is_file() and ".." not in file.parts:
                target = dest / file
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
        todo += [r for r in dist.requires or [] if "extra ==" not in r]
    subprocess.run(["chmod", "-R", "a+rX", str(dest)], check=True)
    return str(dest)
