"""The tutorial's path through JupyterLab, in real headless chromium (Debian's), driven like a
person: a notebook whose ``%%dockerfile`` cell is highlighted as a Dockerfile, its build watched
to "Successfully built", the image in the images panel, a shell in it in a terminal tab, a
command typed and ``exit``, the container committed from the panel, and an image removed.
Each state is a screenshot under ``<basetemp>/lab-screenshots/<test>/``.
"""

from __future__ import annotations

import re
from typing import Any

from tests.lab.conftest import BASE, Screenshots
from tests.support.lab import JupyterLab

DOCKERFILE_CELL = f"""%%dockerfile -t lab/hello:v1
# the image the tutorial's shell starts from
FROM {BASE}
RUN echo hello > /hello.txt && sleep 3
COPY <<EOF /greeting.txt
hi from a heredoc
EOF
CMD ["/bin/sh"]"""


NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook on show


def notebook(cells: list[str]) -> dict[str, Any]:
    """A notebook of code cells on the python3 kernel."""
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "cells": [
            {
                "cell_type": "code",
                "id": f"cell{i}",
                "metadata": {},
                "source": source,
                "outputs": [],
                "execution_count": None,
            }
            for i, source in enumerate(cells)
        ],
    }


def put_notebook(lab: JupyterLab, path: str, cells: list[str]) -> None:
    content = {"type": "notebook", "format": "json", "content": notebook(cells)}
    status, _ = lab.request("PUT", f"/api/contents/{path}", content)
    assert status in (200, 201)


def color_of(page: Any, css_var: str) -> str:
    """The computed colour a CSS variable of the theme gives."""
    return str(
        page.evaluate(
            """(name) => {
                const probe = document.createElement('span');
                probe.style.color = `var(${name})`;
                document.body.appendChild(probe);
                const color = getComputedStyle(probe).color;
                probe.remove();
                return color;
            }""",
            css_var,
        )
    )


def token_color(editor: Any, text: str) -> str:
    """The colour of the first token of ``editor`` whose text is exactly ``text``."""
    token = editor.locator(".cm-line span", has_text=re.compile(f"^{re.escape(text)}$")).first
    return str(token.evaluate("el => getComputedStyle(el).color"))


def open_lab(page: Any, lab: JupyterLab, path: str) -> None:
    page.goto(f"{lab.url}/lab/tree/{path}?token={lab.token}")
    page.locator(".jp-LabShell").wait_for()


def wait_kernel_idle(page: Any) -> None:
    """Wait until the notebook on show has an idle kernel (its toolbar's indicator)."""
    page.wait_for_function(
        """() => [...document.querySelectorAll('.jp-Notebook-ExecutionIndicator')]
            .some(e => e.dataset.status === 'idle' && !e.closest('.lm-mod-hidden'))""",
        timeout=60000,
    )


def run_cell(page: Any, cell: Any) -> None:
    """Run a cell as a person does (click into it, Shift+Enter), until it is queued or done."""
    prompt = cell.locator(".jp-InputPrompt")
    for _ in range(3):
        cell.locator(".cm-content").click()
        page.keyboard.press("Shift+Enter")
        try:
            page.wait_for_function(
                "(el) => /\\[(\\*|\\d+)\\]/.test(el.textContent)",
                arg=prompt.element_handle(),
                timeout=5000,
            )
            return
        except Exception:  # the keys went elsewhere while the page was still settling
            continue
    raise AssertionError(f"the cell did not run: {prompt.inner_text()}")


def images_panel(page: Any) -> Any:
    """The images panel, opened from its tab in the left sidebar if it is not showing."""
    panel = page.locator("#nbdocker-images")
    if not panel.is_visible():
        page.locator('.jp-SideBar .lm-TabBar-tab[data-id="nbdocker-images"]').click()
    panel.wait_for(state="visible")
    return panel


TERMINAL_TEXT = "document.querySelector('.jp-Terminal .xterm-accessibility-tree')?.innerText ?? ''"


def terminal_text(page: Any) -> str:
    return str(page.evaluate(f"() => {TERMINAL_TEXT}"))


def wait_terminal(page: Any, pattern: str, timeout: float = 30000) -> None:
    """Wait until the terminal's screen matches the JavaScript regular expression ``pattern``."""
    page.wait_for_function(
        f"(pattern) => new RegExp(pattern).test({TERMINAL_TEXT})", arg=pattern, timeout=timeout
    )


