"""``%docker run -it`` in a kernel: with a front end that answers nbdocker's comm (JupyterLab
with the lab extension) the shell is asked of it; without one, the magic says how to get a shell
and creates nothing. The front end here is a script speaking the Jupyter protocol on a real
kernel; JupyterLab itself is tests/lab/test_browser.py."""

from __future__ import annotations

import queue
import time
from pathlib import Path
from typing import Any

import pytest

from nbdocker.engine import Engine
from nbdocker.notebook.lab_terminal import TARGET
from nbdocker.server.shells import PROMPT, prompt_env, shell_command

from .kernel import execute, kernel, text_of


def _comm_opens(kc: Any, seconds: float = 60) -> list[dict[str, Any]]:
    """The comm_open messages on iopub until the kernel is idle again (at most ``seconds``)."""
    opens = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=0.5)
        except queue.Empty:
            continue
        if msg["msg_type"] == "comm_open":
            opens.append(msg)
        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    return opens


def test_with_jupyterlab_the_shell_is_asked_of_it(
    nbdocker_home: Path, busybox_tarball: Path, tmp_path: Path
) -> None:
    Engine(nbdocker_home).import_image(busybox_tarball, "nbdtest/base:1", change=['CMD ["sh"]'])
    with kernel(nbdocker_home, tmp_path) as (_, kc):
        msg_id = kc.execute("%load_ext nbdocker")
        hello = next(m for m in _comm_opens(kc) if m["content"]["target_name"] == TARGET)
        assert hello["parent_header"]["msg_id"] == msg_id
        assert hello["content"]["data"] == {"hello": 1}
        kc.get_shell_msg(timeout=30)
        # The lab extension's answer (what JupyterLab sends from its comm target).
        answer = kc.session.msg(
            "comm_msg", {"comm_id": hello["content"]["comm_id"], "data": {"terminals": True}}
        )
        kc.shell_channel.send(answer)
        time.sleep(0.5)  # handled between cells, as in JupyterLab

        seen: list[dict[str, Any]] = []
        result = execute(
            kc, "%docker run -it --name s1 nbdtest/base:1 /bin/sh", on_output=seen.append
        )
        assert result["reply"]["status"] == "ok"
        assert "JupyterLab terminal tab: nbdocker run -it --name s1 nbdtest/base:1 /bin/sh" in (
            text_of(result["outputs"])
        )
        requests = [
            m
            for m in seen
            if m["msg_type"] == "comm_open" and m["content"]["target_name"] == TARGET
        ]
        assert [r["content"]["data"] for r in requests] == [
            {"run": ["-it", "--name", "s1", "nbdtest/base:1", "/bin/sh"]}
        ]
        assert Engine(nbdocker_home).ps(all=True) == []  # the terminal's nbdocker run makes it

        # -i without -t: the terminal is asked for all the same; the cell says it has no TTY.
        seen.clear()
        result = execute(kc, "%docker run -i nbdtest/base:1", on_output=seen.append)
        assert result["reply"]["status"] == "ok"
        said = text_of(result["outputs"])
        assert "with no TTY (-i without -t" in said and "nbdocker run -i nbdtest/base:1" in said
        requests = [
            m
            for m in seen
            if m["msg_type"] == "comm_open" and m["content"]["target_name"] == TARGET
        ]
        assert [r["content"]["data"] for r in requests] == [{"run": ["-i", "nbdtest/base:1"]}]


def test_without_a_front_end_that_answers_the_magic_says_how(
    nbdocker_home: Path, busybox_tarball: Path, tmp_path: Path
) -> None:
    Engine(nbdocker_home).import_image(busybox_tarball, "nbdtest/base:1", change=['CMD ["sh"]'])
    with kernel(nbdocker_home, tmp_path) as (_, kc):
        assert execute(kc, "%load_ext nbdocker")["reply"]["status"] == "ok"
        result = execute(kc, "%docker run -it nbdtest/base:1 /bin/sh")
        said = text_of(result["outputs"])
        assert "cannot give you a shell here" in said and "run -it nbdtest/base:1 /bin/sh" in said
        assert Engine(nbdocker_home).ps(all=True) == []


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
