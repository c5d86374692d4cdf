"""``run``, ``ps``, ``start``, ``rm``, ``diff``, ``export`` and ``commit`` as a user sees them."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import select
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from tests.support import RunNbdocker, ok, ok_bytes
from tests.support.store import snapshot


@pytest.fixture
def base(nbdocker: RunNbdocker, busybox_tarball: Path) -> str:
    """training/sinatra: the busybox base with a user, a CMD and an env."""
    ok(
        nbdocker(
            "import",
            "-c",
            'CMD ["/bin/sh"]',
            "-c",
            "ENV GREETING=hello",
            busybox_tarball,
            "training/sinatra",
        )
    )
    return "training/sinatra"


def test_tutorial_change_and_commit(nbdocker: RunNbdocker, base: str) -> None:
    """run a container, install something in it, exit, commit it as ouruser/sinatra:v2."""
    result = nbdocker(
        "run",
        "--name",
        "tut",
        base,
        "sh",
        "-c",
        "mkdir -p /usr/lib/gems && echo json > /usr/lib/gems/json && echo done",
    )
    assert ok(result) == "done\n"
    image_id = ok(
        nbdocker(
            "commit", "-m", "Added json gem", "-a", "Docker Newbee", "tut", "ouruser/sinatra:v2"
        )
    ).strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", image_id)
    [info] = json.loads(ok(nbdocker("inspect", "ouruser/sinatra:v2")))
    assert info["Comment"] == "Added json gem" and info["Author"] == "Docker Newbee"
    assert len(info["RootFS"]["Layers"]) == 2
    assert info["Config"]["Env"] == ["GREETING=hello"]
    history = ok(nbdocker("history", "ouruser/sinatra:v2")).splitlines()
    assert history[1].startswith(image_id[7:19]) and "Added json gem" in history[1]
    rows = [r.split()[:3] for r in ok(nbdocker("images")).splitlines()[1:]]
    assert ["ouruser/sinatra", "v2", image_id[7:19]] in rows
    assert (
        ok(nbdocker("run", "--rm", "ouruser/sinatra:v2", "cat", "/usr/lib/gems/json")) == "json\n"
    )


def test_run_applies_image_config_and_flags(
    nbdocker: RunNbdocker, base: str, tmp_path: Path
) -> None:
    assert ok(nbdocker("run", "--rm", base, "sh", "-c", "echo $GREETING $$ $(hostname)")).split()[
        :2
    ] == ["hello", "1"]
    (tmp_path / "env").write_text("FROM_FILE=yes\n# comment\n")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "in").write_text("from host\n")
    out = ok(
        nbdocker(
            "run",
            "--rm",
            "-e",
            "GREETING=bye",
            "--env-file",
            tmp_path / "env",
            "-w",
            "/tmp/work",
            "-u",
            "65534",
            "-v",
            f"{tmp_path / 'shared'}:/mnt/shared:ro",
            "--network",
            "none",
            base,
            "sh",
            "-c",
            "echo $GREETING $FROM_FILE; pwd; id -u; cat /mnt/shared/in; "
            "touch /mnt/shared/x 2>/dev/null || echo read-only; cat /proc/net/dev | grep -c :",
        )
    )
    assert out.splitlines() == ["bye yes", "/tmp/work", "65534", "from host", "read-only", "1"]
    assert ok(nbdocker("run", "--rm", "--entrypoint", "echo", base, "a", "b")) == "a b\n"


def test_hostname_is_the_container_id(nbdocker: RunNbdocker, base: str) -> None:
    ok(nbdocker("run", "--name", "named", base, "hostname"))
    cid = ok(nbdocker("ps", "-a", "-q")).strip()
    assert ok(nbdocker("start", "-a", "named")).strip() == cid


def test_exit_codes_and_failures(nbdocker: RunNbdocker, base: str, nbdocker_home: Path) -> None:
    assert nbdocker("run", "--rm", base, "sh", "-c", "exit 3").returncode == 3
    missing = nbdocker("run", "--rm", base, "nosuchcommand")
    assert missing.returncode == 127
    assert b'exec: "nosuchcommand": executable file not found in $PATH' in missing.stderr
    # The command's child killed by a signal: the shell reports 128+9.
    killed = nbdocker("run", "--rm", base, "sh", "-c", "sleep 30 & kill -9 $!; wait $!")
    assert killed.returncode == 137
    before = snapshot(nbdocker_home)
    unknown = nbdocker("run", "--rm", "no/such:image", "true")
    assert unknown.returncode == 1
    assert unknown.stderr.decode().count("\n") == 1 and b"no such image" in unknown.stderr
    assert snapshot(nbdocker_home) == before
    assert not ok(nbdocker("ps", "-a", "-q"))


def test_ps_start_diff_export_and_rm(nbdocker: RunNbdocker, base: str) -> None:
    ok(
        nbdocker(
            "run",
            "--name",
            "c1",
            base,
            "sh",
            "-c",
            "echo $(( $(cat /count 2>/dev/null || echo 0) + 1 )) > /count; rm /bin/ls; "
            "mkdir /newdir; echo x > /newdir/f; echo changed >> /etc/passwd",
        )
    )
    assert ok(nbdocker("ps")).splitlines()[1:] == []
    lines = ok(nbdocker("ps", "-a")).splitlines()
    assert lines[0].split() == [
        "CONTAINER",
        "ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ]
    assert "Exited (0)" in lines[1] and lines[1].endswith("c1") and base in lines[1]
    # start runs the same command again on the same file system.
    ok(nbdocker("start", "-a", "c1"))
    assert ok(nbdocker("diff", "c1")).splitlines() == [
        "C /bin",
        "D /bin/ls",
        "A /count",
        "C /etc",
        "C /etc/passwd",
        "A /newdir",
        "A /newdir/f",
    ]
    export = nbdocker("export", "c1")
    with tarfile.open(fileobj=io.BytesIO(ok_bytes(export))) as tar:
        names = set(tar.getnames())
        assert tar.extractfile("count").read() == b"2\n"  # type: ignore[union-attr]
    assert "bin/ls" not in names and "bin/busybox" in names and "newdir/f" in names
    assert ok(nbdocker("rm", "c1")) == "c1\n"
    assert ok(nbdocker("ps", "-a", "-q")) == ""
    gone = nbdocker("diff", "c1")
    assert gone.returncode == 1 and b"no such container: c1" in gone.stderr


def test_commit_changes_config_and_history(nbdocker: RunNbdocker, base: str) -> None:
    ok(nbdocker("run", "--name", "c2", "-e", "EXTRA=1", base, "touch", "/made"))
    image = ok(
        nbdocker(
            "commit",
            "-c",
            "EXPOSE 4567",
            "-c",
            'CMD ["/bin/sh", "-l"]',
            "-c",
            "LABEL stage=dev",
            "c2",
        )
    ).strip()
    [info] = json.loads(ok(nbdocker("inspect", image)))
    assert info["RepoTags"] == []
    cfg = info["Config"]
    assert cfg["Cmd"] == ["/bin/sh", "-l"]
    assert cfg["ExposedPorts"] == {"4567/tcp": {}}
    assert cfg["Labels"] == {"stage": "dev"}
    assert "EXTRA=1" in cfg["Env"]
    created_by = ok(nbdocker("history", "--no-trunc", image)).splitlines()[1]
    assert "touch /made" in created_by


def test_commit_without_changes_adds_an_empty_history_entry(
    nbdocker: RunNbdocker, base: str
) -> None:
    ok(nbdocker("run", "--name", "same", base, "true"))
    image = ok(nbdocker("commit", "same", "same:1")).strip()
    [info] = json.loads(ok(nbdocker("inspect", image)))
    assert len(info["RootFS"]["Layers"]) == 1
    assert ok(nbdocker("history", "-q", "same:1")).splitlines()[0] == image[7:19]


def test_image_in_use_is_not_deleted(nbdocker: RunNbdocker, base: str) -> None:
    ok(nbdocker("run", "--name", "user", base, "true"))
    refused = nbdocker("rmi", base)
    assert refused.returncode == 1 and b"being used by container user" in refused.stderr
    ok(nbdocker("rm", "user"))
    assert "Deleted:" in ok(nbdocker("rmi", base))


def test_removing_a_running_container(
    nbdocker: RunNbdocker, base: str, nbdocker_home: Path
) -> None:
    env = dict(os.environ, NBDOCKER_HOME=str(nbdocker_home))
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbdocker", "run", "--name", "busy", base, "sleep", "60"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "busy" not in ok(nbdocker("ps")):
        time.sleep(0.1)
    assert "Up " in ok(nbdocker("ps"))
    refused = nbdocker("rm", "busy")
    assert refused.returncode == 1 and b"running container" in refused.stderr
    assert ok(nbdocker("rm", "-f", "busy")) == "busy\n"
    assert proc.wait(timeout=30) == 137
    assert ok(nbdocker("ps", "-a", "-q")) == ""
    assert not (nbdocker_home / "containers").exists() or not any(
        (nbdocker_home / "containers").iterdir()
    )
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(nbdocker_home) not in mounts


def test_ctrl_c_reaches_the_container(
    nbdocker: RunNbdocker, base: str, nbdocker_home: Path
) -> None:
    env = dict(os.environ, NBDOCKER_HOME=str(nbdocker_home))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nbdocker",
            "run",
            "--rm",
            base,
            "sh",
            "-c",
            "trap 'echo got INT; exit 5' INT; echo ready; while true; do sleep 0.1; done",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    proc.send_signal(2)
    assert proc.wait(timeout=30) == 5
    assert proc.stdout.read() == b"got INT\n"


def test_run_it_gives_a_terminal_with_the_tutorial_prompt(base: str, nbdocker_home: Path) -> None:
    env = dict(os.environ, NBDOCKER_HOME=str(nbdocker_home), TERM="xterm")
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(
            sys.executable,
            [
                sys.executable,
                "-m",
                "nbdocker",
                "run",
                "-t",
                "-i",
                "-e",
                "PS1=\\u@\\h:\\w\\$ ",
                base,
                "/bin/sh",
            ],
            env,
        )
    seen = b""

    def read_until(pattern: bytes, timeout: float = 30) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while pattern not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(fd, 4096)
                except OSError:
                    break

    read_until(b":/# ")
    assert re.search(rb"root@[0-9a-f]{12}:/# ", seen), seen
    os.write(fd, b"echo $((6*7)); tty; exit 4\n")
    read_until(b"/dev/pts/")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert b"42" in seen and b"/dev/pts/" in seen
    assert os.waitstatus_to_exitcode(status) == 4


def test_run_with_a_config_larger_than_a_pipe_holds(nbdocker: RunNbdocker, base: str) -> None:
    # 70 kB of environment makes the sandbox's config larger than a pipe's 64 KiB buffer.
    big = "x" * 70_000
    out = ok(
        nbdocker("run", "--rm", "-e", f"BIG={big}", base, "sh", "-c", 'echo "${#BIG}"', timeout=60)
    )
    assert out == "70000\n"


@pytest.mark.parametrize(
    ("flags", "code", "words"),
    [
        (["-u", "99999999999"], 1, "uids and gids must be in range"),
        (["-u", "0:99999999999"], 1, "uids and gids must be in range"),
        (["-e", "=x"], 2, "invalid environment variable: =x"),
    ],
)
def test_run_refuses_bad_user_and_environment_in_one_line(
    nbdocker: RunNbdocker, base: str, nbdocker_home: Path, flags: list[str], code: int, words: str
) -> None:
    before = snapshot(nbdocker_home)
    result = nbdocker("run", "--rm", *flags, base, "true")
    err = result.stderr.decode()
    assert result.returncode == code, err
    assert len(err.strip().splitlines()) == 1 and words in err, err
    assert snapshot(nbdocker_home) == before
    assert not ok(nbdocker("ps", "-a", "-q"))


def test_rmi_leaves_no_layer_lock_files_behind(
    nbdocker: RunNbdocker, base: str, nbdocker_home: Path
) -> None:
    assert ok(nbdocker("run", "--rm", base, "echo", "hi")) == "hi\n"
    ok(nbdocker("rmi", base))
    layers = nbdocker_home / "layers"
    assert not [p.name for p in layers.iterdir() if p.name.startswith(".lock-")]


# A container that rewrites its files all the time (also used by test_rootless): a commit that
# does not pause it fails about one time in three, on a file removed while it is read.
WRITER = (
    "cd /tmp; echo ready; i=0; while true; do i=$((i+1)); rm -rf d; mkdir d; "
    "for k in $(seq 1 300); do echo $i > d/f$k; done; echo $i > n$((i % 20)); done"
)
COUNTER = "cat /tmp/n* | sort -n | tail -1"  # how far the writer got


def test_commit_pauses_a_running_container(
    nbdocker: RunNbdocker, base: str, nbdocker_home: Path
) -> None:
    """A container rewriting its files all the time: every commit succeeds and its image runs,
    and the container runs on afterwards (Docker's ``--pause``, on by default)."""
    env = dict(os.environ, NBDOCKER_HOME=str(nbdocker_home))
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbdocker", "run", "--name", "writer", base, "sh", "-c", WRITER],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        for n in range(20):
            ok(nbdocker("commit", "writer", f"snap:{n}"))
            out = ok(nbdocker("run", "--rm", f"snap:{n}", "sh", "-c", COUNTER))
            assert out.strip().isdigit(), out
        assert proc.poll() is None
        listed = ok(nbdocker("ps"))
        assert "writer" in listed and "Up " in listed, listed
        # and it still writes: the counter moves on
        before = int(ok(nbdocker("run", "--rm", "snap:19", "sh", "-c", COUNTER)))
        time.sleep(0.2)
        ok(nbdocker("commit", "--pause", "writer", "snap:later"))
        after = int(ok(nbdocker("run", "--rm", "snap:later", "sh", "-c", COUNTER)))
        assert after > before
        # -p=false reads it running: sooner or later a file goes away meanwhile, and that is
        # one line, nothing stored
        images = ok(nbdocker("images", "-q"))
        for _ in range(40):
            unpaused = nbdocker("commit", "-p=false", "writer")
            if unpaused.returncode != 0:
                break
            images = ok(nbdocker("images", "-q"))
        assert unpaused.returncode == 1
        err = unpaused.stderr.decode()
        assert err.count("\n") == 1 and "while its changes were read" in err, err
        assert ok(nbdocker("images", "-q")) == images
    finally:
        ok(nbdocker("rm", "-f", "writer"))
        proc.wait(timeout=30)
