"""A store under concurrent commands and under SIGKILL at random points.

- Several processes build, load, pull, tag, remove and prune on one store for several rounds; then
  ``fsck`` is clean and every tagged image saves.
- Build, commit, load, push and pull are killed at random points (a few trials here; ``python
  bench/crashes.py`` runs hundreds): earlier images stay intact, ``fsck`` finds at most what
  ``fsck --repair`` cleans, and the command run again succeeds (:mod:`tests.support.crash`).
"""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
from pathlib import Path

from nbdocker.engine import Engine
from tests.support.crash import CrashLab, Trial
from tests.support.registry import Registry

REPO_ROOT = Path(__file__).resolve().parents[2]


def _report(trials: list[Trial], seed: int) -> str:
    bad = [t for t in trials if t.failures]
    lines = [f"seed {seed}: {len(bad)} of {len(trials)} trials broke a guarantee"]
    for t in bad:
        lines.append(f"{t.operation} killed after {t.delay:.2f}s: {'; '.join(t.failures)}")
    return "\n".join(lines)


def test_sigkill_at_random_points_leaves_earlier_images_intact_and_fsck_repairable(
    tmp_path: Path, busybox_tarball: Path, open_registry: Registry
) -> None:
    lab = CrashLab(tmp_path / "home", tmp_path / "work", busybox_tarball, open_registry.host)
    lab.prepare()
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    plan = ["build", "build", "build", "commit", "commit", "load", "load", "load", "push", "pull"]
    trials = [lab.trial(operation, n, rng) for n, operation in enumerate(plan, 1)]
    assert not any(t.failures for t in trials), _report(trials, seed)
    # Most kills landed while the command ran (not after it ended): the test tested something.
    assert sum(not t.finished_first for t in trials) >= len(trials) // 2, _report(trials, seed)


def test_concurrent_builds_loads_pulls_tags_removals_and_prunes_leave_a_sound_store(
    tmp_path: Path, busybox_tarball: Path, open_registry: Registry
) -> None:
    home = tmp_path / "home"
    lab = CrashLab(home, tmp_path / "work", busybox_tarball, open_registry.host)
    lab.prepare(measure=False)
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.crash",
                str(home),
                str(number),
                "3",
                str(tmp_path / "work" / "ctx"),
                str(tmp_path / "work" / "archive.tar"),
                open_registry.host,
            ],
            cwd=REPO_ROOT,
            env={**os.environ, "NBDOCKER_HOME": str(home)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for number in range(3)
    ]
    outcomes = [(w.wait(timeout=600), w.communicate()[1].decode()) for w in workers]
    assert all(code == 0 for code, _ in outcomes), outcomes

    engine = Engine(home)
    report = engine.fsck()
    assert report.clean, [p.text for p in report.problems]
    tags = sorted({f"{r.repository}:{r.tag}" for r in engine.images() if r.tag != "<none>"})
    for number in range(3):
        assert f"w{number}/img:2" in tags and f"w{number}/copy:2" in tags
        assert f"w{number}/img:1" not in tags
    for tag in tags:
        engine.save([tag], io.BytesIO())  # raises if a blob is missing
    out = lab.must("run", "--rm", "w1/img:2", "cat", "/n")
    assert out == "1-2\n"
