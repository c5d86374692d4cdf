"""Execute every notebook in notebooks/ with nbclient against a real ipykernel, and check what
they made: images exist, containers ran, the push landed.

The notebooks share one temporary NBDOCKER_HOME (the English tutorial reuses the Chinese one's
build cache, as a reader running both would) and the session's cached Debian tarball.
"""

from __future__ import annotations

import os
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


def execute(name: str) -> Any:
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
    return nb


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


@pytest.mark.parametrize("name", ["creating-images.zh.ipynb", "creating-images.en.ipynb"])
def test_tutorial_notebook(home: Path, name: str) -> None:
    nb = execute(name)
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
    # the container ran, and the commit made an image with the tutorial's message and author
    assert '{"json":"installed"}' in text(outputs_of(nb, "%%container c1")[0])
    commit = outputs_of(nb, "%commit")[0]
    assert "<Image" in text(commit) and "ouruser/sinatra:v2" in text(commit)
    assert "[1,2,3]" in text(outputs_of(nb, "%docker run --rm ouruser/sinatra:v2")[0])
    assert "app.rb" in text(outputs_of(nb, "%docker run --rm ouruser/sinatra:v3")[0])
    # the second run of the same Dockerfile cell: every step from the cache; html fallback kept
    first, second = outputs_of(nb, "%%dockerfile -t ouruser/sinatra:v2")
    widget = [o for o in second if o.get("output_type") == "display_data"][0]
    assert "text/html" in widget["data"]
    table = widget["data"]["text/plain"]
    assert table.count("cached") == 3 and "Successfully built" in table
    # the push landed: the registry answered with digests, and the pull brought v2 back
    assert text(outputs_of(nb, "pushed = %push")[0]).count("digest: sha256:") == 2
    pulled = [c for c in nb.cells if c.source.startswith("%rmi")][0]
    assert "<Image" in text(pulled.outputs)
    registry_refs = [r for r in engine.images() if r.repository.startswith("127.0.0.1:")]
    assert {r.tag for r in registry_refs} >= {"v2", "devel"}
    assert not engine.ps(all=True), "the tutorial removes its container"


def test_environment_snapshot_notebook(home: Path) -> None:
    nb = execute("environment-snapshot.ipynb")
    image = Engine(home).get("analysis/rainfall:1")
    labels = image.config["config"]["Labels"]
    assert "rich==" in labels["org.nbdocker.snapshot.lock"]
    # the kernel and the image report the same Python minor version and package versions
    kernel = [c for c in nb.cells if c.source.startswith("import sys, importlib")][0]
    in_image = outputs_of(nb, '%docker run --rm analysis/rainfall:1 python -c "import sys')[0]
    assert text(kernel.outputs).strip() == text(in_image).strip() != ""
    mean = text(outputs_of(nb, '%docker run --rm analysis/rainfall:1 python -c "import stat')[0])
    assert mean.strip() == "65.75"


def test_documentation_notebook(home: Path) -> None:
    nb = execute("documentation-example.ipynb")
    Engine(home).get("docs/greet:1")
    assert text(outputs_of(nb, "%docker run --rm docs/greet:1 reader")[0]).strip() == (
        "Hello, reader!"
    )
    label = text([c for c in nb.cells if c.source.startswith("info = %inspect")][0].outputs)
    assert label.startswith("%%dockerfile -t docs/greet:1")