def test_tutorial_path_in_jupyterlab(lab: JupyterLab, page: Any, shots: Screenshots) -> None:
    put_notebook(lab, "tutorial.ipynb", ["%load_ext nbdocker", DOCKERFILE_CELL])
    open_lab(page, lab, "tutorial.ipynb")
    cells = page.locator(f"{NOTEBOOK} .jp-Cell")
    dockerfile_cell = cells.nth(1)
    dockerfile_cell.locator(".cm-line").first.wait_for()
    wait_kernel_idle(page)

    # 1. The %%dockerfile cell reads as a Dockerfile: instructions, a comment, a heredoc.
    keyword = color_of(page, "--jp-mirror-editor-keyword-color")
    comment = color_of(page, "--jp-mirror-editor-comment-color")
    plain = str(dockerfile_cell.locator(".cm-content").evaluate("e => getComputedStyle(e).color"))
    assert keyword != plain
    page.wait_for_function(
        f"""(color) => [...document.querySelectorAll('{NOTEBOOK} .jp-Cell .cm-line span')]
            .some(s => s.textContent === 'FROM' && getComputedStyle(s).color === color)""",
        arg=keyword,
    )
    for instruction in ("FROM", "RUN", "COPY", "CMD"):
        assert token_color(dockerfile_cell, instruction) == keyword, instruction
    assert token_color(dockerfile_cell, "# the image the tutorial's shell starts from") == comment
    heredoc = dockerfile_cell.locator(".cm-line", has_text="hi from a heredoc").locator("span")
    assert heredoc.first.evaluate("e => getComputedStyle(e).color") not in (plain, keyword)
    shots("notebook-dockerfile-cell-highlighted")

    # 2. Run it: the build's progress ends at "Successfully built <id>".
    run_cell(page, cells.nth(0))
    wait_kernel_idle(page)
    run_cell(page, dockerfile_cell)
    # The status bar shows the kernel's build while it runs: its step, where it runs, a bar.
    # Step 2 of 4 running (its RUN sleeps): one step done, a quarter of the bar.
    status = page.locator(".nbdocker-Status")
    page.wait_for_function(
        """() => {
            const item = document.querySelector('.nbdocker-Status');
            const bar = item?.querySelector('progress');
            return item?.textContent === 'Building lab/hello:v1 (step 2/4) · tutorial.ipynb'
                && bar?.getAttribute('value') === '25';
        }""",
        timeout=60000,
    )
    shots("build-running-in-kernel")
    built = dockerfile_cell.locator(".jp-OutputArea").get_by_text(
        re.compile("Successfully built [0-9a-f]{12}")
    )
    built.first.wait_for(timeout=120000)
    status.wait_for(state="hidden", timeout=30000)  # the build's record went with it
    shots("build-successfully-built")

    # 3. The image appears in the images panel (the kernel wrote the store; the server saw it).
    panel = images_panel(page)
    image = panel.locator('.nbdocker-Image[data-reference="lab/hello:v1"]')
    image.wait_for(timeout=30000)
    assert re.search(r"\d+(\.\d+)?(B|kB|MB)", image.inner_text())
    shots("images-panel")
    image.get_by_role("button", name=re.compile("^Copy ID")).click()
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied == image.get_attribute("data-id") and copied.startswith("sha256:")

    # 4. A shell in it, in a terminal tab, at the tutorial's root@<id>:/# prompt.
    image.get_by_role("button", name=re.compile("^Shell")).click()
    terminal = page.locator(".jp-Terminal")
    terminal.wait_for(timeout=30000)
    wait_terminal(page, "root@[0-9a-f]{12}:/# ?")
    prompt = re.search(r"root@([0-9a-f]{12}):/#", terminal_text(page))
    assert prompt is not None
    container_id = prompt.group(1)
    terminal.click()
    page.keyboard.type(
        "cat /hello.txt /greeting.txt; echo made-in-lab > /root/note; echo answer=$((6*7))"
    )
    page.keyboard.press("Enter")
    wait_terminal(page, "answer=42")
    text = terminal_text(page)
    assert "hello" in text and "hi from a heredoc" in text
    shots("terminal-in-container")

    # 5. `exit` ends the shell and closes the tab; the container stays, stopped.
    page.keyboard.type("exit")
    page.keyboard.press("Enter")
    terminal.wait_for(state="detached", timeout=30000)
    panel = images_panel(page)
    row = panel.locator(f'.nbdocker-Container[data-id^="{container_id}"]')
    row.get_by_text(re.compile(r"Exited \(0\)")).wait_for(timeout=30000)
    shots("container-exited")

    # 6. Commit it from the panel, as the tutorial's `docker commit -m … -a …`.
    row.get_by_role("button", name=re.compile("^Commit")).click()
    dialog = page.locator(".jp-Dialog")
    dialog.locator("input[name=reference]").fill("lab/hello:committed")
    dialog.locator("input[name=message]").fill("a note made in the terminal")
    dialog.locator("input[name=author]").fill("Docker Newbee")
    shots("commit-dialog")
    dialog.locator(".jp-mod-accept").click()
    committed = panel.locator('.nbdocker-Image[data-reference="lab/hello:committed"]')
    committed.wait_for(timeout=30000)
    shots("committed-image")
    status, layers = lab.request("GET", "/nbdocker/api/images/layers?image=lab/hello:committed")
    assert status == 200
    assert "/root/note" in layers["layers"][-1]["added"]
    assert layers["history"][0]["comment"] == "a note made in the terminal"

    # 7. Remove the committed image from the panel.
    committed.get_by_role("button", name=re.compile("^Remove")).click()
    page.locator(".jp-Dialog .jp-mod-accept").click()
    committed.wait_for(state="detached", timeout=30000)
    shots("image-removed")
    status, images = lab.request("GET", "/nbdocker/api/images")
    references = {i["reference"] for i in images["images"]}
    assert "lab/hello:committed" not in references
    assert "lab/hello:v1" in references


