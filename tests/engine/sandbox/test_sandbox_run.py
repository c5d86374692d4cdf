"""The sandbox against the real kernel, as whoever runs the tests (root, or rootless)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from nbdocker.engine.sandbox import (
    DEFAULT_CAPS,
    BindMount,
    SandboxError,
    SandboxSpec,
    check_support,
    run,
)
from tests.support.real import require

from .support import (
    host_mount_lines,
    make_layer,
    parse_runner,
    processes_with,
    run_box,
    runner_cmd,
    upper_listing,
)


@pytest.fixture(scope="module")
def layer(busybox_rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    support = check_support()
    if not support.usable:
        require("namespaces", support.reason)
    return make_layer(busybox_rootfs, tmp_path_factory.mktemp("layer") / "l1")


@pytest.mark.parametrize(
    ("argv", "rc", "err"),
    [
        (("true",), 0, ""),
        (("sh", "-c", "exit 3"), 3, ""),
        (("nosuchcmd",), 127, 'exec: "nosuchcmd": executable file not found in $PATH'),
        (("/no/such",), 127, 'exec: "/no/such": stat /no/such: no such file or directory'),
        (("/bin/notexec",), 126, 'exec: "/bin/notexec": permission denied'),
        (("/etc",), 126, 'exec: "/etc": is a directory'),
        # a child killed by SIGKILL: the shell reports 128+9 (PID 1 itself cannot be killed
        # from inside its own namespace, exactly as in Docker)
        (("sh", "-c", 'sh -c "kill -9 \\$\\$"; exit $?'), 137, ""),
    ],
)
def test_exit_codes(tmp_path: Path, layer: Path, argv: tuple[str, ...], rc: int, err: str) -> None:
    res = run_box(tmp_path, layer, argv)
    assert res.rc == rc, res.err
    assert err in res.err


def test_killed_pid1_is_128_plus_signal(tmp_path: Path, layer: Path) -> None:
    """A PID 1 that ignores SIGTERM is SIGKILLed after the stop timeout: 137, as `docker stop`."""
    job = {
        "spec": {
            "layers": [str(layer)],
            "upper": str(tmp_path / "u"),
            "work": str(tmp_path / "w"),
            "argv": ["sleep", "1000"],
        },
        "stop_timeout": 0.5,
        "out": str(tmp_path),
    }
    proc = subprocess.Popen(runner_cmd(job), stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()  # the runner's pid: it is about to call run()
    time.sleep(0.8)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    result = parse_runner(subprocess.CompletedProcess([], 0, out, ""))
    assert result["rc"] == 137


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_is_forwarded(tmp_path: Path, layer: Path, sig: signal.Signals) -> None:
    name = sig.name[3:]
    script = f'trap "echo got-{name}; exit 42" {name}; echo ready; sleep 1000 & wait'
    job = {
        "spec": {
            "layers": [str(layer)],
            "upper": str(tmp_path / "u"),
            "work": str(tmp_path / "w"),
            "argv": ["sh", "-c", script],
        },
        "out": str(tmp_path),
    }
    proc = subprocess.Popen(runner_cmd(job), stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 15
    while (
        "ready" not in (tmp_path / "stdout").read_text(errors="replace")
        if (tmp_path / "stdout").exists()
        else True
    ):
        assert time.monotonic() < deadline, "container never started"
        time.sleep(0.05)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=20)
    result = parse_runner(subprocess.CompletedProcess([], 0, out, ""))
    assert result["rc"] == 42
    assert f"got-{name}" in (tmp_path / "stdout").read_text()
    assert not processes_with("sleep 1000")


@pytest.mark.parametrize(
    ("argv", "kwargs", "expected"),
    [
        (("sh", "-c", "echo $$"), {}, "1"),
        (("hostname",), {"hostname": "0123456789ab"}, "0123456789ab"),
        (("cat", "/etc/hostname"), {"hostname": "0123456789ab"}, "0123456789ab"),
        (
            ("sh", "-c", "echo $FOO-$PATH"),
            {"env": ("FOO=bar",)},
            "bar-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ),
        (("sh", "-c", "echo $PATH"), {"env": ("PATH=/bin",)}, "/bin"),
        (("sh", "-c", "echo $HOME"), {}, "/root"),
        (("sh", "-c", "echo $HOME"), {"user": "app"}, "/home/app"),
        (("sh", "-c", "echo $HOME"), {"user": "app", "env": ("HOME=/x",)}, "/x"),
        (("pwd",), {"cwd": "/new/dir"}, "/new/dir"),
        (("pwd",), {"cwd": "/data"}, "/data"),
        (("id", "-u"), {"user": "app"}, "1000"),
        (("id", "-G"), {"user": "app"}, "1000 50"),
        (("id",), {"user": "1000:50"}, "uid=1000(app) gid=50(staff) groups=50(staff)"),
        (("id", "-u"), {"user": "4242"}, "4242"),
        (("id",), {"user": "nobody:root"}, "uid=65534(nobody) gid=0(root) groups=0(root)"),
        (("id", "-u"), {}, "0"),
        (("cat", "/proc/1/comm"), {}, "cat"),
        (
            ("sh", "-c", "grep -c . /proc/net/dev; ip -o link | cut -d' ' -f2"),
            {"network": "none"},
            "3\nlo:",
        ),
        (("sh", "-c", "ip -o link show lo | grep -o UP | head -1"), {"network": "none"}, "UP"),
        (("cat", "/proc/sys/kernel/ostype"), {}, "Linux"),
        (("sh", "-c", "echo x > /proc/sys/kernel/domainname || echo refused"), {}, "refused"),
        (("sh", "-c", "touch /sys/x 2>/dev/null || echo refused"), {}, "refused"),
        (
            ("sh", "-c", "ls /dev | tr '\\n' ' '"),
            {},
            "core fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero",
        ),
        (
            ("sh", "-c", "readlink /dev/ptmx; echo ok > /dev/shm/x && cat /dev/shm/x"),
            {},
            "pts/ptmx\nok",
        ),
        (("sh", "-c", "grep NoNewPrivs /proc/self/status"), {}, "NoNewPrivs:\t1"),
    ],
)
def test_environment(
    tmp_path: Path, layer: Path, argv: tuple[str, ...], kwargs: dict[str, object], expected: str
) -> None:
    res = run_box(tmp_path, layer, argv, **kwargs)
    assert (res.rc, res.out.strip()) == (0, expected), res.err


def test_capabilities_are_dockers_default(tmp_path: Path, layer: Path) -> None:
    res = run_box(tmp_path, layer, ("grep", "^Cap", "/proc/self/status"))
    caps = dict(line.split(":\t") for line in res.out.strip().splitlines())
    want = f"{DEFAULT_CAPS:016x}"
    assert want == "00000000a80425fb"
    assert caps == {
        "CapInh": "0" * 16,
        "CapPrm": want,
        "CapEff": want,
        "CapBnd": want,
        "CapAmb": "0" * 16,
    }
    res = run_box(tmp_path, layer, ("grep", "^Cap[PEB]", "/proc/self/status"), user="app")
    assert [line.split()[1] for line in res.out.splitlines()] == ["0" * 16, "0" * 16, want]


def test_user_errors_are_one_line(tmp_path: Path, layer: Path) -> None:
    with pytest.raises(SandboxError, match="unable to find user ghost: no matching entries"):
        run_box(tmp_path, layer, ("true",), user="ghost")
    with pytest.raises(SandboxError, match="unable to find group ghosts"):
        run_box(tmp_path, layer, ("true",), user="app:ghosts")


@pytest.mark.parametrize(
    ("spec_error", "kwargs"),
    [
        ("no command given", {"argv": ()}),
        ("is not absolute", {"cwd": "rel"}),
        ("the target must be an absolute path", {"mounts": (BindMount(Path("/tmp"), "rel"),)}),
        ("the source does not exist", {"mounts": (BindMount(Path("/nonexistent-x"), "/x"),)}),
    ],
)
def test_invalid_specs(
    tmp_path: Path, layer: Path, spec_error: str, kwargs: dict[str, object]
) -> None:
    argv = kwargs.pop("argv", ("true",))
    spec = SandboxSpec(
        layers=(layer,), upper=tmp_path / "u", work=tmp_path / "w", argv=argv, **kwargs
    )  # type: ignore[arg-type]
    with pytest.raises(SandboxError, match=spec_error):
        run(spec)


@pytest.mark.parametrize("rootfs", ["overlay", "copy"])
def test_upper_dir_changes(tmp_path: Path, layer: Path, rootfs: str) -> None:
    script = (
        "echo new > /new && rm /etc/gone && echo changed > /data/keep && "
        "rm -rf /data/sub && mkdir /data/sub && echo fresh > /data/sub/g && "
        "cat /etc/hosts /etc/resolv.conf /etc/hostname >/dev/null"
    )
    res = run_box(tmp_path, layer, ("sh", "-c", script), rootfs=rootfs, hostname="abc")
    assert res.rc == 0, res.err
    assert res.started is not None and res.started.rootfs == rootfs
    listing = upper_listing(res.upper)
    assert listing["new"] == "file"
    assert listing["etc/gone"] == "whiteout"
    assert listing["data/keep"] == "file"
    assert listing["data/sub/g"] == "file"
    assert (res.upper / "data/sub/g").read_text() == "fresh\n"
    if rootfs == "overlay":
        assert listing["data/sub"] == "opaque-dir"
    else:  # the copy fallback expresses the same as a whiteout of the old child
        assert listing["data/sub/f"] == "whiteout"
    for name in ("etc/hosts", "etc/hostname", "etc/resolv.conf", "proc", "sys", "dev"):
        assert name not in listing
    assert sorted(os.listdir(tmp_path / "work")) == []


@pytest.mark.parametrize("rootfs", ["overlay", "copy"])
def test_second_run_sees_first_runs_changes(tmp_path: Path, layer: Path, rootfs: str) -> None:
    assert (
        run_box(tmp_path, layer, ("sh", "-c", "echo 1 > /f; rm /etc/gone"), rootfs=rootfs).rc == 0
    )
    res = run_box(
        tmp_path, layer, ("sh", "-c", "cat /f; ls /etc/gone || echo absent"), rootfs=rootfs
    )
    assert res.out.split() == ["1", "absent"]
    assert upper_listing(res.upper)["etc/gone"] == "whiteout"


def test_copy_root_takes_a_tree_deeper_than_the_recursion_limit(
    tmp_path: Path, layer: Path
) -> None:
    """A step may make a tree of any depth: the copy root compares, copies and removes it
    without recursion (Python's limit is about 1,000 frames)."""
    deep = "/deep" + "/d" * 1500
    made = run_box(
        tmp_path, layer, ("sh", "-c", f"mkdir -p {deep} && echo end > {deep}/f"), rootfs="copy"
    )
    assert made.rc == 0, made.err
    assert (made.upper / deep.lstrip("/") / "f").read_text() == "end\n"
    again = run_box(tmp_path, layer, ("sh", "-c", f"cat {deep}/f && rm -rf /deep"), rootfs="copy")
    assert (again.rc, again.out) == (0, "end\n"), again.err
    # (/deep was only ever in the container's changes: gone, it needs no whiteout)
    assert not [name for name in upper_listing(again.upper) if name.startswith("deep")]
    assert sorted(os.listdir(tmp_path / "work")) == []


def test_bind_mounts(tmp_path: Path, layer: Path) -> None:
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    (ro / "in").write_text("host\n")
    single = tmp_path / "single.txt"
    single.write_text("one\n")
    mounts = (
        BindMount(rw, "/mnt/rw"),
        BindMount(ro, "/mnt/ro", readonly=True),
        BindMount(single, "/etc/single.txt", readonly=True),
    )
    script = (
        "echo w > /mnt/rw/out && cat /mnt/ro/in /etc/single.txt && "
        "(touch /mnt/ro/x 2>/dev/null || echo ro-refused)"
    )
    res = run_box(tmp_path, layer, ("sh", "-c", script), mounts=mounts)
    assert (res.rc, res.out.split()) == (0, ["host", "one", "ro-refused"]), res.err
    assert (rw / "out").read_text() == "w\n"
    assert not (ro / "x").exists()
    listing = upper_listing(res.upper)
    assert not any(k.startswith("mnt") or k == "etc/single.txt" for k in listing), listing


def test_symlinked_mount_target_stays_inside(tmp_path: Path, layer: Path) -> None:
    """An image symlink to a host path cannot redirect a mount onto the host."""
    lay = tmp_path / "top"
    (lay / "etc").mkdir(parents=True)
    (lay / "evil").symlink_to("/../../../../tmp/outside-target")
    src = tmp_path / "src"
    src.mkdir()
    spec = SandboxSpec(
        layers=(layer, lay),
        upper=tmp_path / "u",
        work=tmp_path / "w",
        argv=("sh", "-c", "ls -d /tmp/outside-target"),
        mounts=(BindMount(src, "/evil"),),
    )
    with open(tmp_path / "o", "wb") as out:
        assert run(spec, stdout=out.fileno()) == 0
    assert not Path("/tmp/outside-target").exists()


def test_no_leftover_processes_or_mounts(tmp_path: Path, layer: Path) -> None:
    marker = str(tmp_path)
    before = host_mount_lines(marker)
    res = run_box(tmp_path, layer, ("sh", "-c", "sleep 3131 & sleep 3131 & echo started"))
    assert res.out.strip() == "started"
    assert host_mount_lines(marker) == before == []
    assert processes_with("sleep 3131") == []
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    assert "sleep 3131" not in ps.stdout


def test_tty(tmp_path: Path, layer: Path) -> None:
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 111, 0, 0))
    before = termios.tcgetattr(slave)
    spec = SandboxSpec(
        layers=(layer,),
        upper=tmp_path / "u",
        work=tmp_path / "w",
        argv=("sh", "-c", "tty; stty size; read x; echo got-$x"),
        tty=True,
        stdin=True,
    )
    chunks: list[bytes] = []

    def reader() -> None:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)
            # answer `read` once `tty` and `stty size` have printed, whatever the size said
            # (waiting for the right size would hang the test instead of failing it)
            if b"".join(chunks).count(b"\n") == 2:
                os.write(master, b"hello\r")

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    rc = run(spec, stdin=slave, stdout=slave, stderr=slave)
    time.sleep(0.2)
    assert rc == 0
    assert termios.tcgetattr(slave) == before  # raw mode was undone
    os.close(slave)
    thread.join(5)
    os.close(master)
    text = b"".join(chunks).decode(errors="replace")
    assert "/dev/pts/0" in text
    assert "33 111" in text
    assert "got-hello" in text


def test_support_report() -> None:
    support = check_support()
    assert support.usable or support.reason
    if support.root:
        assert support.rootfs in ("overlay", "copy")


def test_run_from_worker_threads(tmp_path: Path, layer: Path) -> None:
    """Threads (a Jupyter kernel's) may call run(); two containers at once stay separate."""
    codes: dict[int, int] = {}

    def worker(n: int) -> None:
        sub = tmp_path / str(n)
        sub.mkdir()
        codes[n] = run_box(sub, layer, ("sh", "-c", f"echo $$ > /id; exit {n}")).rc

    threads = [threading.Thread(target=worker, args=(n,)) for n in (4, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert codes == {4: 4, 5: 5}
    assert (tmp_path / "4/upper/id").read_text() == "1\n"
