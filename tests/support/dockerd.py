"""A private Docker engine for the tests: Debian's ``dockerd`` on its own socket and data root.

The engine is the interoperability oracle (``docker load``, ``docker run``, ``docker import``):
images nbdocker makes must load and run in it. It never touches the host's Docker state:

- its socket, data root, exec root, pidfile, trust key and daemon config all live in one
  (short) state directory, and the client gets its own ``DOCKER_CONFIG``;
- ``--bridge=none --iptables=false --ip6tables=false``: no bridge, no NAT, no firewall rules,
  so containers must run with ``--network none`` or ``--network host``;
- dockerd (Debian's docker.io 20.10) starts its own containerd under the exec root;
- it runs under ``docker-init`` (tini) as a child subreaper with a parent-death signal: the
  containerd shims are reaped, and if the test process dies the engine is sent SIGTERM.

``stop()`` shuts it down (SIGTERM, bounded wait, SIGKILL of the whole process tree), unmounts
whatever is still mounted below the state directory and removes the data, keeping the log.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, overload

StrPath = str | os.PathLike[str]

DOCKER_CLI = "/usr/bin/docker"  # Debian's docker.io client (20.10); /usr/local/bin/docker is not it
DOCKERD_CANDIDATES = ("/usr/sbin/dockerd", "/usr/bin/dockerd")
DOCKER_INIT = "/usr/bin/docker-init"

# sockaddr_un.sun_path is 108 bytes; containerd puts sockets a few levels below the exec root.
_MAX_STATE_DIR_LEN = 60
_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Variables of the caller's environment that would point the client or daemon elsewhere.
_SCRUBBED_ENV = (
    "DOCKER_HOST",
    "DOCKER_CONTEXT",
    "DOCKER_CONFIG",
    "DOCKER_TLS_VERIFY",
    "DOCKER_CERT_PATH",
    "DOCKER_API_VERSION",
    "NOTIFY_SOCKET",
)


class DockerEngineError(RuntimeError):
    """The engine would not start (the message carries the tail of its log)."""


class DockerCommandError(subprocess.CalledProcessError):
    """A ``docker`` command exited non-zero; unlike its base class, its text shows stderr."""

    def __str__(self) -> str:
        def show(data: str | bytes | None) -> str:
            if data is None:
                return ""
            if isinstance(data, bytes):
                data = data.decode("utf-8", "replace")
            return data.strip()[-4000:]

        cmd = " ".join(str(a) for a in self.cmd)
        return (
            f"`{cmd}` exited {self.returncode}\n"
            f"--- stdout ---\n{show(self.stdout)}\n--- stderr ---\n{show(self.stderr)}"
        )


def find_dockerd() -> str | None:
    """Path of Debian's dockerd (docker.io installs it in /usr/sbin), or None."""
    for candidate in DOCKERD_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return None


