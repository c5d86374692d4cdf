"""``%docker run -it`` in a kernel: the container is created for a terminal (not started), and
the cell's value asks JupyterLab to open that terminal (a mime bundle the lab extension renders;
plain text elsewhere). The browser side is tests/lab/test_browser.py."""

from __future__ import annotations

from typing import Any

import pytest

from nbdocker.engine import Engine
from nbdocker.notebook.shell import SHELL_MIME, ShellRequest
from nbdocker.server.shells import PROMPT, prompt_env, shell_command


def test_run_it_creates_a_container_for_a_terminal(ip: Any, base: str) -> None:
    request = ip.run_line_magic("docker", f"run -it --name shell1 -e A=b {base}")
    assert isinstance(request, ShellRequest)
    container = Engine().containers.get("shell1")
    assert container.state == "created"  # JupyterLab's terminal starts it
    assert container.config.tty and container.config.stdin
    assert container.config.argv == ("/bin/sh",)  # the image's CMD
    assert f"PS1={PROMPT}" in container.config.env and "A=b" in container.config.env
    bundle = request._repr_mimebundle_()
    assert bundle[SHELL_MIME] == {
        "container": container.id,
        "name": "shell1",
        "image": base,
        "rm": False,
    }
    assert "nbdocker start -a -i shell1" in bundle["text/plain"]
    assert "%commit shell1" in bundle["text/plain"]


def test_run_it_rm_is_carried_to_the_terminal(ip: Any, base: str) -> None:
    request = ip.run_line_magic("docker", f"run -it --rm {base} /bin/sh -l")
    container = Engine().containers.get(request.container)
    assert container.config.argv == ("/bin/sh", "-l")
    assert not any(e.startswith("PS1=") for e in container.config.env)  # not a bare shell
    assert request._repr_mimebundle_()[SHELL_MIME]["rm"] is True


def test_run_with_only_t_still_runs_in_the_cell(ip: Any, base: str, capsys: Any) -> None:
    assert ip.run_line_magic("docker", f"run -t --rm {base} echo in-the-cell") is None
    assert "in-the-cell" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("config", "argv", "shell", "env"),
    [
        ({"config": {"Cmd": ["/bin/sh"]}}, [], ["/bin/sh"], (f"PS1={PROMPT}",)),
        ({"config": {"Cmd": ["bash"]}}, [], ["bash"], ()),  # bash sets its own prompt
        ({"config": {"Cmd": ["python3", "app.py"]}}, ["/bin/sh"], ["/bin/sh"], (f"PS1={PROMPT}",)),
        ({"config": {"Cmd": ["sh"], "Env": ["PS1=$ "]}}, [], ["sh"], ()),  # the image's own
        ({"config": {}}, ["ls", "-l"], ["/bin/sh"], ()),  # not a shell: no prompt to set
    ],
)
def test_which_shell_and_prompt(
    config: dict[str, Any], argv: list[str], shell: list[str], env: tuple[str, ...]
) -> None:
    assert shell_command(config) == shell
    assert prompt_env(config, argv) == env
