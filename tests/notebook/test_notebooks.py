"""Execute every notebook in notebooks/ with nbclient against a real ipykernel, and check what
they made (images exist, containers ran, the push landed) and what they leave: saved, each is
read back as a reopened notebook is (every output static text/html, no widget view, the final
step tables, image tables and layer views there) and exported with ``jupyter nbconvert --to
html``. The tutorials then run again on the warm store, where every build step is reused.

The notebooks share one temporary NBDOCKER_HOME (the English tutorial reuses the Chinese one's
build cache, as a reader running both would) and the session's cached Debian tarball.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nbdocker.engine import Engine

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
ALL = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, debian_tarball: Path) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("notebooks-home")
    saved = {k: os.environ.get(k) for k in ("NBDOCKER_HOME", "NBDOCKER_ROOTFS_CACHE")}
    os.environ["NBDOCKER_HOME"] = str(directory)
    os.environ["NBDOCKER_ROOTFS_CACHE"] = str(debian_tarball.parent)
    try:
        yield directory
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def execute(name: str, saved: Path | None = None) -> Any:
    """Run the notebook with nbclient on a real kernel; save it to ``saved`` when given (as a
    user saves it before closing), and return it."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()
    if saved is not None:
        nbformat.write(nb, saved)
    return nb


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WORDS = {  # what the final outputs say, in each notebook's language
    "en": {"built": "Successfully built", "cached": "cached", "repository": "REPOSITORY"},
    "zh": {"built": "构建成功", "cached": "缓存", "repository": "仓库"},
}


def language_of(name: str) -> str:
    return "zh" if ".zh." in name else "en"


def check_reopened(saved: Path, lang: str) -> None:
    """Read the saved notebook as a reopened one is read (no kernel, no widget models): every
    output of a magic is static text/plain + text/html, and the final tables are there; then
    export it with ``jupyter nbconvert --to html`` and find them in the page."""
    import nbformat

    words = WORDS[lang]
    nb = nbformat.read(saved, as_version=4)
    builds = images = layers = 0
    for cell in (c for c in nb.cells if c.cell_type == "code"):
        shown = [o for o in cell.outputs if o.output_type in ("display_data", "execute_result")]
        for out in shown:
            assert WIDGET_VIEW not in out.data, cell.source
            if cell.source.lstrip().startswith("%"):
                assert out.data.get("text/html") and out.data.get("text/plain"), cell.source
        html = "".join(o.data.get("text/html", "") for o in shown)
        if cell.source.startswith(("%%dockerfile", "%snapshot")):
            builds += 1
            assert words["built"] in html and "<table" in html, cell.source
        if cell.source.startswith(("%images", "imgs = %images")):
            images += 1
            assert words["repository"] in html and "<table" in html, cell.source
        if cell.source.startswith("%layers"):
            layers += 1
            assert "<details>" in html and "<table" in html
    page = subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", "--stdout", str(saved)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert page.count(words["built"]) >= builds > 0
    assert page.count(f">{words['repository']}</th>") >= images
    assert page.count("<details><summary>") >= layers
    assert f'<script type="{WIDGET_VIEW}">' not in page  # how nbconvert embeds a widget view


def build_states(outputs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(state, instruction) of every step row in a build's final text table."""
    table = "".join(
        o["data"]["text/plain"] for o in outputs if o.get("output_type") == "display_data"
    )
    return re.findall(r"^\d+/\d+ +(\S+) +(\S+)", table, re.MULTILINE)


def outputs_of(nb: Any, startswith: str) -> list[list[dict[str, Any]]]:
    cells = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith(startswith)]
    return [c.outputs for c in cells]


def text(outputs: list[dict[str, Any]]) -> str:
    parts = []
    for out in outputs:
        if out.get("output_type") == "stream":
            parts.append(out["text"])
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
    return "\n".join(parts)


def test_every_notebook_is_tested() -> None:
    assert set(ALL) == {
        "creating-images.en.ipynb",
        "creating-images.zh.ipynb",
        "documentation-example.ipynb",
        "environment-snapshot.ipynb",
    }


TUTORIALS = ["creating-images.zh.ipynb", "creating-images.en.ipynb"]