class DockerEngine:
    """A dockerd of our own. Use as a context manager, or call ``start()`` / ``stop()``."""

    def __init__(
        self,
        state_dir: StrPath,
        *,
        dockerd: str | None = None,
        docker: str = DOCKER_CLI,
        storage_driver: str | None = None,
        start_timeout: float = 60.0,
        shutdown_timeout: int = 2,
    ) -> None:
        self.state_dir = Path(state_dir).absolute()
        if len(str(self.state_dir)) > _MAX_STATE_DIR_LEN:
            raise ValueError(
                f"state dir {self.state_dir} is too long for unix sockets below it; "
                f"use a path of at most {_MAX_STATE_DIR_LEN} characters"
            )
        self.dockerd = dockerd or find_dockerd() or DOCKERD_CANDIDATES[0]
        self.docker = docker
        self.requested_storage_driver = storage_driver
        self.start_timeout = start_timeout
        self.shutdown_timeout = shutdown_timeout

        self.socket = self.state_dir / "docker.sock"
        self.data_root = self.state_dir / "data"
        self.exec_root = self.state_dir / "exec"
        self.pidfile = self.state_dir / "docker.pid"
        self.config_file = self.state_dir / "daemon.json"
        self.client_config = self.state_dir / "client"
        self.log_path = self.state_dir / "dockerd.log"

        self.storage_driver: str | None = None  # what the running engine uses
        self.server_version: str | None = None
        self.start_seconds: float | None = None  # how long start() took
        self._proc: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------ properties

    @property
    def host(self) -> str:
        """The ``DOCKER_HOST`` value for this engine."""
        return f"unix://{self.socket}"

    @property
    def env(self) -> dict[str, str]:
        """Environment for a ``docker`` client talking to this engine (and only to it)."""
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
        env["DOCKER_HOST"] = self.host
        env["DOCKER_CONFIG"] = str(self.client_config)
        return env

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """PID of the process we started (docker-init, or dockerd without it)."""
        return None if self._proc is None else self._proc.pid

    # ------------------------------------------------------------ lifecycle

    def start(self) -> DockerEngine:
        """Start dockerd and wait (bounded) until ``docker version`` answers.

        Storage driver: the one asked for, else dockerd's own pick (overlay2 here), falling back
        to vfs if the engine will not come up with it. On failure nothing is left running and
        DockerEngineError carries the tail of the log.
        """
        if self.running:
            return self
        if not os.access(self.dockerd, os.X_OK):
            raise DockerEngineError(f"{self.dockerd} not found (apt-get install docker.io)")
        if not os.access(self.docker, os.X_OK):
            raise DockerEngineError(f"{self.docker} not found (apt-get install docker.io)")
        began = time.monotonic()
        drivers: list[str | None] = [self.requested_storage_driver]
        if self.requested_storage_driver is None:
            drivers.append("vfs")
        errors: list[str] = []
        for driver in drivers:
            try:
                self._start_once(driver)
            except DockerEngineError as exc:
                errors.append(str(exc))
                self.stop()
                continue
            self.start_seconds = time.monotonic() - began
            return self
        raise DockerEngineError("\n\n".join(errors))

    def _start_once(self, storage_driver: str | None) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.client_config.mkdir(exist_ok=True)
        # Our own daemon.json keeps /etc/docker/daemon.json out, and the trust key that
        # dockerd 20.10 would otherwise create in /etc/docker goes into the state dir.
        self.config_file.write_text(
            json.dumps({"deprecated-key-path": str(self.state_dir / "key.json")}) + "\n"
        )
        argv = [
            self.dockerd,
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-forward=false",
            "--ip-masq=false",
            "--userland-proxy=false",
            f"--config-file={self.config_file}",
            f"--host={self.host}",
            f"--data-root={self.data_root}",
            f"--exec-root={self.exec_root}",
            f"--pidfile={self.pidfile}",
            f"--shutdown-timeout={self.shutdown_timeout}",
        ]
        if storage_driver:
            argv.append(f"--storage-driver={storage_driver}")
        if os.access(DOCKER_INIT, os.X_OK):
            # -s: subreaper, so the shims containerd double-forks are ours to reap;
            # -p SIGTERM: if the test process dies, dockerd still gets shut down.
            argv = [DOCKER_INIT, "-s", "-p", "SIGTERM", "--", *argv]
        daemon_env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
        daemon_env["PATH"] = _SYSTEM_PATH + ":" + daemon_env.get("PATH", "")
        with open(self.log_path, "ab") as log:
            log.write(f"--- {time.strftime('%F %T')} starting: {' '.join(argv)}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=daemon_env,
                cwd=self.state_dir,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.start_timeout
        last_error = ""
        while True:
            if self._proc.poll() is not None:
                raise DockerEngineError(
                    f"dockerd exited with {self._proc.returncode} while starting; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            if self.socket.exists():
                probe = self._docker(["version", "--format", "{{.Server.Version}}"], timeout=10)
                if probe.returncode == 0:
                    self.server_version = probe.stdout.decode().strip()
                    break
                last_error = probe.stderr.decode(errors="replace").strip()
            if time.monotonic() > deadline:
                raise DockerEngineError(
                    f"dockerd did not answer within {self.start_timeout:.0f} s ({last_error}); "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(0.1)
        info = self._docker(["info", "--format", "{{.Driver}}"], timeout=30)
        self.storage_driver = info.stdout.decode().strip() or None

    def stop(self, *, keep_data: bool = False, timeout: float | None = None) -> None:
        """Stop the engine and everything it started; unmount and (unless keep_data) delete
        its data. Safe to call twice or after a failed start. The log is kept."""
        proc = self._proc
        if proc is not None:
            if proc.poll() is None:
                # dockerd would give each container its own stop timeout (10 s) on SIGTERM.
                running = self._docker(["ps", "-q"], timeout=20).stdout.decode().split()
                if running:
                    self._docker(["rm", "-f", *running], timeout=60)
                tree = _process_tree(proc.pid)
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)  # docker-init forwards it to dockerd
                wait = timeout if timeout is not None else self.shutdown_timeout + 30
                try:
                    proc.wait(wait)
                except subprocess.TimeoutExpired:
                    _kill_all(_process_tree(proc.pid) | tree)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(10)
                # Shims or containers that outlived dockerd (reparented away from us).
                time.sleep(0.05)
                _kill_all(tree)
            self._proc = None
        unmount_below(self.state_dir)
        if not keep_data:
            for path in (self.data_root, self.exec_root):
                shutil.rmtree(path, ignore_errors=True)
            with contextlib.suppress(FileNotFoundError):
                self.socket.unlink()

    def __enter__(self) -> DockerEngine:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------ the client

    def _docker(self, args: list[str], timeout: float) -> subprocess.CompletedProcess[bytes]:
        try:
            return subprocess.run(
                [self.docker, *args],
                env=self.env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            return subprocess.CompletedProcess(exc.cmd, -1, b"", b"timed out")

    @overload
    def run(
        self,
        *args: StrPath,
        input: bytes,
        check: bool = ...,
        text: Literal[False] | None = ...,
        timeout: float | None = ...,
        cwd: StrPath | None = ...,
        env: Mapping[str, str] | None = ...,
    ) -> subprocess.CompletedProcess[bytes]: ...

    @overload
    def run(
        self,
        *args: StrPath,
        input: None = ...,
        check: bool = ...,
        text: Literal[False],
        timeout: float | None = ...,
        cwd: StrPath | None = ...,
        env: Mapping[str, str] | None = ...,
    ) -> subprocess.CompletedProcess[bytes]: ...

    @overload
    def run(
        self,
        *args: StrPath,
        input: str | None = ...,
        check: bool = ...,
        text: Literal[True] | None = ...,
        timeout: float | None = ...,
        cwd: StrPath | None = ...,
        env: Mapping[str, str] | None = ...,
    ) -> subprocess.CompletedProcess[str]: ...

    def run(
        self,
        *args: StrPath,
        input: str | bytes | None = None,
        check: bool = True,
        text: bool | None = None,
        timeout: float | None = 600,
        cwd: StrPath | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[Any]:
        """Run ``/usr/bin/docker ARGS`` against this engine and capture its output.

        Text (str in, str out) unless `input` is bytes or ``text=False`` (for ``docker save``
        and friends). With `check`, a non-zero exit raises DockerCommandError showing stderr.
        Containers must use ``--network none`` or ``--network host``: there is no bridge.
        """
        if text is None:
            text = not isinstance(input, bytes)
        argv = [self.docker, *(os.fspath(a) for a in args)]
        full_env = self.env
        if env:
            full_env.update(env)
        kwargs: dict[str, Any] = {"encoding": "utf-8", "errors": "replace"} if text else {}
        result = subprocess.run(
            argv,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            env=full_env,
            cwd=cwd,
            timeout=timeout,
            check=False,
            **kwargs,
        )
        if check and result.returncode != 0:
            raise DockerCommandError(result.returncode, argv, result.stdout, result.stderr)
        return result

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the engine's log (for error messages)."""
        try:
            content = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(content[-lines:])


# ---------------------------------------------------------------- processes and mounts


def _read_stat(pid: int) -> tuple[int, int] | None:
    """(ppid, start time) of a process, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = raw[raw.rindex(b")") + 2 :].split()
    return int(fields[1]), int(fields[19])


def _process_tree(root: int) -> set[tuple[int, int]]:
    """The process `root` and all its descendants, as (pid, start time) pairs."""
    parent: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _read_stat(int(entry))
            if stat is not None:
                parent[int(entry)] = stat
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in parent.items():
        children.setdefault(ppid, []).append(pid)
    found: set[tuple[int, int]] = set()
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in parent:
            found.add((pid, parent[pid][1]))
        todo.extend(children.get(pid, []))
    return found


def _kill_all(procs: Iterable[tuple[int, int]]) -> None:
    """SIGKILL each process that is still the one we saw (same start time)."""
    for pid, started in procs:
        stat = _read_stat(pid)
        if stat is not None and stat[1] == started:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def _mount_points() -> list[str]:
    points = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            raw = line.split()[4]
            points.append(raw.encode("latin-1", "surrogateescape").decode("unicode_escape"))
    return points


_MNT_DETACH = 2


def unmount_below(root: StrPath) -> list[str]:
    """Lazily unmount every mount at or below `root`, deepest and newest first."""
    prefix = os.path.abspath(root)
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    done: list[str] = []
    for _ in range(10):  # mounts can be stacked on one point
        points = [p for p in _mount_points() if p == prefix or p.startswith(prefix + "/")]
        if not points:
            break
        for point in reversed(points):
            if libc.umount2(point.encode(), _MNT_DETACH) == 0:
                done.append(point)
            else:
                subprocess.run(["umount", "-l", point], capture_output=True, check=False)
                done.append(point)
    return done
