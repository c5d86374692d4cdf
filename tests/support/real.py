"""Real components are required in CI: a skip there is a failure.

``require(what, why)`` is what a test or fixture calls when a real component it needs (the
Docker engine, the registry, skopeo, a browser…) is missing or will not start. Outside CI it
skips the test with that reason; with ``NBDOCKER_REQUIRE_REAL=1`` (``scripts/test`` sets it when
``CI=true``) it fails the test instead, so a CI run can never go green by skipping the tests
that matter.

Belt and braces: the hooks at the bottom (wired up in ``tests/conftest.py``) record every skipped
test and, in REQUIRE_REAL mode, turn a session that skipped anything into a failed one and list
what was skipped.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

ENV_REQUIRE_REAL = "NBDOCKER_REQUIRE_REAL"


def require_real() -> bool:
    """Whether missing real components must fail rather than skip (CI)."""
    return os.environ.get(ENV_REQUIRE_REAL, "").strip().lower() in {"1", "true", "yes", "on"}


def require(what: str, why: str) -> NoReturn:
    """Give up on a test because the real component `what` is unavailable, for reason `why`.

    Skips the test, or fails it when ``NBDOCKER_REQUIRE_REAL=1``.
    """
    message = f"needs {what}: {why}"
    if require_real():
        pytest.fail(f"{message} ({ENV_REQUIRE_REAL}=1: a missing real component is a failure)")
    pytest.skip(message)


# ---------------------------------------------------------------- session hooks


class SkipGuard:
    """Pytest plugin: in REQUIRE_REAL mode, a session that skipped any test fails.

    Register it from ``pytest_configure`` (``tests/conftest.py`` does)::

        config.pluginmanager.register(SkipGuard(), SkipGuard.name)

    An xfail is not a skip. The skipped tests and their reasons are listed at the end.
    """

    name = "nbdocker-skip-guard"

    def __init__(self) -> None:
        self.skipped: list[tuple[str, str]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):
            self.skipped.append((report.nodeid, _skip_reason(report)))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self.skipped or not require_real():
            return
        if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.skipped or not require_real():
            return
        terminalreporter.section(f"{ENV_REQUIRE_REAL}=1: skips are failures", sep="=", red=True)
        for nodeid, reason in self.skipped:
            terminalreporter.write_line(f"SKIPPED {nodeid}: {reason}", red=True)
        terminalreporter.write_line(
            f"{len(self.skipped)} skipped test(s) make this run fail.", red=True
        )


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)
