"""%snapshot's lock (editable/local distributions called out) and its base check."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from nbdocker.notebook.snapshot import environment_lock

from .conftest import BASE, run_cell


def _dist(
    site: Path,
    name: str,
    version: str,
    direct_url: dict[str, Any] | None = None,
    requires_python: str = "",
) -> None:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    requires = f"Requires-Python: {requires_python}\n" if requires_python else ""
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{requires}"
    )
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url))


def test_lock_pins_and_calls_out_local_installs(tmp_path: Path) -> None:
    _dist(tmp_path, "rich", "13.7.1")
    _dist(tmp_path, "Zeta_Pkg", "1.0")
    _dist(
        tmp_path, "mytool", "0.3", {"url": "file:///home/me/mytool", "dir_info": {"editable": True}}
    )
    _dist(tmp_path, "wheelish", "2.0", {"url": "file:///tmp/wheelish-2.0.whl", "archive_info": {}})
    _dist(tmp_path, "fromindex", "1.1", {"url": "https://files.example/x.whl", "archive_info": {}})
    lock = environment_lock([str(tmp_path)])
    assert lock.pinned == [("fromindex", "1.1"), ("rich", "13.7.1"), ("Zeta_Pkg", "1.0")]
    assert [(d.name, d.editable) for d in lock.local] == [("mytool", True), ("wheelish", False)]
    text = lock.text
    assert "rich==13.7.1\n" in text
    assert "# NOT INSTALLED (editable install from file:///home/me/mytool): mytool==0.3" in text
    assert "\nmytool==" not in text


def test_snapshot_refuses_a_base_with_another_python(ip: Any, base: str) -> None:
    cell = (
        f"%%dockerfile -t ouruser/oldpy:1\nFROM {BASE}\n"
        "RUN mkdir -p /usr/bin && printf '#!/bin/sh\\necho 2.7.18\\n' > /usr/bin/python3 "
        "&& chmod +x /usr/bin/python3\n"
    )
    result, _ = run_cell(ip, cell)
    assert result.success, result.error_in_exec
    result, _ = run_cell(ip, "%snapshot -t ouruser/snap:1 --base ouruser/oldpy:1")
    assert not result.success
    message = str(result.error_in_exec)
    assert "has Python 2.7.18 but the kernel runs 3." in message and "--base" in message
    assert len(result.error_in_exec._render_traceback_()) == 1
    result, _ = run_cell(ip, f"%snapshot -t ouruser/snap:1 --base {BASE}")
    assert not result.success and "no working python3" in str(result.error_in_exec)


def _fake_python_base(ip: Any, name: str, version: str) -> None:
    cell = (
        f"%%dockerfile -t {name}\nFROM {BASE}\n"
        f"RUN mkdir -p /usr/bin && printf '#!/bin/sh\\necho {version}\\n' > /usr/bin/python3 "
        "&& chmod +x /usr/bin/python3\n"
    )
    result, _ = run_cell(ip, cell)
    assert result.success, result.error_in_exec


def test_snapshot_refuses_a_patch_release_a_pinned_package_does_not_support_before_building(
    ip: Any, base: str, tmp_path: Path
) -> None:
    from nbdocker.engine import Engine
    from nbdocker.engine.errors import NbdockerError
    from nbdocker.notebook.snapshot import make_snapshot

    # the kernel runs X.Y.7; the base has X.Y.2 (as Debian bookworm's 3.11.2 under a 3.11.7)
    major_minor = f"{sys.version_info.major}.{sys.version_info.minor}"
    _fake_python_base(ip, "ouruser/patchpy:1", f"{major_minor}.2")
    _dist(tmp_path, "needsnew", "2.0", requires_python=f">={major_minor}.5")
    _dist(tmp_path, "anypy", "1.0", requires_python=">=3.8")
    _dist(tmp_path, "alsonew", "0.9", requires_python=f"!={major_minor}.2,>=3.8")
    lock = environment_lock([str(tmp_path)])
    lock.python = f"{major_minor}.7"
    engine = Engine()
    before = engine.images()
    with pytest.raises(NbdockerError) as caught:
        make_snapshot(engine, "ouruser/snap:2", base="ouruser/patchpy:1", lock=lock)
    message = str(caught.value)
    assert f"Python {major_minor}.2" in message and f"{major_minor}.7" in message
    assert f"needsnew==2.0 (Requires-Python >={major_minor}.5)" in message
    assert "alsonew==0.9" in message and "anypy" not in message
    assert "--base" in message
    assert engine.images() == before  # refused before building anything
    # the same lock on a base with the kernel's own patch release is accepted
    assert not lock.unsupported_on(f"{major_minor}.7")
