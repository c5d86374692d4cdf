"""The tutorial's Dockerfile built at each isolation level, side by side.

    .venv/bin/python bench/levels.py [--runs N] [--out bench/levels.json]    (as root)

Builds the tutorial's Dockerfile (``apt-get install ruby ruby-sinatra``, ``ADD``, a ``useradd``
and ``chown``, ``USER``) with ``--no-cache`` after an untimed ``import`` of the Debian base:

- on this machine as root, at each level asked for (``--isolation namespaces|chroot|ptrace``);
- inside ``docker run`` with Docker's default security (the private engine and offline test
  image of ``tests/support``), where each situation picks its level itself: root (chroot),
  uid 1000 (ptrace), uid 1000 with ``seccomp=unconfined`` (namespaces, host /proc bound).

Every build fetches the same packages from Debian's mirror, so the network is part of every
number alike. Prints a table (median seconds) and writes the samples as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.levels.test_in_containers import APP, DOCKERFILE  # noqa: E402
from tests.support.dockerd import DockerEngine  # noqa: E402
from tests.support.testimage import build  # noqa: E402

NBDOCKER = [sys.executable, "-m", "nbdocker"]


def _context(root: Path, debian: Path) -> Path:
    ctx = root / "ctx"
    (ctx / "myApp").mkdir(parents=True)
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / "myApp" / "app.rb").write_text(APP)
    shutil.copyfile(debian, root / "debian.tar")
    for path in [root, *root.rglob("*")]:
        path.chmod(0o777 if path.is_dir() else 0o644)
    return ctx


def host_build(level: str, shared: Path) -> float:
    home = Path(tempfile.mkdtemp(prefix="nbd-levels-"))
    env = {**os.environ, "NBDOCKER_HOME": str(home)}
    try:
        subprocess.run(
            [*NBDOCKER, "import", shared / "debian.tar", "debian:bookworm"],
            env=env,
            check=True,
            capture_output=True,
        )
        start = time.monotonic()
        subprocess.run(
            [*NBDOCKER, "build", "--no-cache", "--isolation", level, "-t", "t:1", shared / "ctx"],
            env=env,
            check=True,
            capture_output=True,
        )
        return time.monotonic() - start
    finally:
        shutil.rmtree(home, ignore_errors=True)


SCRIPT = """
export NBDOCKER_HOME="$HOME/store"
nbdocker import /shared/debian.tar debian:bookworm >/dev/null
cp -r /shared/ctx "$HOME/ctx"
level=$(nbdocker info | sed -n 's/^Isolation: //p')
start=$(date +%s.%N)
nbdocker build --no-cache -t t:1 "$HOME/ctx" >/dev/null
end=$(date +%s.%N)
echo "$level $start $end"
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "levels.json")
    args = parser.parse_args()
    from nbdocker.notebook.rootfs import debian_rootfs

    shared = Path(tempfile.mkdtemp(prefix="nbd-levels-shared-", dir="/tmp"))
    _context(shared, debian_rootfs())
    samples: dict[str, list[float]] = {}
    engine = DockerEngine(tempfile.mkdtemp(prefix="nbd-", dir="/tmp"))
    engine.start()
    try:
        image = build(engine)
        for _ in range(args.runs):
            for level in ("namespaces", "chroot", "ptrace"):
                seconds = host_build(level, shared)
                samples.setdefault(f"host root, --isolation {level}", []).append(seconds)
                print(f"host {level}: {seconds:.1f} s", file=sys.stderr)
            for name, user, unconfined in (
                ("container root", "root", False),
                ("container uid 1000", "jovyan", False),
                ("container uid 1000, seccomp=unconfined", "jovyan", True),
            ):
                done = image.run(
                    SCRIPT,
                    user=user,
                    seccomp_unconfined=unconfined,
                    volumes={str(shared): "/shared"},
                )
                if done.returncode != 0:
                    raise SystemExit(f"{name}: {done.stderr[-2000:]}")
                level, start, end = done.stdout.split()[-3:]
                key = f"{name} (auto: {level})"
                samples.setdefault(key, []).append(float(end) - float(start))
                print(f"{key}: {float(end) - float(start):.1f} s", file=sys.stderr)
    finally:
        engine.stop()
        shutil.rmtree(shared, ignore_errors=True)
    width = max(len(k) for k in samples)
    print(f"{'where, level':<{width}}  tutorial build (median s)")
    for key, values in samples.items():
        print(f"{key:<{width}}  {statistics.median(values):8.1f}")
    args.out.write_text(json.dumps(samples, indent=2) + "\n")


if __name__ == "__main__":
    main()
