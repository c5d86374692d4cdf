"""Fixtures for the JupyterLab tests: a store with a busybox base image, a real JupyterLab on
it (tests/support/lab.py), Debian's chromium driven by Playwright, and screenshots of each
state kept under the run's directory (``<basetemp>/lab-screenshots/<test>/``).

A missing chromium or Playwright goes through ``require``: a skip locally, a failure in CI.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.lab import CHROMIUM, JupyterLab, launch_chromium
from tests.support.real import require

BASE = "busybox:latest"


@pytest.fixture(scope="module")
def lab_home(tmp_path_factory: pytest.TempPathFactory, busybox_tarball: Path) -> Path:
    """A store for the module's lab, with the busybox rootfs imported as busybox:latest
    (CMD /bin/sh), through the CLI."""
    home = tmp_path_factory.mktemp("lab-store")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "nbdocker",
            "import",
            "-c",
            'CMD ["/bin/sh"]',
            str(busybox_tarball),
            BASE,
        ],
        env={**os.environ, "NBDOCKER_HOME": str(home)},
        check=True,
        capture_output=True,
    )
    return home


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, lab_home: Path) -> Iterator[JupyterLab]:
    """JupyterLab on ``lab_home``, for the module's tests; stopped at the end."""
    env = {**os.environ, "NBDOCKER_HOME": str(lab_home)}
    server = JupyterLab(tmp_path_factory.mktemp("jupyterlab"), env)
    try:
        server.start()
    except RuntimeError as exc:
        server.stop()
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        require("chromium", f"{CHROMIUM} not found (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require("playwright", "pip install '.[test]'")
    with sync_playwright() as playwright:
        try:
            chromium = launch_chromium(playwright)
        except Exception as exc:
            require("chromium", f"it will not start: {exc}")
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"])  # Copy ID, as a user allows
    context.set_default_timeout(30000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


class Screenshots:
    """Numbered screenshots of one test's states: ``<dir>/01-notebook.png``, …"""

    def __init__(self, directory: Path, page: Any) -> None:
        self.directory = directory
        self.page = page
        self.count = 0
        self.paths: list[Path] = []

    def __call__(self, name: str) -> Path:
        self.count += 1
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{self.count:02d}-{name}.png"
        self.page.screenshot(path=str(path))
        self.paths.append(path)
        return path


@pytest.fixture
def shots(
    request: pytest.FixtureRequest, page: Any, tmp_path_factory: pytest.TempPathFactory
) -> Screenshots:
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    return Screenshots(tmp_path_factory.getbasetemp() / "lab-screenshots" / name, page)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed browser test leaves a screenshot of the page as it was (``NN-failed.png``)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call" and report.failed:
        shots = getattr(item, "funcargs", {}).get("shots")
        if shots is not None:
            with contextlib.suppress(Exception):  # the page itself may be gone
                shots("failed")
