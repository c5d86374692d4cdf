"""The server extension over HTTP, on a real JupyterLab: Jupyter's authentication and XSRF
rules hold for every endpoint, each endpoint does what the panel relies on, and the event socket
tells of changes made by other processes (the CLI) and of the server's own builds."""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.lab.conftest import BASE
from tests.support.lab import JupyterLab, run_async

ENDPOINTS = [
    ("GET", "/nbdocker/api/images"),
    ("GET", f"/nbdocker/api/images/history?image={BASE}"),
    ("GET", f"/nbdocker/api/images/layers?image={BASE}"),
    ("POST", "/nbdocker/api/images/tag"),
    ("POST", "/nbdocker/api/images/remove"),
    ("POST", "/nbdocker/api/images/push"),
    ("GET", "/nbdocker/api/containers"),
    ("POST", "/nbdocker/api/containers/commit"),
    ("GET", "/nbdocker/api/containers/diff?container=x"),
    ("POST", "/nbdocker/api/containers/remove"),
    ("POST", "/nbdocker/api/shells"),
    ("POST", "/nbdocker/api/builds"),
    ("GET", "/nbdocker/api/tasks"),
]


def cli(home: Path, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "nbdocker", *args],
        env={**os.environ, "NBDOCKER_HOME": str(home)},
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout


# -- authentication and XSRF -------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_requests_without_a_token_are_refused(lab: JupyterLab, method: str, path: str) -> None:
    body = {"image": BASE, "source": BASE, "target": "x:y"} if method == "POST" else None
    status, _ = lab.request(method, path, body, token=False)
    assert status == 403
    status, _ = lab.request(
        method, path, body, token=False, headers={"Authorization": "token not-the-token"}
    )
    assert status == 403


def test_requests_with_the_token_are_served(lab: JupyterLab) -> None:
    status, data = lab.request("GET", "/nbdocker/api/images")
    assert status == 200
    assert BASE in {row["reference"] for row in data["images"]}


def _browser_session(lab: JupyterLab) -> tuple[urllib.request.OpenerDirector, str]:
    """Log in as a browser does (the token once, then cookies); the session's XSRF token."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{lab.url}/lab?token={lab.token}").read()
    xsrf = next(c.value for c in jar if c.name == "_xsrf")
    return opener, xsrf


def _post(
    opener: urllib.request.OpenerDirector, url: str, body: Any, headers: dict[str, str]
) -> int:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers=headers
    )
    try:
        with opener.open(request) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_cookie_session_needs_the_xsrf_header_to_change_anything(lab: JupyterLab) -> None:
    opener, xsrf = _browser_session(lab)
    with opener.open(f"{lab.url}/nbdocker/api/images") as response:  # reading: the cookie will do
        assert response.status == 200
    url = f"{lab.url}/nbdocker/api/images/tag"
    body = {"source": BASE, "target": "xsrf/check:1"}
    assert _post(opener, url, body, {}) == 403
    assert _post(opener, url, body, {"X-XSRFToken": "forged"}) == 403
    assert "xsrf/check:1" not in {
        r["reference"] for r in lab.request("GET", "/nbdocker/api/images")[1]["images"]
    }
    assert _post(opener, url, body, {"X-XSRFToken": xsrf}) == 200
    status, data = lab.request("GET", "/nbdocker/api/images")
    assert "xsrf/check:1" in {r["reference"] for r in data["images"]}
    lab.request("POST", "/nbdocker/api/images/remove", {"image": "xsrf/check:1"})


async def _socket(lab: JupyterLab, token: bool = True) -> Any:
    from tornado.websocket import websocket_connect

    url = f"ws://127.0.0.1:{lab.port}/nbdocker/api/events"
    return await websocket_connect(url + (f"?token={lab.token}" if token else ""))


def test_the_event_socket_refuses_a_connection_without_the_token(lab: JupyterLab) -> None:
    from tornado.httpclient import HTTPClientError

    with pytest.raises(HTTPClientError) as refused:
        run_async(lambda: _socket(lab, token=False))
    assert refused.value.code == 403


# -- the event socket ----------------------------------------------------------------------------


async def _messages_until(socket: Any, done: Any, timeout: float = 60) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            text = await asyncio.wait_for(socket.read_message(), deadline - time.monotonic())
        except TimeoutError:
            break
        assert text is not None, "the server closed the event socket"
        seen.append(json.loads(text))
        if done(seen[-1]):
            return seen
    raise AssertionError(f"not seen in {timeout}s; got {seen}")


def _task_messages(lab: JupyterLab, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Start a task with ``POST path`` and return the event socket's messages until it ends."""

    async def scenario() -> list[dict[str, Any]]:
        socket = await _socket(lab)
        await socket.read_message()  # hello
        status, started = await asyncio.get_running_loop().run_in_executor(
            None, lambda: lab.request("POST", path, body)
        )
        assert status == 202, started
        task_id = started["task"]["id"]
        try:
            return await _messages_until(
                socket,
                lambda m: (
                    m["type"] == "task"
                    and m["task"]["id"] == task_id
                    and m["task"]["status"] != "running"
                ),
            )
        finally:
            socket.close()

    return run_async(scenario)


