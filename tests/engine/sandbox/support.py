"""Shared helpers for the sandbox tests: a busybox image layer and a one-call container run."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbdocker.engine.sandbox import SandboxSpec, Started, run

REPO = Path(__file__).resolve().parents[3]
RUNNER = Path(__file__).resolve().parent / "runner.py"

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "app:x:1000:1000:app:/home/app:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
)
GROUP = "root:x:0:\napp:x:1000:\nstaff:x:50:app\nnogroup:x:65534:\n"


def make_layer(busybox_rootfs: Path, dest: Path) -> Path:
    """A copy of the busybox rootfs plus user ``app`` (1000), /data/sub/f and /etc/gone."""
    shutil.copytree(busybox_rootfs, dest, symlinks=True)
    (dest / "etc/passwd").write_text(PASSWD)
    (dest / "etc/group").write_text(GROUP)
    (dest / "home/app").mkdir(parents=True)
    if os.geteuid() == 0:
        os.chown(dest / "home/app", 1000, 1000)
    (dest / "data/sub").mkdir(parents=True)
    (dest / "data/sub/f").write_text("lower\n")
    (dest / "data/keep").write_text("keep\n")
    (dest / "etc/gone").write_text("gone\n")
    (dest / "bin/notexec").write_text("#!/bin/sh\n")
    return dest


@dataclass
class Result:
    rc: int
    out: str
    err: str
    upper: Path
    started: Started | None


def run_box(tmp: Path, layer: Path, argv: tuple[str, ...], **kwargs: Any) -> Result:
    """Run ``argv`` in a fresh container on ``layer``; stdout/stderr captured."""
    rootfs = kwargs.pop("rootfs", "auto")
    stop_timeout = kwargs.pop("stop_timeout", 10.0)
    upper, work = tmp / "upper", tmp / "work"
    spec = SandboxSpec(layers=(layer,), upper=upper, work=work, argv=argv, **kwargs)
    started: list[Started] = []
    with open(tmp / "stdout", "wb+") as out, open(tmp / "stderr", "wb+") as err:
        rc = run(
            spec,
            stdout=out.fileno(),
            stderr=err.fileno(),
            on_start=started.append,
            rootfs=rootfs,
            stop_timeout=stop_timeout,
        )
    return Result(
        rc,
        (tmp / "stdout").read_text(),
        (tmp / "stderr").read_text(),
        upper,
        started[0] if started else None,
    )


def runner_cmd(
    job: dict[str, Any], python: str = sys.executable, code: Path | None = None
) -> list[str]:
    """The command that runs ``runner.py`` on ``job``: from the checkout, or from ``code``, a
    copy holding ``nbdocker/`` and ``runner.py`` (for another user; see ``importable_copy``)."""
    if code is None:
        return [python, str(RUNNER), str(REPO), json.dumps(job)]
    return [python, str(code / RUNNER.name), str(code), json.dumps(job)]


def parse_runner(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"runner printed nothing; stderr: {proc.stderr}"
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def upper_listing(upper: Path) -> dict[str, str]:
    """relative path -> kind ('file', 'dir', 'whiteout', 'opaque-dir', 'link') of ``upper``."""
    out: dict[str, str] = {}
    for path in sorted(upper.rglob("*")):
        rel = str(path.relative_to(upper))
        st = path.lstat()
        if path.is_symlink():
            out[rel] = "link"
        elif path.is_dir():
            opaque = False
            for name in ("trusted.overlay.opaque", "user.overlay.opaque"):
                with contextlib.suppress(OSError):
                    opaque = opaque or os.getxattr(path, name) == b"y"
            out[rel] = "opaque-dir" if opaque else "dir"
        elif (st.st_mode & 0o170000) == 0o020000 and st.st_rdev == 0:
            out[rel] = "whiteout"
        elif rel.split("/")[-1].startswith(".wh."):
            out[rel] = "whiteout-file"
        else:
            out[rel] = "file"
    return out


def host_mount_lines(marker: str) -> list[str]:
    return [
        line for line in Path("/proc/self/mountinfo").read_text().splitlines() if marker in line
    ]


def processes_with(marker: str) -> list[int]:
    """Host pids whose command line contains ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmdline:
            found.append(int(entry.name))
    return found