@pytest.mark.parametrize("name", TUTORIALS)
def test_tutorial_notebook(home: Path, name: str, tmp_path: Path) -> None:
    saved = tmp_path / name
    nb = execute(name, saved)
    engine = Engine(home)
    for ref in (
        "training/sinatra:latest",
        "ouruser/sinatra:v2",
        "ouruser/sinatra:devel",
        "ouruser/sinatra:v3",
        "debian:bookworm",
        "debian:bookworm-minbase",
    ):
        engine.get(ref)
    assert engine.get("ouruser/sinatra:v2").id == engine.get("ouruser/sinatra:devel").id
    # the chapter's docker run -it says how to get a shell, and leaves no container
    assert "nbdocker run -t -i training/sinatra /bin/bash" in text(
        outputs_of(nb, "%docker run -t -i")[0]
    ).replace(f"{sys.executable} -m nbdocker", "nbdocker")
    # the container ran, and the commit made an image with the tutorial's message and author
    assert '{"json":"installed"}' in text(outputs_of(nb, "%%container c1")[0])
    commit = outputs_of(nb, "%commit")[0]
    assert "<Image" in text(commit) and "ouruser/sinatra:v2" in text(commit)
    assert "[1,2,3]" in text(outputs_of(nb, "%docker run --rm ouruser/sinatra:v2")[0])
    assert "app.rb" in text(outputs_of(nb, "%docker run --rm ouruser/sinatra:v3")[0])
    # the second run of the same Dockerfile cell: every step from the cache
    first, second = outputs_of(nb, "%%dockerfile -t ouruser/sinatra:v2")
    cached = WORDS[language_of(name)]["cached"]
    assert [s for s, ins in build_states(second) if ins != "FROM"] == [cached] * 3
    # the push landed: the registry answered with digests, and the pull brought v2 back
    assert text(outputs_of(nb, "pushed = %push")[0]).count("digest: sha256:") == 2
    pulled = [c for c in nb.cells if c.source.startswith("%rmi")][0]
    assert "<Image" in text(pulled.outputs)
    registry_refs = [r for r in engine.images() if r.repository.startswith("127.0.0.1:")]
    assert {r.tag for r in registry_refs} >= {"v2", "devel"}
    assert not engine.ps(all=True), "the tutorial removes its container"
    check_reopened(saved, language_of(name))


@pytest.mark.parametrize("name", TUTORIALS)
def test_tutorial_run_again_on_a_warm_store_reuses_every_step(
    home: Path, name: str, tmp_path: Path
) -> None:
    if not Engine(home).images("ouruser/sinatra"):
        execute(name)  # (run alone: the first run)
    images_before = {r.id for r in Engine(home).images(all=True)}
    saved = tmp_path / name
    nb = execute(name, saved)
    cached = WORDS[language_of(name)]["cached"]
    builds = outputs_of(nb, "%%dockerfile")
    assert len(builds) == 4
    for outputs in builds:
        states = [s for s, ins in build_states(outputs) if ins != "FROM"]
        assert states and set(states) == {cached}, states
    # %import gave the same images again and the builds their earlier images: the only new
    # image is %commit's (a commit records its time, as Docker's)
    after = {r.id: r for r in Engine(home).images(all=True)}
    new = [after[i].image.config.get("comment") for i in set(after) - images_before]
    assert new == ["Added json gem"]
    check_reopened(saved, language_of(name))


def test_environment_snapshot_notebook(home: Path, tmp_path: Path) -> None:
    saved = tmp_path / "environment-snapshot.ipynb"
    nb = execute("environment-snapshot.ipynb", saved)
    image = Engine(home).get("analysis/rainfall:1")
    labels = image.config["config"]["Labels"]
    assert "rich==" in labels["org.nbdocker.snapshot.lock"]
    # the kernel and the image report the same Python minor version and package versions
    kernel = [c for c in nb.cells if c.source.startswith("import sys, importlib")][0]
    in_image = outputs_of(nb, '%docker run --rm analysis/rainfall:1 python -c "import sys')[0]
    assert text(kernel.outputs).strip() == text(in_image).strip() != ""
    mean = text(outputs_of(nb, '%docker run --rm analysis/rainfall:1 python -c "import stat')[0])
    assert mean.strip() == "65.75"
    check_reopened(saved, "en")


def test_documentation_notebook(home: Path, tmp_path: Path) -> None:
    saved = tmp_path / "documentation-example.ipynb"
    nb = execute("documentation-example.ipynb", saved)
    Engine(home).get("docs/greet:1")
    assert text(outputs_of(nb, "%docker run --rm docs/greet:1 reader")[0]).strip() == (
        "Hello, reader!"
    )
    label = text([c for c in nb.cells if c.source.startswith("info = %inspect")][0].outputs)
    assert label.startswith("%%dockerfile -t docs/greet:1")
    check_reopened(saved, "en")