def test_a_change_made_by_the_cli_is_announced(lab: JupyterLab, lab_home: Path) -> None:
    async def scenario() -> list[dict[str, Any]]:
        socket = await _socket(lab)
        hello = json.loads(await socket.read_message())
        assert hello["type"] == "hello"
        await asyncio.get_running_loop().run_in_executor(
            None, cli, lab_home, "tag", BASE, "from/cli:1"
        )
        try:
            return await _messages_until(socket, lambda m: m["type"] == "store", timeout=15)
        finally:
            socket.close()

    run_async(scenario)
    cli(lab_home, "rmi", "from/cli:1")


def test_a_build_reports_its_progress_and_names_the_image(lab: JupyterLab) -> None:
    folder = lab.root / "web"
    folder.mkdir(exist_ok=True)
    (folder / "page.txt").write_text("hello from the context\n")
    (folder / "Dockerfile").write_text(
        f"FROM {BASE}\nCOPY page.txt /srv/page.txt\nRUN <<EOF\ncat /srv/page.txt\nEOF\n"
    )

    messages = _task_messages(
        lab, "/nbdocker/api/builds", {"path": "web/Dockerfile", "tags": ["web/page:v1"]}
    )
    final = messages[-1]["task"]
    assert final["status"] == "done", final
    log = final["log"]
    assert log[0].startswith("Sending build context")
    assert "Step 1/3 : FROM busybox:latest" in log
    assert "hello from the context" in log
    assert any(line.startswith("Successfully built ") for line in log)
    assert "Successfully tagged web/page:v1" in log
    steps = [m["task"]["step"] for m in messages if m["type"] == "task"]
    assert steps == sorted(steps) and steps[-1] == 3
    status, data = lab.request("GET", "/nbdocker/api/images")
    assert "web/page:v1" in {r["reference"] for r in data["images"]}


