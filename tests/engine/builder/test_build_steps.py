"""``nbdocker build``: the tutorial's Dockerfile, Docker's output, the cache that explains
itself, failures, stages and reproducibility."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import RunNbdocker, ok

from .conftest import write_context

TUTORIAL = """\
# This is a comment
FROM {base}
MAINTAINER Docker Newbee <newbee@docker.com>
RUN mkdir -p /var/lib/apt && echo updated > /var/lib/apt/lists
RUN echo "ruby ruby-dev" > /installed
RUN echo sinatra >> /installed
"""


def _steps(output: str) -> list[tuple[int, str]]:
    """(step number, "cache"|"run"|"from") for each step of a classic build output."""
    out: list[tuple[int, str]] = []
    lines = output.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"Step (\d+)/\d+ : (\S+)", line)
        if m:
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            kind = "cache" if "Using cache" in nxt else ("from" if m.group(2) == "FROM" else "run")
            out.append((int(m.group(1)), kind))
    return out


def test_tutorial_dockerfile_builds_with_docker_shaped_output(
    nbdocker: RunNbdocker, base: str, tmp_path: Path
) -> None:
    ctx = write_context(tmp_path / "sinatra", {"Dockerfile": TUTORIAL.format(base=base)})
    out = ok(nbdocker("build", "-t=ouruser/sinatra:v2", ctx))
    lines = out.splitlines()
    assert lines[0].startswith("Sending build context to the engine  ")
    assert lines[1] == f"Step 1/5 : FROM {base}"
    assert re.fullmatch(r" ---> [0-9a-f]{12}", lines[2])
    assert "Step 2/5 : MAINTAINER Docker Newbee <newbee@docker.com>" in lines
    assert any(re.fullmatch(r" ---> Running in [0-9a-f]{12}", x) for x in lines)
    assert any(x.startswith("Removing intermediate container ") for x in lines)
    m = re.search(
        r"Successfully built ([0-9a-f]{12})\nSuccessfully tagged ouruser/sinatra:v2\n$", out
    )
    assert m
    [info] = json.loads(ok(nbdocker("inspect", "ouruser/sinatra:v2")))
    assert info["Id"][7:19] == m.group(1)
    assert info["Author"] == "Docker Newbee <newbee@docker.com>"
    assert len(info["RootFS"]["Layers"]) == 4  # base + three RUN steps
    assert (
        ok(nbdocker("run", "--rm", "ouruser/sinatra:v2", "cat", "/installed"))
        == "ruby ruby-dev\nsinatra\n"
    )
    history = ok(nbdocker("history", "ouruser/sinatra:v2")).splitlines()[1:]
    assert len(history) == 5 and "MAINTAINER" in history[3]


def test_cache_rebuilds_exactly_the_changed_steps(
    nbdocker: RunNbdocker, base: str, tmp_path: Path
) -> None:
    dockerfile = (
        f"FROM {base}\nARG FLAVOUR=plain\nRUN echo one > /one\nCOPY app.txt /app/\n"
        "RUN cat /app/app.txt > /copy\nRUN echo $FLAVOUR > /flavour\nENV DONE=1\n"
    )
    ctx = write_context(
        tmp_path / "c", {"Dockerfile": dockerfile, "app.txt": "v1\n", "other.txt": "x"}
    )
    first = ok(nbdocker("build", "--progress", "plain", ctx))
    assert [k for _, k in _steps(first)] == ["from"] + ["run"] * 6
    again = ok(nbdocker("build", "--progress", "plain", ctx))
    assert [k for _, k in _steps(again)] == ["from"] + ["cache"] * 6
    # touching a file (mtime only) or changing an unused file rebuilds nothing
    (ctx / "app.txt").touch()
    (ctx / "other.txt").write_text("changed")
    assert [k for _, k in _steps(ok(nbdocker("build", ctx)))] == ["from"] + ["cache"] * 6
    # editing the copied file rebuilds COPY and everything after it, and says why
    (ctx / "app.txt").write_text("v2\n")
    out = ok(nbdocker("build", "--progress", "plain", ctx))
    assert [k for _, k in _steps(out)] == ["from", "cache", "cache", "run", "run", "run", "run"]
    assert " ---> Cache miss: file app.txt changed" in out
    # a build arg rebuilds from its first use (the RUN after it), not from its ARG line
    out = ok(nbdocker("build", "--progress", "plain", "--build-arg", "FLAVOUR=spicy", ctx))
    assert [k for _, k in _steps(out)] == ["from", "cache", "run", "run", "run", "run", "run"]
    assert "build arg FLAVOUR changed ('plain' → 'spicy')" in out
    # editing one line rebuilds from that line
    (ctx / "Dockerfile").write_text(dockerfile.replace("ENV DONE=1", "ENV DONE=2"))
    out = ok(nbdocker("build", "--progress", "plain", "--build-arg", "FLAVOUR=spicy", ctx))
    assert [k for _, k in _steps(out)] == ["from"] + ["cache"] * 5 + ["run"]
    assert "the instruction changed (it was: ENV DONE=1)" in out
    out = ok(nbdocker("build", "--no-cache", "--progress", "plain", ctx))
    assert [k for _, k in _steps(out)] == ["from"] + ["run"] * 6


def _reasons(output: str) -> list[str]:
    return re.findall(r" ---> Cache miss: (.*)", output)


def test_why_rebuilt_names_only_earlier_builds_of_the_same_dockerfile(
    nbdocker: RunNbdocker, base: str, tmp_path: Path
) -> None:
    a = write_context(tmp_path / "a", {"Dockerfile": f"FROM {base}\nRUN echo a > /a\n"})
    out = ok(nbdocker("build", "-t", "a:1", "--progress", "plain", a))
    assert _reasons(out) == ["first build"]
    # another Dockerfile on the same parent: its first build, not "the instruction changed"
    b_text = f"FROM {base}\nMAINTAINER Docker Newbee\nRUN echo b > /b\n"
    b = write_context(tmp_path / "b", {"Dockerfile": b_text})
    out = ok(nbdocker("build", "-t", "b:1", "--progress", "plain", b))
    assert _reasons(out) == ["first build", "first build"]
    # its next build is explained by its own earlier one
    (b / "Dockerfile").write_text(b_text.replace("Newbee", "Oldbee"))
    out = ok(nbdocker("build", "-t", "b:1", "--progress", "plain", b))
    assert _reasons(out) == [
        "the instruction changed (it was: MAINTAINER Docker Newbee)",
        "step 2 before it was rebuilt",
    ]
    # the same -t target from another folder is the same Dockerfile
    other = write_context(tmp_path / "b2", {"Dockerfile": f"FROM {base}\nLABEL x=1\n"})
    out = ok(nbdocker("build", "-t", "b:1", "--progress", "plain", other))
    assert _reasons(out) == ["the instruction changed (it was: MAINTAINER Docker Oldbee)"]
    # without -t, the same file path is the same Dockerfile
    c = write_context(tmp_path / "c", {"Dockerfile": f"FROM {base}\nENV C=1\n"})
    assert _reasons(ok(nbdocker("build", "--progress", "plain", c))) == ["first build"]
    (c / "Dockerfile").write_text(f"FROM {base}\nENV C=2\n")
    out = ok(nbdocker("build", "--progress", "plain", "-f", c / "Dockerfile", c))
    assert _reasons(out) == ["the instruction changed (it was: ENV C=1)"]
    # steps a Dockerfile took from another's cache count as its own builds
    e = write_context(tmp_path / "e", {"Dockerfile": f"FROM {base}\nRUN echo a > /a\n"})
    assert "Using cache" in ok(nbdocker("build", "-t", "e:1", e))
    (e / "Dockerfile").write_text(f"FROM {base}\nRUN echo e > /a\n")
    out = ok(nbdocker("build", "-t", "e:1", "--progress", "plain", e))
    assert _reasons(out) == ["the instruction changed (it was: RUN echo a > /a)"]
    # a new base under an unchanged Dockerfile
    (e / "Dockerfile").write_text("FROM a:1\nRUN echo e > /a\n")
    out = ok(nbdocker("build", "-t", "e:1", "--progress", "plain", e))
    assert _reasons(out) == [
        "the image it builds on changed since the last build of this Dockerfile"
    ]


# What a fully cached build must leave unloaded: the namespace machinery only a RUN step that
# runs needs, the registry client, and the tar and compression code of new layers. Start-up is
# most of a cached build's time.
_NOT_FOR_A_CACHED_BUILD = (
    "nbdocker.engine.sandbox._run",
    "nbdocker.engine.sandbox._exec",
    "nbdocker.engine.sandbox._spec",
    "ctypes",
    "nbdocker.engine.registry",
    "httpx",
    "nbdocker.engine.layer.compression",
    "nbdocker.engine.layer.ingest",
    "zstandard",
    "isal",
    "tarfile",
    "concurrent.futures",
)


def test_a_cached_build_loads_neither_the_sandbox_nor_the_registry_client(
    nbdocker: RunNbdocker, base: str, tmp_path: Path
) -> None:
    ctx = write_context(tmp_path / "c", {"Dockerfile": TUTORIAL.format(base=base)})
    ok(nbdocker("build", "-t", "cached:1", ctx))
    probe = (
        "import sys\n"
        "from nbdocker.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "print(*sys.modules, file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, "build", "-t", "cached:1", str(ctx)],
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert [k for _, k in _steps(result.stdout.decode())] == ["from"] + ["cache"] * 4
    loaded = result.stderr.decode().split()
    assert "nbdocker.engine.builder.build" in loaded
    assert not [
        m
        for m in loaded
        if any(m == name or m.startswith(name + ".") for name in _NOT_FOR_A_CACHED_BUILD)
    ]


def test_json_progress_is_one_event_per_line(
    nbdocker: RunNbdocker, base: str, tmp_path: Path
) -> None:
    ctx = write_context(tmp_path / "j", {"Dockerfile": f"FROM {base}\nRUN echo hello\n"})
    lines = ok(nbdocker("build", "--progress", "json", ctx)).splitlines()
    events = [json.loads(line) for line in lines]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "BuildStarted" and kinds[-1] == "BuildFinished"
    assert {"event": "StepLog", "step": 2, "line": "hello"} in events
    assert any(e["event"] == "StepMiss" and e["reason"] for e in events)


def test_failed_run_names_the_line_tags_nothing_and_keeps_earlier_steps(
    nbdocker: RunNbdocker, base: str, tmp_path: Path
) -> None:
    ctx = write_context(
        tmp_path / "f",
        {
            "Dockerfile": (
                f"FROM {base}\nRUN echo kept > /kept\nRUN echo first line; echo oops >&2; exit 3\n"
            )
        },
    )
    result = nbdocker("build", "-t", "broken:1", ctx)
    assert result.returncode == 3  # the failed command's status, as docker build
    err = result.stderr.decode()
    last = err.strip().splitlines()[-1]
    assert last.startswith("Error: Dockerfile:3: The command '/bin/sh -c echo first line;")
    assert last.endswith("returned a non-zero code: 3")
    assert "oops" in result.stdout.decode() + err
    assert "broken" not in ok(nbdocker("images"))
    (ctx / "Dockerfile").write_text(f"FROM {base}\nRUN echo kept > /kept\nRUN true\n")
    assert [k for _, k in _steps(ok(nbdocker("build", ctx)))] == ["from", "cache", "run"]


@pytest.mark.parametrize(
    ("dockerfile", "needle"),
    [
        ("FROM {base}\nFROB x\n", "Dockerfile:2: unknown instruction"),
        ("FROM {base}\nRUN --bogus=1 true\n", "Dockerfile:2:"),
        ("FROM {base}\nCOPY --from=nowhere /x /y\n", "Dockerfile:2:"),
        ("FROM {base}\nCOPY missing.txt /x\n", "Dockerfile:2:"),
        ("FROM {base}\nCOPY ../outside /x\n", "Dockerfile:2:"),
        ("FROM no/such:image\n", "Dockerfile:1:"),
        ("RUN true\n", "Dockerfile:1:"),
    ],
)
def test_bad_dockerfiles_fail_with_one_line_at_the_right_place(
    nbdocker: RunNbdocker, base: str, tmp_path: Path, dockerfile: str, needle: str
) -> None:
    ctx = write_context(tmp_path / "bad", {"Dockerfile": dockerfile.format(base=base)})
    before = ok(nbdocker("images", "-q"))
    result = nbdocker("build", "-t", "bad:1", ctx)
    assert result.returncode in (1, 2)
    err = result.stderr.decode()
    assert err.count("\n") == 1 and needle in err and "Traceback" not in err, err
    assert ok(nbdocker("images", "-q")) == before


def test_a_bad_tag_is_refused_before_any_step_runs(
    nbdocker: RunNbdocker, base: str, tmp_path: Path
) -> None:
    ctx = write_context(tmp_path / "t", {"Dockerfile": f"FROM {base}\nRUN echo ran > /ran\n"})
    result = nbdocker("build", "-t", "ok:1", "-t", "Bad Name!", ctx)
    assert result.returncode == 2 and result.stdout == b""
    err = result.stderr.decode()
    assert err.count("\n") == 1 and "-t Bad Name!: invalid reference format" in err
    # nothing ran: the step is not in the cache
    out = ok(nbdocker("build", "--progress", "plain", ctx))
    assert "Using cache" not in out and "Cache miss: first build" in out


def test_unknown_target_and_too_many_layers(
    nbdocker: RunNbdocker, base: str, tmp_path: Path
) -> None:
    ctx = write_context(tmp_path / "t", {"Dockerfile": f"FROM {base} AS one\nRUN true\n"})
    result = nbdocker("build", "--target", "two", ctx)
    assert result.returncode == 1 and b"target stage 'two' not found" in result.stderr
    many = f"FROM {base}\n" + "".join(f"RUN echo {i} > /f{i}\n" for i in range(127))
    ctx = write_context(tmp_path / "many", {"Dockerfile": many})
    result = nbdocker("build", ctx)
    assert result.returncode == 1
    assert b"Dockerfile:128: the image would have 128 layers, more than 127" in result.stderr


def test_stages_target_and_skipping(nbdocker: RunNbdocker, base: str, tmp_path: Path) -> None:
    dockerfile = (
        f"FROM {base} AS builder\nRUN echo built > /artifact\n"
        f"FROM {base} AS broken\nRUN exit 1\n"
        f"FROM {base} AS other\nRUN echo other > /other\n"
        f"FROM {base}\nCOPY --from=builder /artifact /artifact\n"
        'COPY --from=other /other /other\nCMD ["cat", "/artifact", "/other"]\n'
    )
    ctx = write_context(tmp_path / "s", {"Dockerfile": dockerfile})
    out = ok(nbdocker("build", "-t", "multi:1", ctx))
    assert "RUN exit 1" not in out  # the stage nobody needs is skipped
    assert ok(nbdocker("run", "--rm", "multi:1")) == "built\nother\n"
    out = ok(nbdocker("build", "--target", "builder", "-t", "multi:builder", ctx))
    assert "Step 2/2 : RUN echo built > /artifact" in out
    assert ok(nbdocker("run", "--rm", "multi:builder", "cat", "/artifact")) == "built\n"


def test_reproducible_with_source_date_epoch(
    nbdocker: RunNbdocker, base: str, tmp_path: Path
) -> None:
    ctx = write_context(
        tmp_path / "r",
        {
            "Dockerfile": (
                f"FROM {base}\nRUN echo same > /file && mkdir /dir\nCOPY a.txt /a.txt\nENV X=1\n"
            ),
            "a.txt": "a\n",
        },
    )
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    one = ok(nbdocker("build", "-q", "--no-cache", ctx, env=env)).strip()
    two = ok(nbdocker("build", "-q", "--no-cache", ctx, env=env)).strip()
    assert one == two
    [info] = json.loads(ok(nbdocker("inspect", one)))
    assert info["Created"].startswith("2023-11-14T22:13:20")
    three = ok(nbdocker("build", "-q", "--no-cache", ctx)).strip()
    assert three != one


def test_onbuild_triggers_run_in_the_child(
    nbdocker: RunNbdocker, base: str, tmp_path: Path
) -> None:
    parent = write_context(
        tmp_path / "p", {"Dockerfile": (f"FROM {base}\nONBUILD RUN echo triggered > /trigger\n")}
    )
    ok(nbdocker("build", "-t", "with-trigger:1", parent))
    [info] = json.loads(ok(nbdocker("inspect", "with-trigger:1")))
    assert info["Config"]["OnBuild"] == ["RUN echo triggered > /trigger"]
    child = write_context(tmp_path / "c", {"Dockerfile": "FROM with-trigger:1\nRUN true\n"})
    ok(nbdocker("build", "-t", "child:1", child))
    assert ok(nbdocker("run", "--rm", "child:1", "cat", "/trigger")) == "triggered\n"
    [info] = json.loads(ok(nbdocker("inspect", "child:1")))
    assert not info["Config"]["OnBuild"]


def test_stdin_dockerfile_tar_context_iidfile_labels_and_tags(
    nbdocker: RunNbdocker, base: str, tmp_path: Path
) -> None:
    dockerfile = f"FROM {base}\nRUN echo from-stdin > /s\n".encode()
    iid = tmp_path / "iid"
    out = ok(
        nbdocker(
            "build",
            "-t",
            "a:1",
            "-t",
            "b:2",
            "--label",
            "team=edu",
            "--iidfile",
            iid,
            "-",
            input=dockerfile,
        )
    )
    image = iid.read_text()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", image) and "Successfully tagged b:2" in out
    [info] = json.loads(ok(nbdocker("inspect", "a:1")))
    assert info["Id"] == image and info["Config"]["Labels"] == {"team": "edu"}
    assert sorted(info["RepoTags"]) == ["a:1", "b:2"]
    ctx = write_context(
        tmp_path / "tarctx", {"Dockerfile": f"FROM {base}\nCOPY f /f\n", "f": "in tar\n"}
    )
    tar = subprocess.run(["tar", "-C", str(ctx), "-c", "."], capture_output=True, check=True).stdout
    ok(nbdocker("build", "-t", "fromtar:1", "-", input=tar))
    assert ok(nbdocker("run", "--rm", "fromtar:1", "cat", "/f")) == "in tar\n"
    other = tmp_path / "elsewhere.Dockerfile"
    other.write_text(f"FROM {base}\nRUN echo f-flag > /f\n")
    ok(nbdocker("build", "-f", other, "-t", "fflag:1", ctx))
    assert ok(nbdocker("run", "--rm", "fflag:1", "cat", "/f")) == "f-flag\n"
    quiet = ok(nbdocker("build", "-q", "-f", "-", ctx, input=dockerfile))
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", quiet)


def test_images_all_shows_the_intermediate_images_and_rmi_removes_them(
    nbdocker: RunNbdocker, base: str, tmp_path: Path
) -> None:
    ctx = write_context(tmp_path / "a", {"Dockerfile": f"FROM {base}\nRUN true\nENV A=1\n"})
    ok(nbdocker("build", "-t", "layered:1", ctx))
    plain = ok(nbdocker("images")).splitlines()[1:]
    everything = ok(nbdocker("images", "-a")).splitlines()[1:]
    assert len(plain) == 2  # the base and the build
    assert len(everything) == 3  # plus the intermediate image of RUN true
    removed = ok(nbdocker("rmi", "layered:1")).splitlines()
    assert removed[0] == "Untagged: layered:1"
    assert sum(line.startswith("Deleted: ") for line in removed) == 2
    assert len(ok(nbdocker("images", "-a")).splitlines()[1:]) == 1