def test_a_dockerfile_opens_highlighted_and_builds_from_the_toolbar(
    lab: JupyterLab, page: Any, shots: Screenshots
) -> None:
    folder = lab.root / "app"
    folder.mkdir(exist_ok=True)
    (folder / "Dockerfile").write_text(
        f"# built from the editor\nFROM {BASE}\nRUN sleep 2 && echo built > /built.txt\n"
        "RUN <<EOF\necho from a heredoc > /heredoc.txt\nEOF\n"
    )
    open_lab(page, lab, "app/Dockerfile")
    editor = page.locator(".jp-FileEditor")
    editor.locator(".cm-line").first.wait_for()
    keyword = color_of(page, "--jp-mirror-editor-keyword-color")
    page.wait_for_function(
        """(color) => [...document.querySelectorAll('.jp-FileEditor .cm-line span')]
            .some(s => s.textContent === 'FROM' && getComputedStyle(s).color === color)""",
        arg=keyword,
    )
    assert token_color(editor, "RUN") == keyword
    assert token_color(editor, "# built from the editor") == color_of(
        page, "--jp-mirror-editor-comment-color"
    )
    shots("dockerfile-in-editor")

    page.locator(".nbdocker-BuildButton").click()
    dialog = page.locator(".jp-Dialog")
    name = dialog.locator("input")
    assert name.input_value() == "app:latest"  # the folder's name
    name.fill("editor/app:v1")
    dialog.locator(".jp-mod-accept").click()

    # The status bar shows the build while it runs; the panel shows its live log.
    status = page.locator(".nbdocker-Status")
    status.get_by_text(re.compile(r"Building editor/app:v1 \(step \d/3\)")).wait_for(timeout=30000)
    panel = images_panel(page)
    task = panel.locator(".nbdocker-Task").first
    task.locator(".nbdocker-Log").wait_for()
    shots("build-running")
    task.locator(".nbdocker-Log").get_by_text(
        re.compile("Successfully built [0-9a-f]{12}")
    ).wait_for(timeout=60000)
    log = task.locator(".nbdocker-Log").inner_text()
    assert "Step 1/3 : FROM busybox:latest" in log and "Successfully tagged editor/app:v1" in log
    panel.locator('.nbdocker-Image[data-reference="editor/app:v1"]').wait_for(timeout=30000)
    status.wait_for(state="hidden", timeout=30000)  # nothing runs any more
    shots("build-done-in-panel")

    # Its layers: history, and the files each layer added.
    image = panel.locator('.nbdocker-Image[data-reference="editor/app:v1"]')
    image.get_by_role("button", name=re.compile("^Layers")).click()
    view = page.locator(".nbdocker-LayersView")
    view.wait_for()
    assert "sleep 2 && echo built" in view.locator(".nbdocker-History").inner_text()
    top = view.locator(".nbdocker-Layer").last
    top.locator(".nbdocker-Files-added").get_by_text("/heredoc.txt", exact=True).wait_for()
    view.locator(".nbdocker-Layer").nth(1).locator(".nbdocker-LayerHead").click()
    view.locator(".nbdocker-Layer").nth(1).get_by_text("/built.txt", exact=True).wait_for()
    shots("layers-view")