def _cli_build(home: Path, folder: Path, run: str, tag: str) -> subprocess.Popen[str]:
    """``nbdocker build`` in a process of its own (and process group) on the lab's store."""
    folder.mkdir(exist_ok=True)
    (folder / "Dockerfile").write_text(f"FROM {BASE}\nRUN echo {tag}\n{run}\nRUN echo done\n")
    return subprocess.Popen(
        [sys.executable, "-m", "nbdocker", "build", "--no-cache", "-t", tag, str(folder)],
        env={**os.environ, "NBDOCKER_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _activity(messages: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [m["activity"] for m in messages if m["type"] in ("activity", "hello")]


def _shows(title: str, step: int | None = None) -> Any:
    """A predicate: an ``activity`` message lists ``title`` (at ``step``, when given)."""

    def done(message: dict[str, Any]) -> bool:
        return message["type"] == "activity" and any(
            a["title"] == title and (step is None or a["step"] == step) for a in message["activity"]
        )

    return done


def _gone(title: str) -> Any:
    """A predicate: an ``activity`` message no longer lists ``title``."""
    return lambda m: m["type"] == "activity" and not any(a["title"] == title for a in m["activity"])


def test_a_build_in_the_cli_shows_its_progress_until_it_ends(
    lab: JupyterLab, lab_home: Path, tmp_path: Path
) -> None:
    """What the status bar reads: a build another process runs on the store, step by step,
    named with where it runs, and gone when it is done."""

    async def scenario() -> list[dict[str, Any]]:
        socket = await _socket(lab)
        hello = json.loads(await socket.read_message())
        assert hello["type"] == "hello" and "activity" in hello
        build = _cli_build(lab_home, tmp_path / "ctx", "RUN sleep 4", "cli/progress:1")
        try:
            running = await _messages_until(socket, _shows("cli/progress:1", step=3))
            await _messages_until(socket, _gone("cli/progress:1"))
        finally:
            socket.close()
            out, _ = await asyncio.get_running_loop().run_in_executor(None, build.communicate)
        assert build.returncode == 0, out
        assert "Successfully tagged cli/progress:1" in out
        return running

    running = run_async(scenario)
    ours = [[a for a in m if a["title"] == "cli/progress:1"] for m in _activity(running)]
    (work,) = ours[-1]
    assert work["kind"] == "build"
    assert (work["step"], work["steps"], work["instruction"]) == (3, 4, "RUN sleep 4")
    assert work["where"] == "nbdocker CLI"
    steps = [a["step"] for m in ours for a in m]
    assert steps == sorted(steps)
    assert not any(p.name.startswith(f"{work['pid']}-") for p in (lab_home / "activity").iterdir())


def test_a_killed_process_does_not_stay_in_the_status_bar(
    lab: JupyterLab, lab_home: Path, tmp_path: Path
) -> None:
    build = _cli_build(lab_home, tmp_path / "ctx", "RUN sleep 60", "cli/killed:1")

    async def scenario() -> None:
        socket = await _socket(lab)
        await socket.read_message()  # hello
        try:
            await _messages_until(socket, _shows("cli/killed:1", step=3))
            os.killpg(build.pid, 9)  # no chance to remove its record
            build.wait()
            await _messages_until(socket, _gone("cli/killed:1"))
        finally:
            socket.close()

    try:
        run_async(scenario)
    finally:
        if build.poll() is None:
            os.killpg(build.pid, 9)
        build.communicate()
    assert not any(p.name.startswith(f"{build.pid}-") for p in (lab_home / "activity").iterdir())
    _, data = lab.request("GET", "/nbdocker/api/images")
    assert "cli/killed:1" not in {r["reference"] for r in data["images"]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"path": "../outside/Dockerfile", "tags": []}, "outside the server's folder"),
        ({"path": "nowhere/Dockerfile", "tags": []}, "no such Dockerfile"),
        ({"path": "web/Dockerfile", "tags": ["Not A Name"]}, "invalid reference"),
        ({"tags": []}, "give 'path'"),
    ],
)
def test_a_build_request_that_cannot_work_is_refused_with_a_reason(
    lab: JupyterLab, body: dict[str, Any], message: str
) -> None:
    (lab.root / "web").mkdir(exist_ok=True)
    (lab.root / "web" / "Dockerfile").write_text(f"FROM {BASE}\n")
    status, data = lab.request("POST", "/nbdocker/api/builds", body)
    assert status == 400
    text = data["message"] if isinstance(data, dict) else str(data)
    assert message.lower() in text.lower()


# -- images and containers -----------------------------------------------------------------------


def test_tag_history_layers_and_remove(lab: JupyterLab) -> None:
    status, data = lab.request(
        "POST", "/nbdocker/api/images/tag", {"source": BASE, "target": "ours/base:v2"}
    )
    assert (status, data) == (200, {"reference": "ours/base:v2"})
    _, images = lab.request("GET", "/nbdocker/api/images")
    row = next(r for r in images["images"] if r["reference"] == "ours/base:v2")
    assert row["size_text"].endswith("MB") and row["created_text"].endswith("ago")
    assert not row["dangling"] and not row["in_use"]

    status, history = lab.request("GET", "/nbdocker/api/images/history?image=ours/base:v2")
    assert status == 200 and history["history"][0]["image"] == row["id"]
    status, layers = lab.request("GET", "/nbdocker/api/images/layers?image=ours/base:v2")
    assert status == 200
    assert "/bin/busybox" in layers["layers"][0]["added"]
    assert layers["layers"][0]["counts"]["added"] > 100  # every applet link

    status, removed = lab.request("POST", "/nbdocker/api/images/remove", {"image": "ours/base:v2"})
    assert status == 200
    assert removed["removed"] == [{"action": "Untagged", "what": "ours/base:v2"}]
    status, data = lab.request("POST", "/nbdocker/api/images/remove", {"image": "ours/base:v2"})
    assert status == 404 and "no such image" in data["message"]


