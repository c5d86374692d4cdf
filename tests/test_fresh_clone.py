"""The suite passes from a clean clone, as a new user gets it: no ``../shared`` beside it, an
empty ``HOME`` and cache, no ``NBDOCKER_*`` settings, and a folder other users cannot enter
(where root usually clones: ``/root`` is 0700).

This runs the unit-level part of the suite (the tests that start no service, ``-m "not
services"``) again in such a clone. It clones the committed ``HEAD``: uncommitted changes are
not in the clone (commit first when checking them locally); without ``.git`` the tracked tree
is copied instead. The clone imports its own ``nbdocker`` (``PYTHONPATH``) with this
interpreter's dependencies.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
UNIT_LEVEL = ["tests/engine", "tests/notebook/test_rootfs.py", "tests/cli/test_grammar.py"]
# Fewer than this many passing tests means the selection lost its tests, not that all is well.
AT_LEAST = 500
# No unit-level test takes a minute; this one's own limit (pyproject) is 900 s.
INNER_TEST_TIMEOUT = 120
_COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", ".*_cache", "node_modules", "build", "dist", "*.egg-info"
)


def _clean_copy(dest: Path) -> None:
    if (REPO / ".git").exists() and shutil.which("git"):
        subprocess.run(
            ["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(dest)],
            check=True,
            capture_output=True,
        )
    else:
        shutil.copytree(REPO, dest, symlinks=True, ignore=_COPY_IGNORE)


def test_unit_suite_passes_from_a_clean_clone_in_a_private_folder(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    clone = private / "nbdocker"
    _clean_copy(clone)
    assert not (clone.parent.parent / "shared").exists()
    home = tmp_path / "home"
    home.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NBDOCKER_", "XDG_", "PYTEST_")) and k != "PYTHONPATH"
    }
    env |= {"HOME": str(home), "PYTHONPATH": str(clone)}
    if os.environ.get("NBDOCKER_REQUIRE_REAL"):
        env["NBDOCKER_REQUIRE_REAL"] = os.environ["NBDOCKER_REQUIRE_REAL"]
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not services"]
    # A test that hangs in the clone fails there with its stack, inside this test's own time.
    argv += ["--timeout", str(INNER_TEST_TIMEOUT), "--durations", "5"]
    argv += ["--basetemp", str(tmp_path / "inner"), *UNIT_LEVEL]
    done = subprocess.run(argv, cwd=clone, env=env, capture_output=True, text=True, check=False)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
    assert done.returncode == 0, f"in a clean clone: {summary}\n{done.stdout[-6000:]}"
    # The clone's own code ran, not this checkout's.
    assert (
        str(clone)
        in subprocess.run(
            [sys.executable, "-c", "import nbdocker; print(nbdocker.__file__)"],
            env=env,
            cwd=clone,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed.group(1)) >= AT_LEAST, summary
