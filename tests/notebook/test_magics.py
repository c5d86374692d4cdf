"""The magics driven through a real IPython shell, on a real store and sandbox."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from nbdocker.engine import Engine, Image, ImageNotFound
from nbdocker.engine.errors import NbdockerError
from nbdocker.notebook.magic_grammar import verb_parsers
from nbdocker.notebook.magics import CELL_LABEL
from nbdocker.notebook.results import ImageList
from tests.support.dockerd import DockerEngine

from .conftest import BASE, run_cell


def test_extension_registers_magics_with_the_cli_grammar(ip: Any) -> None:
    for name in ("commit", "tag", "images", "import", "push", "pull", "rmi", "history", "inspect"):
        magic = ip.find_line_magic(name)
        assert magic is not None, name
        parser = verb_parsers()[name]
        parser.prog = f"%{name}"
        assert magic.__doc__ == parser.format_help()
    assert "--author" in ip.find_line_magic("commit").__doc__
    assert ip.find_cell_magic("dockerfile") is not None
    assert ip.find_cell_magic("container") is not None
    assert "--build-arg" in ip.find_cell_magic("dockerfile").__doc__
    # `%commit?` shows the argparse help (IPython's pinfo of the magic)
    result, captured = run_cell(ip, "%commit?")
    assert result.success


def test_help_flag_prints_usage(ip: Any) -> None:
    result, captured = run_cell(ip, "%tag --help")
    assert result.success and "usage: %tag" in captured.stdout
    result, captured = run_cell(ip, "%docker build --help")
    assert "usage: %docker build" in captured.stdout and "--no-cache" in captured.stdout


def test_import_images_tag_rmi_return_values(ip: Any, base: str) -> None:
    imgs = ip.run_line_magic("images", "")
    assert isinstance(imgs, ImageList)
    assert [(r.repository, r.tag) for r in imgs] == [("nbdtest/base", "1")]
    bundle = imgs._repr_mimebundle_()
    assert "nbdtest/base" in bundle["text/plain"] and "<table" in bundle["text/html"]

    tagged = ip.run_line_magic("tag", f"{BASE} ouruser/sinatra:devel")
    assert isinstance(tagged, Image) and tagged.id == imgs[0].id
    filtered = ip.run_line_magic("images", "ouruser/sinatra")
    assert [r.tag for r in filtered] == ["devel"]
    removed = ip.run_line_magic("rmi", "ouruser/sinatra:devel")
    assert list(removed) == ["Untagged: ouruser/sinatra:devel"]
    inspected = ip.run_line_magic("inspect", BASE)
    assert inspected[0]["Config"]["Cmd"] == ["/bin/sh"]
    history = ip.run_line_magic("history", BASE)
    assert len(history) == 1 and "Imported from" in history[0].comment
    ids = ip.run_line_magic("images", "-q")
    assert list(ids) == [imgs[0].image.short_id]


def test_image_display_formatters(ip: Any, base: str) -> None:
    image = Engine().get(base)
    data, _ = ip.display_formatter.format(image)
    assert "nbdtest/base:1" in data["text/plain"]
    assert "<b>Image</b>" in data["text/html"]


def test_ipython_history_still_works(ip: Any, base: str) -> None:
    ip.run_cell("x = 1", store_history=True)
    result, captured = run_cell(ip, "%history -n -l 1")
    assert result.success
    result, captured = run_cell(ip, f"%history {BASE}")
    assert result.success and "Imported from" in captured.stdout


def test_user_error_is_one_red_line_and_fails_the_cell(ip: Any, nbdocker_home: Path) -> None:
    result, captured = run_cell(ip, "%tag nosuch/image:1 other:2")
    assert not result.success
    assert isinstance(result.error_in_exec, ImageNotFound)
    rendered = result.error_in_exec._render_traceback_()
    assert len(rendered) == 1 and "nosuch/image" in rendered[0] and "\x1b[0;31m" in rendered[0]
    assert "Traceback" not in captured.stdout + captured.stderr
    # usage errors too: argparse never exits the kernel
    result, _ = run_cell(ip, "%commit --bogus c1")
    assert not result.success and "unrecognized arguments" in str(result.error_in_exec)


def test_dockerfile_cell_builds_records_provenance_and_reuses_cache(
    ip: Any, magics: Any, base: str
) -> None:
    magics.use_widgets = True
    cell = f'FROM {BASE}\nRUN echo one > /one\nRUN echo two > /two\nCMD ["cat", "/two"]\n'
    result, captured = run_cell(ip, f"%%dockerfile -t ouruser/demo:v1\n{cell}")
    assert result.success, result.error_in_exec
    image = result.result
    assert isinstance(image, Image)
    assert [r.familiar for r in image.tags] == ["ouruser/demo:v1"]
    labels = image.config["config"]["Labels"]
    assert labels[CELL_LABEL].startswith("%%dockerfile -t ouruser/demo:v1\nFROM ")
    assert "RUN echo two > /two" in labels[CELL_LABEL]
    assert image.config["history"][-1]["comment"] == "built from a notebook cell (4 lines)"
    first = magics.last_progress
    assert [r.state for r in first.rows] == ["done", "done", "done", "done"]
    assert first.widget.bar.value == first.widget.bar.max == 4
    assert first.rows[1].layer_size is not None and first.rows[1].reason == "first build"
    # what the saved notebook keeps once the build ended
    bundle = first.static_bundle()
    assert "Successfully built" in bundle["text/plain"]
    assert "RUN echo one" in bundle["text/html"]

    # edit the last RUN line: only that step (and the ones after it) run again
    edited = cell.replace("echo two", "echo TWO")
    result, _ = run_cell(ip, f"%%dockerfile -t ouruser/demo:v2\n{edited}")
    assert result.success, result.error_in_exec
    second = magics.last_progress
    assert [r.state for r in second.rows] == ["done", "cached", "done", "done"]
    assert "RUN echo TWO" in second.rows[2].instruction
    assert second.rows[2].reason  # why it missed
    run_result, captured = run_cell(ip, "%docker run --rm ouruser/demo:v2")
    assert run_result.success, run_result.error_in_exec
    assert captured.stdout.strip().endswith("TWO")


def test_dockerfile_failure_tags_nothing(ip: Any, magics: Any, base: str) -> None:
    magics.use_widgets = True
    result, _ = run_cell(ip, f"%%dockerfile -t ouruser/bad:1\nFROM {BASE}\nRUN exit 3\n")
    assert not result.success
    assert "returned a non-zero code: 3" in str(result.error_in_exec)
    assert "cell:3" in str(result.error_in_exec)
    assert magics.last_progress.status == "failed"
    assert [r.state for r in magics.last_progress.rows][-1] == "failed"
    assert not ip.run_line_magic("images", "ouruser/bad")


@pytest.mark.docker
def test_dockerfile_failure_has_docker_builds_exit_status(
    ip: Any, base: str, docker_engine: DockerEngine, busybox_tarball: Path, tmp_path: Path
) -> None:
    dockerfile = f"FROM {BASE}\nRUN echo before\nRUN exit 7\n"
    (tmp_path / "Dockerfile").write_text(dockerfile)
    docker_engine.run("import", "-c", 'CMD ["/bin/sh"]', busybox_tarball, BASE)
    docker = docker_engine.run(
        "build", "--network", "host", tmp_path, check=False, env={"DOCKER_BUILDKIT": "0"}
    )
    assert docker.returncode == 7, docker.stderr
    result, _ = run_cell(ip, f"%%dockerfile\n{dockerfile}")
    assert not result.success
    error = result.error_in_exec
    assert isinstance(error, NbdockerError)
    assert error.exit_code == docker.returncode
    assert str(error) == f"cell:4: {docker.stderr.strip()}"  # (line 1: the magic)


def test_dockerfile_in_text_mode_prints_classic_output(ip: Any, base: str) -> None:
    result, captured = run_cell(ip, f"%%dockerfile -t ouruser/t:1\nFROM {BASE}\nRUN echo hi\n")
    assert result.success, result.error_in_exec
    assert "Step 2/2 : RUN echo hi" in captured.stdout and "hi\n" in captured.stdout
    assert "Successfully tagged ouruser/t:1" in captured.stdout


def test_container_cells_then_commit(ip: Any, base: str) -> None:
    result, captured = run_cell(
        ip, f"%%container c1 --from {BASE}\necho json > /gem.txt\necho installed json\n"
    )
    assert result.success, result.error_in_exec
    assert "installed json" in captured.stdout
    # the same container keeps its files
    result, captured = run_cell(ip, "%%container c1\ncat /gem.txt\n")
    assert result.success and captured.stdout.strip() == "json"
    image = ip.run_line_magic(
        "commit", '-m "Added json gem" -a "Docker Newbee" c1 ouruser/sinatra:v2'
    )
    assert isinstance(image, Image)
    assert image.config["author"] == "Docker Newbee"
    assert image.config["history"][-1]["comment"] == "Added json gem"
    result, captured = run_cell(ip, "%docker run --rm ouruser/sinatra:v2 cat /gem.txt")
    assert result.success and captured.stdout.strip() == "json"
    # a failing script fails the cell, its changes stay
    result, _ = run_cell(ip, "%%container c1\necho more >> /gem.txt\nexit 4\n")
    assert not result.success and "status 4" in str(result.error_in_exec)
    result, captured = run_cell(ip, "%%container c1\ncat /gem.txt\n")
    assert captured.stdout.split() == ["json", "more"]
    result, captured = run_cell(ip, "%docker ps -a")
    assert "c1" in captured.stdout
    result, captured = run_cell(ip, "%docker rm c1")
    assert result.success


def test_container_needs_from_the_first_time(ip: Any, nbdocker_home: Path) -> None:
    result, _ = run_cell(ip, "%%container nope\necho hi\n")
    assert not result.success and "--from IMAGE" in str(result.error_in_exec)


@pytest.mark.parametrize("verb", ["ps", "images", "history --help"])
def test_docker_verbs(ip: Any, nbdocker_home: Path, verb: str) -> None:
    result, captured = run_cell(ip, f"%docker {verb}")
    assert result.success, result.error_in_exec


def test_nbdocker_help_lists_every_magic_with_one_line(ip: Any, magics: Any) -> None:
    result, captured = run_cell(ip, "%nbdocker help")
    assert result.success
    listing = captured.stdout
    names = {f"%{n}" for n in magics.magics["line"]} | {f"%%{n}" for n in magics.magics["cell"]}
    assert len(names) >= 15
    for name in names:
        lines = [line for line in listing.splitlines() if line.split()[:1] == [name]]
        assert len(lines) == 1 and len(lines[0].split(None, 2)) == 3, name  # usage, then a line
    assert run_cell(ip, "%nbdocker")[1].stdout == listing
    # %nbdocker? shows the same list (IPython's pinfo of the magic's docstring)
    assert ip.find_line_magic("nbdocker").__doc__.strip() == listing.strip()


def test_every_magic_has_a_docstring_of_what_it_accepts(ip: Any, magics: Any) -> None:
    for kind in ("line", "cell"):
        for name in magics.magics[kind]:
            magic = ip.find_magic(name, kind)
            assert magic.__doc__ and len(magic.__doc__.strip()) > 40, (kind, name)
    doc = ip.find_cell_magic("dockerfile").__doc__
    assert "usage: %%dockerfile" in doc and "--build-arg" in doc and "CONTEXT" in doc
    assert "-f" not in doc.split() and "--file" not in doc  # the cell is the Dockerfile
    result, _ = run_cell(ip, "%%dockerfile -f Dockerfile\nFROM scratch\n")
    assert not result.success and "unrecognized arguments: -f" in str(result.error_in_exec)
    result, captured = run_cell(ip, "%%dockerfile?")
    assert result.success


def test_inspect_shows_dockers_json_expanded(ip: Any, base: str) -> None:
    import json

    inspected = ip.run_line_magic("inspect", BASE)
    bundle = inspected._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}  # no collapsed JSON tree
    assert json.loads(bundle["text/plain"]) == list(inspected)  # Docker's shape: an array
    assert bundle["text/plain"].startswith('[\n    {\n        "Id": "sha256:')
    assert '    "Config": {' in bundle["text/html"] and "<pre" in bundle["text/html"]


def test_docker_run_with_a_terminal_flag(ip: Any, base: str) -> None:
    result, captured = run_cell(ip, f"%docker run -it --rm {BASE} /bin/sh")
    assert result.success
    assert "no terminal" in captured.stdout and f"run -it --rm {BASE} /bin/sh" in captured.stdout
    assert "%%container NAME --from" in captured.stdout
    assert not Engine().ps(all=True)  # nothing was created
    result, _ = run_cell(ip, "%docker run -it nosuch/image")
    assert not result.success and "nosuch/image" in str(result.error_in_exec)
    # -t alone runs the command (without a terminal)
    result, captured = run_cell(ip, f"%docker run -t --rm {BASE} echo hello")
    assert result.success and captured.stdout.strip().endswith("hello")


def test_language_setting(ip: Any, nbdocker_home: Path) -> None:
    from nbdocker.notebook import translations

    try:
        result, captured = run_cell(ip, "%nbdocker lang zh")
        assert result.success and "zh" in captured.stdout and translations.language() == "zh"
        result, _ = run_cell(ip, "%tag nosuch/image:1 other:2")
        assert result.error_in_exec._render_traceback_()[0].startswith("\x1b[0;31m错误：")
        result, _ = run_cell(ip, "%nbdocker lang klingon")
        assert not result.success and "unknown language" in str(result.error_in_exec)
    finally:
        run_cell(ip, "%nbdocker lang auto")


def test_pushing_several_tags_to_an_empty_registry_says_pushed_for_every_layer(
    ip: Any, magics: Any, base: str, open_registry: Any, docker_config: Path
) -> None:
    magics.use_widgets = True
    result, _ = run_cell(ip, f"%%dockerfile -t ouruser/two:1\nFROM {BASE}\nRUN echo 1 > /one\n")
    assert result.success, result.error_in_exec
    repo = f"{open_registry.host}/nbdtest/pushtags-{os.urandom(4).hex()}"
    ip.run_line_magic("tag", f"ouruser/two:1 {repo}:v2")
    ip.run_line_magic("tag", f"ouruser/two:1 {repo}:devel")
    pushed = ip.run_line_magic("push", repo)
    assert len(pushed) == 2 and all("digest: sha256:" in line for line in pushed)
    layers = magics.last_progress.state.layers
    assert len(layers) == 2 and {layer.result for layer in layers.values()} == {"Pushed"}
    text = magics.last_progress.widget.static_bundle()["text/plain"]
    assert "pushed 2 tags" in text and "already exists" not in text