def test_commit_diff_and_remove_a_container(lab: JupyterLab, lab_home: Path) -> None:
    cli(lab_home, "run", "--name", "api-c1", BASE, "sh", "-c", "echo x > /made; rm /bin/vi")
    _, data = lab.request("GET", "/nbdocker/api/containers")
    row = next(c for c in data["containers"] if c["name"] == "api-c1")
    assert row["state"] == "exited" and row["status_text"].startswith("Exited (0)")
    assert row["terminal"] is None

    status, diff = lab.request("GET", "/nbdocker/api/containers/diff?container=api-c1")
    assert status == 200
    assert {"kind": "A", "path": "/made"} in diff["changes"]
    assert {"kind": "D", "path": "/bin/vi"} in diff["changes"]

    status, committed = lab.request(
        "POST",
        "/nbdocker/api/containers/commit",
        {"container": "api-c1", "reference": "api/c1:v1", "message": "m", "author": "a"},
    )
    assert status == 200
    _, images = lab.request("GET", "/nbdocker/api/images")
    row = next(r for r in images["images"] if r["reference"] == "api/c1:v1")
    assert row["id"] == committed["id"]

    status, data = lab.request("POST", "/nbdocker/api/images/remove", {"image": BASE})
    assert status == 409 and "must be forced" in data["message"]  # the container uses it
    status, _ = lab.request("POST", "/nbdocker/api/containers/remove", {"container": "api-c1"})
    assert status == 200
    status, data = lab.request("GET", "/nbdocker/api/containers/diff?container=api-c1")
    assert status == 404
    lab.request("POST", "/nbdocker/api/images/remove", {"image": "api/c1:v1"})


# -- shells --------------------------------------------------------------------------------------


async def _terminal_until(lab: JupyterLab, name: str, send: list[str], expect: list[str]) -> str:
    """Talk to a Jupyter terminal as JupyterLab's terminal widget does; the screen so far."""
    from tornado.websocket import websocket_connect

    socket = await websocket_connect(
        f"ws://127.0.0.1:{lab.port}/terminals/websocket/{name}?token={lab.token}"
    )
    await socket.write_message(json.dumps(["set_size", 24, 80, 480, 640]))
    screen = ""
    try:
        for text, pattern in zip(send, expect, strict=True):
            if text:
                await socket.write_message(json.dumps(["stdin", text]))
            deadline = time.monotonic() + 30
            while pattern not in screen:
                try:
                    message = await asyncio.wait_for(
                        socket.read_message(), deadline - time.monotonic()
                    )
                except TimeoutError:
                    break  # the assertion below shows the screen
                if message is None:
                    break
                kind, *rest = json.loads(message)
                if kind == "stdout":
                    screen += rest[0]
                    if "\x1b[6n" in rest[0]:  # the shell asks where the cursor is, as xterm answers
                        await socket.write_message(json.dumps(["stdin", "\x1b[1;1R"]))
                elif kind == "disconnect":
                    screen += "\n[disconnected]"
            assert pattern in screen, screen
    finally:
        socket.close()
    return screen


def test_a_shell_runs_in_a_terminal_and_its_container_stays(lab: JupyterLab) -> None:
    status, shell = lab.request("POST", "/nbdocker/api/shells", {"image": BASE})
    assert status == 201, shell
    container = shell["container"]
    assert container["tty"] and container["command"] == "/bin/sh"
    _, terminals = lab.request("GET", "/api/terminals")
    assert shell["terminal"] in {t["name"] for t in terminals}
    prompt = f"root@{container['short_id']}:/# "
    screen = run_async(
        lambda: _terminal_until(
            lab,
            shell["terminal"],
            ["", "tty; echo x > /in-shell\r", "exit 3\r"],
            [prompt, "/dev/pts/", "[disconnected]"],
        )
    )
    assert screen.count(prompt) >= 2
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        _, data = lab.request("GET", "/nbdocker/api/containers")
        row = next(c for c in data["containers"] if c["id"] == container["id"])
        if row["state"] == "exited":
            break
        time.sleep(0.2)
    assert row["state"] == "exited" and row["exit_code"] == 3
    _, diff = lab.request("GET", f"/nbdocker/api/containers/diff?container={container['id']}")
    assert {"kind": "A", "path": "/in-shell"} in diff["changes"]

    # Its terminal again: the same container starts again on the same files.
    status, again = lab.request("POST", "/nbdocker/api/shells", {"container": container["id"]})
    assert status == 201 and again["container"]["id"] == container["id"]
    screen = run_async(
        lambda: _terminal_until(
            lab, again["terminal"], ["", "cat /in-shell; exit\r"], [prompt, "[disconnected]"]
        )
    )
    assert "\r\nx\r\n" in screen
    lab.request("POST", "/nbdocker/api/containers/remove", {"container": container["id"]})


