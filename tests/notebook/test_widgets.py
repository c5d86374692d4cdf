"""Widget models (rows, states, totals) and their text/html fallbacks, fed with engine events
and with images built in a real store."""

from __future__ import annotations

from typing import Any

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
from nbdocker.notebook.layer_contents import layer_infos
from nbdocker.notebook.magics import inspect_layers
from nbdocker.notebook.widgets import BuildProgress, ImageTable, LayerInspector, TransferProgress

from .conftest import BASE, run_cell


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
    w(StepMiss(3, "the instruction changed", "c0ffee"))
    for i in range(30):
        w(StepLog(3, f"line {i}"))
    w.refresh(force=True)
    assert [r.state for r in w.rows] == ["done", "cached", "running"]
    assert w.bar.value == 2
    assert "line 29" in w.tail.value and "line 0" not in w.tail.value  # the live tail
    assert "cache miss: the instruction changed" in w.table.value
    w(StepDone(3, "sha256:" + "c" * 64, 2048, 1.5))
    w(BuildFinished("sha256:" + "c" * 64, ("ouruser/demo:1",)))
    assert w.status == "finished" and w.bar.value == 3 and w.bar.bar_style == "success"
    assert w.rows[2].layer_size == 2048 and w.rows[2].duration == 1.5
    bundle = w._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "line 0" in bundle["text/html"] and "<details>" in bundle["text/html"]  # full log
    assert "Successfully built cccccccccccc (ouruser/demo:1)" in bundle["text/plain"]
    assert "2.048kB" in bundle["text/plain"]


def test_build_progress_failure() -> None:
    w = BuildProgress()
    w(BuildStarted("", 0, 2))
    w(StepStarted(1, 2, "FROM base", "0", "cell:2"))
    w(StepDone(1, "sha256:" + "a" * 64, 0, 0.01, True))
    w(StepStarted(2, 2, "RUN false", "0", "cell:3"))
    w(BuildFailed(2, "cell:3: The command '/bin/sh -c false' returned a non-zero code: 1", 1))
    assert [r.state for r in w.rows] == ["done", "failed"] and w.status == "failed"
    assert "Build failed" in w.text() and "non-zero code: 1" in w.html()


def test_transfer_progress_per_layer_bytes() -> None:
    w = TransferProgress("push", "127.0.0.1:5000/ouruser/sinatra")
    w(TaskStarted("push", "9896a160397a", 1000))
    w(Progress("push", "9896a160397a", 400, 1000))
    w(TaskDone("push", "aaaaaaaaaaaa", "Layer already exists"))
    w.refresh(force=True)
    assert (w.bar.value, w.bar.max) == (400, 1000)
    w(TaskDone("push", "9896a160397a", "Pushed"))
    w(TaskStarted("pull", "ignored00000", 5))  # another task's events are not ours
    w.finish("pushed 1 tag")
    layers = w.state.layers
    assert layers["9896a160397a"].result == "Pushed" and layers["9896a160397a"].done == 1000
    assert layers["aaaaaaaaaaaa"].result == "Layer already exists"
    assert "ignored00000" not in layers
    assert "Pushed" in w.text() and "pushed 1 tag" in w.html()


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
    assert "zeta" not in table.table.value and "zeta" not in table.html()
    assert "ouruser/sinatra" in table.text()
    table.sort.value = "TAG"
    assert [r.tag for r in table.visible] == ["devel", "v2"]
    bundle = rows._repr_mimebundle_()  # outside a kernel: the table without the widget
    assert "zeta/other" in bundle["text/html"]


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
    widget = inspect_layers("ouruser/layers:1")
    assert isinstance(widget, LayerInspector) and len(widget.files.children) == 3
    bundle = widget._repr_mimebundle_()
    assert "/data/b" in bundle["text/html"] and "D /data/b" in bundle["text/plain"]
    report = ip.run_line_magic("layers", "ouruser/layers:1")  # no kernel: text/html only
    assert "C /data/a" in report._repr_mimebundle_()["text/plain"]
