"""Widget models (rows, states, totals, counts) and the static outputs they leave, fed with engine
events and with images built in a real store."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from nbdocker.engine import Engine
from nbdocker.engine.events import (
    BuildFailed,
    BuildFinished,
    BuildStarted,
    Progress,
    StepCached,
    StepDone,
    StepLog,
    StepMiss,
    StepStarted,
    TaskDone,
    TaskStarted,
)
from nbdocker.notebook import translations
from nbdocker.notebook.layer_contents import layer_infos
from nbdocker.notebook.magics import inspect_layers
from nbdocker.notebook.results import LayerReport
from nbdocker.notebook.widgets import BuildProgress, ImageTable, TransferProgress

from .conftest import BASE, run_cell

NOTEBOOK_PACKAGE = Path(__file__).resolve().parents[2] / "nbdocker" / "notebook"


@pytest.fixture(autouse=True)
def english() -> Any:
    translations.set_language("en")
    yield
    translations.set_language(None)


def _full_log_lines(w: BuildProgress) -> int:
    """How many lines the expanded full log holds (open it, as a user would)."""
    w.log_box.selected_index = 0
    text = re.sub(r"<[^>]+>", "", w.full_log.value)
    return len(text.strip("\n").splitlines())


def test_build_progress_rows_states_and_totals() -> None:
    w = BuildProgress("demo")
    w(BuildStarted("", 0, 3))
    assert [r.state for r in w.rows] == ["queued"] * 3 and w.bar.max == 3
    w(StepStarted(1, 3, "FROM base", "0", "cell:2"))
    w(StepDone(1, "sha256:" + "a" * 64, 0, 0.01, True))
    w(StepStarted(2, 3, "RUN echo one", "0", "cell:3"))
    w(StepCached(2, "sha256:" + "b" * 64))
    w(StepDone(2, "sha256:" + "b" * 64, 0, 0.02))
    w(StepStarted(3, 3, "RUN make", "0", "cell:4"))
    w(StepMiss(3, "the instruction changed (it was: RUN make all)", "c0ffee"))
    for i in range(30):
        w(StepLog(3, f"line {i}"))
    w.tick()
    assert [r.state for r in w.rows] == ["done", "cached", "running"]
    assert w.bar.value == 2
    assert "line 29" in w.tail.value and "line 0" not in w.tail.value  # the live tail
    assert "cache miss: the instruction changed (it was: RUN make all)" in w.table.value
    # the full log's count is right while the build runs, and matches what it shows
    title = w.log_box.get_title(0)
    assert title == f"Full log ({_full_log_lines(w)} lines)"
    assert "line 29" in w.full_log.value
    w(StepDone(3, "sha256:" + "c" * 64, 2048, 1.5))
    w(BuildFinished("sha256:" + "c" * 64, ("ouruser/demo:1",)))
    assert w.status == "finished" and w.bar.value == 3 and w.bar.bar_style == "success"
    assert w.rows[2].layer_size == 2048 and w.rows[2].duration == 1.5
    assert w.log_box.get_title(0) == f"Full log ({_full_log_lines(w)} lines)"
    bundle = w.static_bundle()
    assert set(bundle) == {"text/plain", "text/html"}  # no widget view in what stays
    assert "line 0" in bundle["text/html"] and "<details>" in bundle["text/html"]  # full log
    assert "Successfully built cccccccccccc (ouruser/demo:1)" in bundle["text/plain"]
    assert "2.048kB" in bundle["text/plain"]


def test_clocks_advance_while_a_step_prints_nothing() -> None:
    w = BuildProgress("quiet")
    w(BuildStarted("", 0, 1))
    w(StepStarted(1, 1, "RUN sleep 5", "0", "cell:2"))
    w.state.rows[1].started -= 3.0  # as if it started 3 s ago and printed nothing since
    w.state.started -= 3.0
    w.tick()
    assert "3.0s" in w.table.value and "3.0s" in w.header.value
    w.state.rows[1].started -= 1.0
    w.state.started -= 1.0
    w.tick()  # no event came: the tick alone moves both clocks
    assert "4.0s" in w.table.value and "4.0s" in w.header.value


def test_a_failed_build_shows_the_steps_last_lines_open_under_the_error() -> None:
    w = BuildProgress()
    w(BuildStarted("", 0, 2))
    w(StepStarted(1, 2, "FROM base", "0", "cell:2"))
    w(StepDone(1, "sha256:" + "a" * 64, 0, 0.01, True))
    w(StepStarted(2, 2, "RUN make", "0", "cell:3"))
    for i in range(40):
        w(StepLog(2, f"compiling {i}"))
    w(StepLog(2, "error: missing semicolon"))
    message = "cell:3: The command '/bin/sh -c make' returned a non-zero code: 2"
    w(BuildFailed(2, message, 2, tuple(f"compiling {i}" for i in range(21, 40))))
    assert [r.state for r in w.rows] == ["done", "failed"] and w.status == "failed"
    html = w.static_bundle()["text/html"]
    summary = html.index("Build failed at step 2/2: RUN make")
    last = html.index("compiling 39")
    folded = html.index("<details>")
    assert summary < last < folded  # open, under the failure, before the folded full log
    assert "compiling 20" not in html[:folded]  # only the last lines, not the whole log
    text = w.static_bundle()["text/plain"]
    assert "Last lines of step 2:" in text and "  | compiling 39" in text


def test_transfer_progress_per_layer_bytes_and_the_strongest_state() -> None:
    w = TransferProgress("push", "127.0.0.1:5000/ouruser/sinatra")
    w(TaskStarted("push", "9896a160397a", 1000))
    w(Progress("push", "9896a160397a", 400, 1000))
    w(TaskDone("push", "aaaaaaaaaaaa", "Layer already exists"))
    w.refresh(force=True)
    assert (w.bar.value, w.bar.max) == (400, 1000)
    w(TaskDone("push", "9896a160397a", "Pushed"))
    # the second tag's pass over the same layers: the registry has them now
    w(TaskStarted("push", "9896a160397a", 1000))
    w(TaskDone("push", "9896a160397a", "Layer already exists"))
    w(TaskStarted("pull", "ignored00000", 5))  # another task's events are not ours
    w.finish("pushed 2 tags")
    layers = w.state.layers
    assert layers["9896a160397a"].result == "Pushed" and layers["9896a160397a"].done == 1000
    assert layers["aaaaaaaaaaaa"].result == "Layer already exists"
    assert "ignored00000" not in layers
    assert "Pushed" in w.text() and "pushed 2 tags" in w.static_bundle()["text/html"]


def test_image_table_sorts_and_filters(ip: Any, base: str) -> None:
    ip.run_line_magic("tag", f"{BASE} ouruser/sinatra:v2")
    ip.run_line_magic("tag", f"{BASE} ouruser/sinatra:devel")
    ip.run_line_magic("tag", f"{BASE} zeta/other:1")
    rows = ip.run_line_magic("images", "")
    table = ImageTable(rows)
    table.sort.value = "REPOSITORY"
    table.descending.value = False
    assert [r.repository for r in table.visible] == [
        "nbdtest/base",
        "ouruser/sinatra",
        "ouruser/sinatra",
        "zeta/other",
    ]
    table.filter.value = "ouruser/*"
    assert {r.tag for r in table.visible} == {"v2", "devel"}
    assert "zeta" not in table.html() and "ouruser/sinatra" in table.text()
    table.sort.value = "TAG"
    assert [r.tag for r in table.visible] == ["devel", "v2"]
    bundle = rows._repr_mimebundle_()  # %images itself: a static table, in a kernel too
    assert set(bundle) == {"text/plain", "text/html"} and "zeta/other" in bundle["text/html"]


def test_layer_inspector_added_changed_removed(ip: Any, magics: Any, base: str) -> None:
    cell = (
        f"%%dockerfile -t ouruser/layers:1\nFROM {BASE}\n"
        "RUN mkdir /data && echo a > /data/a && echo b > /data/b\n"
        "RUN echo changed > /data/a && rm /data/b\n"
    )
    result, _ = run_cell(ip, cell)
    assert result.success, result.error_in_exec
    infos = layer_infos(Engine(), "ouruser/layers:1")
    assert len(infos) == 3
    assert {"/data", "/data/a", "/data/b"} <= set(infos[1].added)
    assert infos[2].changed == ["/data/a"] and infos[2].removed == ["/data/b"]
    assert "echo changed" in infos[2].created_by and infos[2].size > 0
    report = inspect_layers("ouruser/layers:1")
    assert isinstance(report, LayerReport)
    bundle = report._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    assert bundle["text/html"].count("<details>") == 3 and "/data/b" in bundle["text/html"]
    assert "D /data/b" in bundle["text/plain"]
    magics.use_widgets = True  # in a kernel too: the same static output
    report = ip.run_line_magic("layers", "ouruser/layers:1")
    assert "C /data/a" in report._repr_mimebundle_()["text/plain"]


# -- languages ------------------------------------------------------------------------------------


def _translatable_texts() -> set[str]:
    """Every literal text the notebook package passes to tr() or marks with N_()."""
    texts: set[str] = set()
    for path in NOTEBOOK_PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("tr", "N_")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                texts.add(node.args[0].value)
    return texts


def test_every_text_the_widgets_show_has_its_chinese_translation() -> None:
    texts = _translatable_texts()
    assert len(texts) > 60  # the scan found the calls
    missing = sorted(t for t in texts if t not in translations._ZH)
    assert not missing, missing
    for text in texts:  # the same fields on both sides
        fields = set(re.findall(r"{(\w+)}", text))
        assert set(re.findall(r"{(\w+)}", translations._ZH[text])) == fields, text


def test_the_builders_cache_miss_reasons_read_in_chinese() -> None:
    translations.set_language("zh")
    for reason in (
        "first build",
        "--no-cache",
        "step 3 before it was rebuilt",
        "the instruction changed (it was: ENV DONE=1)",
        "build arg FLAVOUR changed ('plain' → 'spicy')",
        "file app.txt changed",
        "file app.txt was added",
        "file app.txt was removed",
        "the files it copies changed",
        "its earlier result is no longer in the store",
        "the image it builds on changed since the last build of this Dockerfile",
    ):
        translated = translations.tr_reason(reason)
        assert translated != reason and re.search(r"[\u4e00-\u9fff]", translated), reason


def test_a_build_in_chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    translations.set_language(None)
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    assert translations.language() == "zh"  # from the locale
    w = BuildProgress("demo")
    w(BuildStarted("", 0, 2))
    w(StepStarted(1, 2, "FROM base", "0", "cell:2"))
    w(StepDone(1, "sha256:" + "a" * 64, 0, 0.01, True))
    w(StepStarted(2, 2, "RUN make", "0", "cell:3"))
    w(StepMiss(2, "first build", "c0ffee"))
    w.tick()
    live = w.header.value + w.table.value + w.log_box.get_title(0)
    for word in ("构建中", "步骤", "状态", "指令", "完成", "运行中", "首次构建", "完整日志"):
        assert word in live, word
    w(StepDone(2, "sha256:" + "b" * 64, 10, 0.5))
    w(BuildFinished("sha256:" + "b" * 64, ()))
    html = w.static_bundle()["text/html"]
    assert "构建成功" in html and "无标签" in html
    for english in ("Successfully", "queued", "running", "cache miss", "Full log", "STEP"):
        assert english not in html, english
    translations.set_language("en")  # %nbdocker lang en wins over the locale
    assert "Successfully built" in w.static_bundle()["text/html"]