def test_docker_run_it_in_a_notebook_opens_a_terminal(
    lab: JupyterLab, page: Any, shots: Screenshots
) -> None:
    put_notebook(
        lab,
        "shell.ipynb",
        [
            "%load_ext nbdocker",
            f"%docker run -it --name nb-shell {BASE} /bin/sh",
            "%commit -m 'from the notebook shell' nb-shell lab/shell:v1",
            '%%container nb-c1 --from busybox:latest\nif true; then echo "in a container"; fi',
        ],
    )
    open_lab(page, lab, "shell.ipynb")
    cells = page.locator(f"{NOTEBOOK} .jp-Cell")
    container_cell = cells.nth(3)
    container_cell.locator(".cm-line").first.wait_for()
    wait_kernel_idle(page)
    keyword = color_of(page, "--jp-mirror-editor-keyword-color")
    page.wait_for_function(
        f"""(color) => [...document.querySelectorAll('{NOTEBOOK} .jp-Cell .cm-line span')]
            .some(s => s.textContent === 'if' && getComputedStyle(s).color === color)""",
        arg=keyword,
    )
    assert token_color(container_cell, '"in a container"') == color_of(
        page, "--jp-mirror-editor-string-color"
    )

    run_cell(page, cells.nth(0))
    wait_kernel_idle(page)
    run_cell(page, cells.nth(1))
    terminal = page.locator(".jp-Terminal")
    terminal.wait_for(timeout=30000)
    wait_terminal(page, "root@[0-9a-f]{12}:/# ?")
    terminal.click()
    page.keyboard.type("echo from-notebook-shell > /root/mark; exit")
    shots("notebook-shell-terminal")
    page.keyboard.press("Enter")
    terminal.wait_for(state="detached", timeout=30000)
    panel = images_panel(page)
    row = panel.locator('.nbdocker-Container[data-name="nb-shell"]')
    row.get_by_text(re.compile(r"Exited \(0\)")).wait_for(timeout=30000)
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="shell.ipynb").click()
    said = cells.nth(1).locator(".jp-OutputArea").inner_text()
    assert "JupyterLab terminal tab" in said and "nbdocker run -it --name nb-shell" in said

    run_cell(page, cells.nth(2))
    cells.nth(2).locator(".jp-OutputArea").get_by_text(re.compile("Image [0-9a-f]{12}")).wait_for(
        timeout=60000
    )
    shots("notebook-commit-after-shell")
    status, layers = lab.request("GET", "/nbdocker/api/images/layers?image=lab/shell:v1")
    assert status == 200 and "/root/mark" in layers["layers"][-1]["added"]


def test_dockerfile_cells_are_highlighted_in_a_console(
    lab: JupyterLab, page: Any, shots: Screenshots
) -> None:
    page.goto(f"{lab.url}/lab?reset&token={lab.token}")  # a fresh layout: the launcher
    page.locator('.jp-LauncherCard[data-category="Console"]').first.click()
    prompt = page.locator(".jp-CodeConsole-promptCell")
    prompt.locator(".cm-content").click()
    page.keyboard.insert_text("%%dockerfile -t console/x\nFROM busybox:latest\nRUN echo hi")
    keyword = color_of(page, "--jp-mirror-editor-keyword-color")
    page.wait_for_function(
        """(color) => [...document.querySelectorAll('.jp-CodeConsole-promptCell .cm-line span')]
            .some(s => s.textContent === 'RUN' && getComputedStyle(s).color === color)""",
        arg=keyword,
    )
    assert token_color(prompt, "FROM") == keyword
    shots("console-dockerfile-cell")
    # Without the magic line the cell is Python again.
    page.keyboard.press("Control+a")
    page.keyboard.insert_text("FROM = 1")
    page.wait_for_function(
        """(color) => ![...document.querySelectorAll('.jp-CodeConsole-promptCell .cm-line span')]
            .some(s => s.textContent === 'FROM' && getComputedStyle(s).color === color)""",
        arg=keyword,
    )
