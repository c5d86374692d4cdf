"""The rest of the Dockerfile reference, as a user writes it: heredocs, directives, mounts,
.dockerignore, remote ADD, stages running side by side, scoping of ARG, interrupts, rootless."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support import RunNbdocker, ok
from tests.support.terminal import run_on_terminal

from .conftest import write_context


def _run(nbdocker: RunNbdocker, image: str, *cmd: str) -> str:
    return ok(nbdocker("run", "--rm", image, *cmd))


def test_heredocs(nbdocker: RunNbdocker, base: str, tmp_path: Path) -> None:
    dockerfile = (
        f"FROM {base}\nENV WHO=world\n"
        'RUN <<EOF\necho "hello $WHO" > /script-out\necho second >> /script-out\nEOF\n'
        "RUN cat <<-A > /tabs && cat <<'B' > /quoted\n\tindented\n\tA\nno $WHO here\nB\n"
        "COPY <<EOF /etc/conf\nname=$WHO\nEOF\n"
        "COPY <<one.txt <<two.txt /multi/\nfirst\none.txt\nsecond\ntwo.txt\n"
    )
    ctx = write_context(tmp_path / "h", {"Dockerfile": dockerfile})
    ok(nbdocker("build", "-t", "heredoc:1", ctx))
    out = _run(
        nbdocker,
        "heredoc:1",
        "sh",
        "-c",
        "cat /script-out /tabs /quoted /etc/conf /multi/one.txt /multi/two.txt",
    )
    assert out.splitlines() == [
        "hello world",
        "second",
        "indented",
        "no $WHO here",
        "name=world",
        "first",
        "second",
    ]


def test_escape_directive_and_continuations(
    nbdocker: RunNbdocker, base: str, tmp_path: Path
) -> None:
    dockerfile = (
        "# escape=`\n"
        f"FROM {base}\n"
        "RUN echo one \\`\n"
        "    # a comment inside the continuation\n"
        "\n"
        "    two > /joined\n"
        "# syntax=ignored/after-the-top\n"
        "ENV PATHLIKE=C:\\dir\n"
    )
    ctx = write_context(tmp_path / "e", {"Dockerfile": dockerfile})
    ok(nbdocker("build", "-t", "escape:1", ctx))
    # the backslash is an ordinary character, so sh sees "echo one \    two": an escaped space
    assert _run(nbdocker, "escape:1", "cat", "/joined") == "one   two\n"
    [info] = json.loads(ok(nbdocker("inspect", "escape:1")))
    assert "PATHLIKE=C:\\dir" in info["Config"]["Env"]


def test_run_mounts_and_network(nbdocker: RunNbdocker, base: str, tmp_path: Path) -> None:
    dockerfile = (
        f"FROM {base}\n"
        "RUN --mount=type=cache,target=/cache echo run >> /cache/log && cp /cache/log /seen\n"
        "RUN --mount=type=bind,source=data,target=/data cat /data/in > /from-bind\n"
        "RUN --network=none grep -c : /proc/net/dev > /netdevs\n"
    )
    ctx = write_context(tmp_path / "m", {"Dockerfile": dockerfile, "data/in": "bound\n"})
    ok(nbdocker("build", "-t", "mounts:1", ctx))
    assert _run(nbdocker, "mounts:1", "cat", "/seen", "/from-bind", "/netdevs") == "run\nbound\n1\n"
    # the cache mount outlives the build: a --no-cache rebuild sees the first run's file
    ok(nbdocker("build", "--no-cache", "-t", "mounts:2", ctx))
    assert _run(nbdocker, "mounts:2", "cat", "/seen") == "run\nrun\n"
    # nothing of the mounts is in the image
    assert "No such file" in ok(
        nbdocker("run", "--rm", "mounts:1", "sh", "-c", "ls /cache/log /data/in 2>&1; true")
    )


def test_dockerignore_applies_to_builds(nbdocker: RunNbdocker, base: str, tmp_path: Path) -> None:
    ctx = write_context(
        tmp_path / "i",
        {
            "Dockerfile": f"FROM {base}\nCOPY . /app/\n",
            ".dockerignore": "*.log\nsecrets/\n!secrets/public.txt\n**/cache\n",
            "main.py": "print(1)\n",
            "debug.log": "x",
            "secrets/key": "k",
            "secrets/public.txt": "p",
            "sub/cache/blob": "b",
            "sub/keep.txt": "k",
        },
    )
    out = ok(nbdocker("build", "-t", "ignore:1", ctx))
    assert out.startswith("Sending build context to the engine  ")
    listing = _run(nbdocker, "ignore:1", "find", "/app", "-type", "f").split()
    assert sorted(listing) == [
        "/app/.dockerignore",
        "/app/Dockerfile",
        "/app/main.py",
        "/app/secrets/public.txt",
        "/app/sub/keep.txt",
    ]


def test_add_from_a_url_with_checksum(
    nbdocker: RunNbdocker, base: str, tmp_path: Path, web_server: tuple[str, Path]
) -> None:
    url, root = web_server
    (root / "tool.sh").write_text("echo tool\n")
    digest = "sha256:" + hashlib.sha256(b"echo tool\n").hexdigest()
    ctx = write_context(
        tmp_path / "a",
        {"Dockerfile": (f"FROM {base}\nADD --checksum={digest} {url}/tool.sh /opt/\n")},
    )
    ok(nbdocker("build", "-t", "add-url:1", ctx))
    assert (
        _run(nbdocker, "add-url:1", "stat", "-c", "%a %n", "/opt/tool.sh") == "600 /opt/tool.sh\n"
    )
    (root / "tool.sh").write_text("tampered\n")
    bad = nbdocker("build", "--no-cache", "-t", "add-url:2", ctx)
    assert bad.returncode == 1 and b"Dockerfile:2:" in bad.stderr
    assert b"checksum" in bad.stderr.lower()


def test_arg_scoping_and_copy_from_an_image(
    nbdocker: RunNbdocker, base: str, tmp_path: Path
) -> None:
    ok(
        nbdocker(
            "build",
            "-t",
            "donor:1",
            write_context(
                tmp_path / "d",
                {"Dockerfile": f"FROM {base}\nRUN mkdir /gift && echo from-donor > /gift/g\n"},
            ),
        )
    )
    dockerfile = (
        "ARG BASE=nbdtest/base:1\nARG SHARED=global\n"
        'FROM $BASE AS first\nRUN echo "[$SHARED]" > /no-redeclare\n'
        'ARG SHARED\nRUN echo "[$SHARED]" > /redeclared\n'
        "FROM $BASE\nCOPY --from=first /no-redeclare /redeclared /\n"
        "COPY --from=donor:1 /gift /gift\n"
    )
    ctx = write_context(tmp_path / "s", {"Dockerfile": dockerfile})
    ok(nbdocker("build", "-t", "scoped:1", ctx))
    assert (
        _run(nbdocker, "scoped:1", "cat", "/no-redeclare", "/redeclared", "/gift/g")
        == "[]\n[global]\nfrom-donor\n"
    )


def test_independent_stages_run_side_by_side(
    nbdocker: RunNbdocker, base: str, tmp_path: Path
) -> None:
    dockerfile = (
        f"FROM {base} AS a\nRUN sleep 1 && echo a > /a\n"
        f"FROM {base} AS b\nRUN sleep 1 && echo b > /b\n"
        f"FROM {base}\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n"
    )
    ctx = write_context(tmp_path / "p", {"Dockerfile": dockerfile})
    events = [
        json.loads(x) for x in ok(nbdocker("build", "--progress", "json", ctx)).split("\n") if x
    ]
    order = [(e["event"], e["step"]) for e in events if e["event"] in ("StepStarted", "StepDone")]
    # both RUN steps (2 and 4) start before either of them is done
    first_done = min(order.index(("StepDone", 2)), order.index(("StepDone", 4)))
    assert order.index(("StepStarted", 2)) < first_done
    assert order.index(("StepStarted", 4)) < first_done


def test_interrupt_tags_nothing_and_keeps_the_cache(
    nbdocker: RunNbdocker, base: str, tmp_path: Path, nbdocker_home: Path
) -> None:
    ctx = write_context(
        tmp_path / "int",
        {"Dockerfile": (f"FROM {base}\nRUN echo before > /before\nRUN echo started && sleep 60\n")},
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbdocker", "build", "-t", "interrupted:1", str(ctx)],
        env=dict(os.environ, NBDOCKER_HOME=str(nbdocker_home)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    for raw in proc.stdout:
        if raw.strip() == b"started" or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) != 0
    assert "interrupted" not in ok(nbdocker("images"))
    assert not list((nbdocker_home / "builds").glob("*/step-*"))
    (ctx / "Dockerfile").write_text(f"FROM {base}\nRUN echo before > /before\nRUN true\n")
    out = ok(nbdocker("build", ctx))
    assert out.count("Using cache") == 1


def test_from_scratch_and_build_network_none(
    nbdocker: RunNbdocker, base: str, tmp_path: Path
) -> None:
    ctx = write_context(
        tmp_path / "scratch",
        {
            "Dockerfile": 'FROM scratch\nCOPY busybox /bin/busybox\nCMD ["/bin/busybox", "true"]\n',
            "busybox": Path("/bin/busybox").read_bytes(),
        },
    )
    (ctx / "busybox").chmod(0o755)
    ok(nbdocker("build", "-t", "from-scratch:1", ctx))
    [info] = json.loads(ok(nbdocker("inspect", "from-scratch:1")))
    assert len(info["RootFS"]["Layers"]) == 1
    assert nbdocker("run", "--rm", "from-scratch:1").returncode == 0
    net = write_context(
        tmp_path / "net", {"Dockerfile": f"FROM {base}\nRUN grep -c : /proc/net/dev > /count\n"}
    )
    ok(nbdocker("build", "--network", "none", "-t", "no-net:1", net))
    assert _run(nbdocker, "no-net:1", "cat", "/count") == "1\n"


def test_live_display_on_a_terminal(base: str, tmp_path: Path, nbdocker_home: Path) -> None:
    ctx = write_context(
        tmp_path / "live", {"Dockerfile": (f"FROM {base}\nRUN echo visible-output\nENV A=1\n")}
    )
    code, text, _ = run_on_terminal(
        [sys.executable, "-m", "nbdocker", "build", "-t", "live:1", str(ctx)],
        dict(os.environ, NBDOCKER_HOME=str(nbdocker_home), TERM="xterm", COLUMNS="120"),
    )
    assert code == 0
    assert "[2/3]" in text and "RUN echo visible-output" in text and "✓" in text
