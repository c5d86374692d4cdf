"""SIGKILL at random points of build, commit, load, push and pull — many trials, counted.

    python bench/crashes.py [--trials 100] [--seed N] [--operations build,commit,load,push,pull]
                            [--out bench/crashes.md]

The test suite runs ten such trials (``tests/engine/test_crashes.py``); this runs as many as
asked, spread evenly over the operations, on one store (and one private registry on loopback
for push and pull), and reports per operation: trials, kills that landed while the command ran,
trials after which ``fsck`` found something (all of it leftovers ``fsck --repair`` must clean),
and trials that broke a guarantee (an earlier image changed or no longer saves, a problem the
repair left, the command failing when run again) — which must be 0. Each trial's checks are
:class:`tests.support.crash.CrashLab`'s. Exit status 1 if any trial broke a guarantee.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.crash import OPERATIONS, CrashLab, Trial  # noqa: E402
from tests.support.registry import Registry, registry_available  # noqa: E402
from tests.support.rootfs import make_busybox_rootfs, make_rootfs_tarball  # noqa: E402


def _kind(problem: str) -> str:
    """A problem's kind, without its paths and digests: ``leftover builds``, …"""
    if problem.startswith("leftover "):
        return "leftover in " + problem.split(" ", 1)[1].split("/", 1)[0].split(":")[0]
    if problem.startswith("unpacked layer "):
        return "unpacked layer: " + problem.split(": ", 1)[1].split(":")[0]
    return " ".join(w for w in problem.split()[:4] if not w.startswith("sha256:"))


def _table(trials: list[Trial], seed: int, took: float) -> str:
    lines = [
        f"Command: `python bench/crashes.py --trials {len(trials)} --seed {seed}` — "
        f"took {took / 60:.1f} min.",
        "",
        "| operation | trials | killed while running | fsck found leftovers | broke a guarantee |",
        "|---|---|---|---|---|",
    ]
    for operation in dict.fromkeys(t.operation for t in trials):
        mine = [t for t in trials if t.operation == operation]
        lines.append(
            f"| {operation} | {len(mine)} | {sum(not t.finished_first for t in mine)} | "
            f"{sum(bool(t.problems) for t in mine)} | {sum(bool(t.failures) for t in mine)} |"
        )
    kinds = Counter(_kind(p) for t in trials for p in t.problems)
    if kinds:
        lines += ["", "What fsck found after the kills (all cleaned by `fsck --repair`):", ""]
        lines += [f"- {kind}: {count}" for kind, count in kinds.most_common()]
    for t in trials:
        if t.failures:
            lines.append(f"- FAILED {t.operation} after {t.delay:.2f}s: {'; '.join(t.failures)}")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--operations", default=",".join(OPERATIONS))
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    operations = [o for o in args.operations.split(",") if o]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="nbd-crashes-") as tmp:
        root = Path(tmp)
        tarball = make_rootfs_tarball(
            make_busybox_rootfs(root / "rootfs"), root / "busybox.tar.gz", "gzip"
        )
        registry = None
        if {"push", "pull"} & set(operations):
            if not registry_available():
                print("docker-registry is not installed: no push/pull trials", file=sys.stderr)
                operations = [o for o in operations if o not in ("push", "pull")]
            else:
                registry = Registry(root / "registry").start()
        try:
            lab = CrashLab(
                root / "home", root / "work", tarball, registry.host if registry else None
            )
            lab.prepare()
            trials: list[Trial] = []
            for n in range(args.trials):
                trial = lab.trial(operations[n % len(operations)], n + 1, rng)
                trials.append(trial)
                state = "FAILED" if trial.failures else "ok"
                print(
                    f"{n + 1:4}/{args.trials} {trial.operation:7} killed at {trial.delay:5.2f}s"
                    f"{' (had ended)' if trial.finished_first else ''}: {state}"
                    f"{', fsck found ' + str(len(trial.problems)) if trial.problems else ''}",
                    file=sys.stderr,
                )
        finally:
            if registry is not None:
                registry.stop()
    table = _table(trials, seed, time.monotonic() - started)
    print(table)
    if args.out is not None:
        args.out.write_text(table)
    return 1 if any(t.failures for t in trials) else 0


if __name__ == "__main__":
    sys.exit(main())
