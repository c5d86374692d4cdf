"""The magics in a real ipykernel, read as a front end reads the cell's messages: what the cell
keeps once work ends, how early errors look, clocks that tick, and why-rebuilt per cell."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nbdocker.engine import Engine

from .kernel import WIDGET_VIEW, execute, final_outputs, kernel, text_of

BASE = "nbdtest/base:1"


@pytest.fixture
def kc(nbdocker_home: Path, busybox_tarball: Path, tmp_path: Path) -> Iterator[Any]:
    """A kernel with the extension loaded, on a store holding the busybox base."""
    Engine(nbdocker_home).import_image(busybox_tarball, BASE, change=['CMD ["sh"]'])
    with kernel(nbdocker_home, tmp_path) as (_km, client):
        assert execute(client, "%load_ext nbdocker")["reply"]["status"] == "ok"
        yield client


def _errors(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in outputs if o["output_type"] == "error"]


def test_finished_builds_transfers_and_tables_leave_only_static_outputs(
    kc: Any, busybox_tarball: Path
) -> None:
    cells = [
        f"%import {busybox_tarball} nbdtest/again:1",
        f"%%dockerfile -t ouruser/static:1\nFROM {BASE}\nRUN echo built > /built\n",
        "%images",
        "%layers ouruser/static:1",
        "%history ouruser/static:1",
        "%inspect ouruser/static:1",
        "%tag ouruser/static:1 ouruser/static:2",
    ]
    for code in cells:
        result = execute(kc, code)
        assert result["reply"]["status"] == "ok", text_of(result["outputs"])
        outputs = final_outputs(result["outputs"])
        shown = [o for o in outputs if o["output_type"] in ("display_data", "execute_result")]
        assert shown, code
        for out in shown:
            assert WIDGET_VIEW not in out["data"], code
            assert out["data"].get("text/html") and out["data"].get("text/plain"), code
    build = final_outputs(execute(kc, cells[1])["outputs"])
    html = next(o["data"]["text/html"] for o in build if "Successfully built" in str(o))
    assert "<table" in html and "RUN echo built" in html and "cached" in html


def test_early_errors_show_the_error_once_and_nothing_else(kc: Any, nbdocker_home: Path) -> None:
    cells = {
        f"%%dockerfile -t 'Bad Name!'\nFROM {BASE}\nRUN echo ran > /ran\n": "invalid reference",
        f"%%dockerfile -t ok:1\nFROM {BASE}\nFROB x\n": "cell:3: unknown instruction",
        f"%%dockerfile --bogus\nFROM {BASE}\n": "unrecognized arguments",
        f"%%dockerfile -f Dockerfile\nFROM {BASE}\n": "unrecognized arguments",
        "%push nobody/nothing:1": "nobody/nothing",
        "%import /no/such/rootfs.tar x:1": "no such file",
    }
    for code, needle in cells.items():
        result = execute(kc, code)
        outputs = final_outputs(result["outputs"])
        assert result["reply"]["status"] == "error", code
        assert [o["output_type"] for o in outputs] == ["error"], (code, outputs)
        [error] = outputs
        assert len(error["traceback"]) == 1 and needle in error["traceback"][0], error
    # the bad name was refused before the RUN step ran: nothing of it is in the cache
    assert not (nbdocker_home / "meta" / "cache" / "records.json").exists()


def test_a_failed_step_shows_its_last_lines_open_under_the_failure(kc: Any) -> None:
    code = (
        f"%%dockerfile -t ouruser/broken:1\nFROM {BASE}\n"
        "RUN for i in $(seq 1 30); do echo compiling $i; done; "
        "echo 'error: missing semicolon' >&2; exit 2\n"
    )
    result = execute(kc, code)
    assert result["reply"]["status"] == "error"
    outputs = final_outputs(result["outputs"])
    assert [o["output_type"] for o in outputs] == ["display_data", "error"]
    shown, error = outputs
    assert "returned a non-zero code: 2" in error["traceback"][0]
    html = shown["data"]["text/html"]
    summary = html.index("Build failed at step 2/2")
    cause = html.index("error: missing semicolon")
    folded = html.index("<details>")
    assert summary < cause < folded  # the cause is open, not only in the folded full log
    assert "compiling 30" in html[:folded] and "compiling 5\n" not in html[:folded]
    assert "error: missing semicolon" in shown["data"]["text/plain"].split("STEP")[0]


def test_a_failed_push_says_its_error_once(kc: Any) -> None:
    # a registry that is not there: the push starts (the layer shows), then fails
    result = execute(kc, f"%tag {BASE} 127.0.0.1:9/ouruser/x:1\n%push 127.0.0.1:9/ouruser/x")
    assert result["reply"]["status"] == "error"
    outputs = final_outputs(result["outputs"])
    [error] = _errors(outputs)
    message = re.sub(r"\x1b\[[0-9;]*m", "", error["traceback"][0]).removeprefix("Error: ")
    rendered = json.dumps([o.get("data") for o in outputs if o["output_type"] != "error"])
    assert message[:40] not in rendered  # not repeated by the push's display
    for out in outputs[:-1]:
        assert WIDGET_VIEW not in out["data"] and "failed" in out["data"]["text/plain"]


def test_the_clocks_tick_while_a_step_prints_nothing(kc: Any) -> None:
    headers: list[str] = []

    def watch(msg: dict[str, Any]) -> None:
        state = (msg["content"].get("data") or {}).get("state") or {}
        value = state.get("value")
        if msg["msg_type"] == "comm_msg" and isinstance(value, str) and "Building" in value:
            headers.append(value)

    code = f"%%dockerfile -t ouruser/quiet:1\nFROM {BASE}\nRUN sleep 3\n"
    result = execute(kc, code, on_output=watch)
    assert result["reply"]["status"] == "ok"
    during = [h for h in headers if "1/2 steps" in h]  # while the silent RUN step ran
    clocks = {re.search(r"(\d+\.\d)s", h).group(1) for h in during}  # type: ignore[union-attr]
    assert len(clocks) >= 4, during  # it printed nothing; the clock moved anyway


def test_why_rebuilt_names_earlier_builds_of_the_same_cell_only(kc: Any) -> None:
    def reasons(code: str, cell_id: str) -> list[str]:
        result = execute(kc, code, cell_id=cell_id)
        assert result["reply"]["status"] == "ok", text_of(result["outputs"])
        text = "".join(o["data"]["text/plain"] for o in final_outputs(result["outputs"]))
        return re.findall(r"---> Cache miss: (.*)", text)

    cell_a = f"%%dockerfile\nFROM {BASE}\nRUN echo a > /a\n"
    assert reasons(cell_a, "cell-a") == ["first build"]
    cell_b = f"%%dockerfile\nFROM {BASE}\nMAINTAINER Docker Newbee\n"
    assert reasons(cell_b, "cell-b") == ["first build"]  # not "the instruction changed"
    edited = cell_a.replace("echo a", "echo A")
    assert reasons(edited, "cell-a") == ["the instruction changed (it was: RUN echo a > /a)"]


def test_docker_run_it_says_how_to_get_a_shell_and_leaves_nothing(kc: Any) -> None:
    result = execute(kc, f"%docker run -it {BASE} /bin/sh")
    assert result["reply"]["status"] == "ok"
    text = text_of(result["outputs"])
    assert "no terminal" in text and "Terminal" in text
    assert re.search(rf"nbdocker\S* run -it {re.escape(BASE)} /bin/sh", text), text
    assert execute(kc, "%docker ps -aq")["outputs"] == []  # no container left behind


def test_the_notebook_language_follows_nbdocker_lang(kc: Any) -> None:
    assert "zh" in text_of(execute(kc, "%nbdocker lang zh")["outputs"])
    result = execute(kc, f"%%dockerfile -t ouruser/zh:1\nFROM {BASE}\nRUN echo hi\n")
    html = "".join(o["data"]["text/html"] for o in final_outputs(result["outputs"]))
    assert "构建成功" in html and "首次构建" in html and "Successfully" not in html
    images = final_outputs(execute(kc, "%images")["outputs"])[0]["data"]["text/html"]
    assert "仓库" in images and "REPOSITORY" not in images
    bad = execute(kc, "%nbdocker lang fr")
    assert bad["reply"]["status"] == "error" and "zh, en" in text_of(bad["outputs"]).replace(
        "en, zh", "zh, en"
    )


def test_debian_rootfs_shows_its_progress_then_what_it_made(kc: Any, tmp_path: Path) -> None:
    # a small variant (busybox only, extracted): mmdebstrap's phases and apt's downloads, fast
    from tests.support.real import require

    if shutil.which("mmdebstrap") is None:
        require("mmdebstrap", "apt-get install mmdebstrap")
    phases: list[str] = []

    def watch(msg: dict[str, Any]) -> None:
        value = ((msg["content"].get("data") or {}).get("state") or {}).get("value")
        if msg["msg_type"] == "comm_msg" and isinstance(value, str) and "mmdebstrap" in value:
            phases.append(value)

    code = (
        "from nbdocker.notebook import debian_rootfs\n"
        f"path = debian_rootfs(variant='extract', include=('busybox-static',), "
        f"cache=__import__('pathlib').Path({str(tmp_path)!r}))\nprint(path)"
    )
    result = execute(kc, code, timeout=600, on_output=watch)
    assert result["reply"]["status"] == "ok", text_of(result["outputs"])
    assert any("downloading packages with apt" in p for p in phases), phases
    assert any("packages fetched" in p for p in phases), phases
    outputs = final_outputs(result["outputs"])
    [shown] = [o for o in outputs if o["output_type"] == "display_data"]
    assert WIDGET_VIEW not in shown["data"]
    made = shown["data"]["text/plain"]
    assert made.startswith("Debian bookworm root filesystem made in") and str(tmp_path) in made
    tarball = Path(text_of([m for m in result["outputs"] if m["msg_type"] == "stream"]).strip())
    assert tarball.is_file() and tarball.parent == tmp_path


def test_the_image_tables_controls_drive_a_static_table(kc: Any) -> None:
    execute(kc, f"%tag {BASE} zeta/other:1")
    result = execute(kc, "imgs = %images\ntable = imgs.table()\ntable")
    outputs = final_outputs(result["outputs"])
    controls, static = (o for o in outputs if o["output_type"] == "display_data")
    assert WIDGET_VIEW in controls["data"]  # the sort and filter controls: a live widget
    assert WIDGET_VIEW not in static["data"] and "zeta/other" in static["data"]["text/html"]
    # the controls update the static table in place: what a saved notebook keeps
    update = execute(kc, "table.filter.value = 'nbdtest/*'")
    updates = [m for m in update["outputs"] if m["msg_type"] == "update_display_data"]
    assert updates and "zeta/other" not in updates[-1]["content"]["data"]["text/html"]
    assert "nbdtest/base" in updates[-1]["content"]["data"]["text/html"]