def test_a_container_not_made_for_a_terminal_is_refused(lab: JupyterLab, lab_home: Path) -> None:
    cli(lab_home, "create", "--name", "no-tty", BASE, "true")
    status, data = lab.request("POST", "/nbdocker/api/shells", {"container": "no-tty"})
    assert status == 400 and "not created for a terminal (-i -t)" in data["message"]
    status, data = lab.request("POST", "/nbdocker/api/shells", {"image": "no/such:image"})
    assert status == 404 and "no such image" in data["message"]
    cli(lab_home, "rm", "no-tty")


def test_a_push_reports_each_layer_and_reaches_the_registry(
    lab: JupyterLab, open_registry: Any
) -> None:
    import urllib.request as request

    name = f"{open_registry.host}/lab/busybox:v1"
    status, _ = lab.request("POST", "/nbdocker/api/images/tag", {"source": BASE, "target": name})
    assert status == 200

    final = _task_messages(lab, "/nbdocker/api/images/push", {"reference": name})[-1]["task"]
    assert final["status"] == "done", final
    assert final["message"] == "pushed 1 tag"
    assert any(line.endswith(": Pushed") for line in final["log"])
    assert any(line.startswith(f"{name}: digest: sha256:") for line in final["log"])
    with request.urlopen(f"{open_registry.url}/v2/lab/busybox/tags/list") as response:
        assert json.loads(response.read())["tags"] == ["v1"]
    lab.request("POST", "/nbdocker/api/images/remove", {"image": name})


def test_a_push_that_cannot_work_says_why(lab: JupyterLab) -> None:
    status, data = lab.request("POST", "/nbdocker/api/images/push", {"reference": "Not A Name"})
    assert status == 400 and "invalid reference" in data["message"].lower()


def test_a_terminal_runs_nbdocker_run_it_as_a_notebook_asks(lab: JupyterLab) -> None:
    status, shell = lab.request(
        "POST", "/nbdocker/api/shells", {"run": ["-it", "--name", "from-nb", BASE]}
    )
    assert status == 201, shell
    screen = run_async(
        lambda: _terminal_until(
            lab,
            shell["terminal"],
            ["", "echo $((40+2)); exit\r"],
            ["root@", "[disconnected]"],
        )
    )
    assert re.search(r"root@[0-9a-f]{12}:/# ", screen) and "\r\n42\r\n" in screen
    _, data = lab.request("GET", "/nbdocker/api/containers")
    row = next(c for c in data["containers"] if c["name"] == "from-nb")
    assert row["command"] == "/bin/sh" and row["tty"]
    lab.request("POST", "/nbdocker/api/containers/remove", {"container": "from-nb"})


def test_a_terminal_runs_nbdocker_run_i_without_a_tty(lab: JupyterLab) -> None:
    """``%docker run -i`` (no ``-t``): the tab opens; the container reads what is typed and
    answers, without a TTY of its own; Ctrl-D ends its input, the container stays."""
    status, shell = lab.request(
        "POST", "/nbdocker/api/shells", {"run": ["-i", "--name", "from-nb-i", BASE, "sh"]}
    )
    assert status == 201, shell
    screen = run_async(
        lambda: _terminal_until(
            lab,
            shell["terminal"],
            ["", "echo $((40+2)); tty -s || echo no-tty-$((6*7))\r", "\x04"],
            ["", "no-tty-42", "[disconnected]"],
        )
    )
    assert "\r\n42\r\n" in screen and "root@" not in screen
    _, data = lab.request("GET", "/nbdocker/api/containers")
    row = next(c for c in data["containers"] if c["name"] == "from-nb-i")
    assert row["state"] == "exited" and row["exit_code"] == 0 and not row["tty"]
    lab.request("POST", "/nbdocker/api/containers/remove", {"container": "from-nb-i"})


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["no/such:image"], 400, "with -i"),
        (["-t", BASE], 400, "with -i"),
        (["-it", "no/such:image"], 404, "no such image"),
        (["-it", "--bogus", BASE], 400, "unrecognized arguments"),
    ],
)
def test_a_run_that_cannot_work_is_refused(
    lab: JupyterLab, args: list[str], status: int, message: str
) -> None:
    got, data = lab.request("POST", "/nbdocker/api/shells", {"run": args})
    assert got == status and message in data["message"], data
