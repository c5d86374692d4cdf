"""The build widget says when steps ran at an isolation level weaker than namespaces."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import BASE, run_cell


@pytest.fixture
def namespaces_again() -> Any:
    """The level is per process: put the next tests back on the strongest one."""
    yield
    from nbdocker.engine.sandbox._levels import select, use

    use(select("auto"))


def test_weaker_level_in_the_build_header(
    ip: Any, magics: Any, base: str, namespaces_again: Any
) -> None:
    magics.use_widgets = True
    cell = (
        f"%%dockerfile --isolation chroot -t ouruser/chrooted:1\nFROM {BASE}\nRUN echo hi > /hi\n"
    )
    result, _ = run_cell(ip, cell)
    assert result.success, result.error_in_exec
    progress = magics.last_progress.widget
    assert "[isolation: chroot]" in progress.header.value
    assert "no PID, mount or network isolation" in progress.header.value
    bundle = progress.static_bundle()
    assert "[isolation: chroot]" in bundle["text/html"]  # the saved notebook keeps it
    assert "\nIsolation: chroot (no PID" in bundle["text/plain"]


def test_no_isolation_line_at_the_namespaces_level(ip: Any, magics: Any, base: str) -> None:
    magics.use_widgets = True
    cell = f"%%dockerfile --isolation namespaces -t ouruser/ns:1\nFROM {BASE}\nRUN echo hi > /hi\n"
    result, _ = run_cell(ip, cell)
    assert result.success, result.error_in_exec
    assert "isolation" not in magics.last_progress.widget.header.value
