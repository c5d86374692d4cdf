"""A Docker image with nbdocker installed from this checkout, built offline, for running nbdocker
where notebooks run: inside ``docker run`` with Docker's default security settings.

Only Debian's and PyPI's package registries are reachable (no Docker Hub), so the image is made
here, in two parts:

1. a base, cached outside the repository (``$NBDOCKER_TEST_IMAGE_CACHE``, else
   ``~/.cache/nbdocker-test-image``) and keyed by the Debian packages, the project's
   dependencies and the ISO week: ``mmdebstrap`` makes a Debian 12 root file system with
   Python, PRoot, fakeroot and uidmap; this machine's pip downloads the binary wheels of
   nbdocker's dependencies (and nbclient) for *that* Python's version (the tests' own Python
   may be another) into it, and they are installed into ``/opt/nbdocker`` from there
   (``--no-index``: no network inside); the user ``jovyan`` (uid 1000, with a sub-id range)
   is added;
2. per test session, ``docker import`` of that tarball and a one-step ``docker build
   --network none`` that installs the wheel of this checkout.

``TestImage.run(...)`` then runs a shell script in a fresh container of it, as root or as uid
1000, with Docker's defaults (plus ``--network host``: the tests' engine has no bridge).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.dockerd import DockerEngine

REPO = Path(__file__).resolve().parents[2]
PACKAGES = (
    "python3",
    "python3-venv",
    "proot",
    "fakeroot",
    "uidmap",
    "passwd",
    "ca-certificates",
    "procps",
)
USER = "jovyan"
UID = 1000
PREFIX = "/opt/nbdocker"


def cache_dir() -> Path:
    explicit = os.environ.get("NBDOCKER_TEST_IMAGE_CACHE")
    return Path(explicit) if explicit else Path.home() / ".cache" / "nbdocker-test-image"


def _run(argv: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        check=False,
        **kwargs,  # type: ignore[call-overload]
    )
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise RuntimeError(f"`{' '.join(argv[:4])} …` exited {done.returncode}:\n{tail}")
    return done


def _key() -> str:
    digest = hashlib.sha256()
    digest.update((REPO / "pyproject.toml").read_bytes())
    digest.update(" ".join(PACKAGES).encode())
    digest.update(dt.date.today().strftime("%G-W%V").encode())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]


def dependencies() -> list[str]:
    """nbdocker's dependencies as the checkout declares them, and nbclient (what executes the
    tutorial notebook in the container)."""
    import tomllib

    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return [*declared, "nbclient"]


def download_wheels_command(root: str, dest: str) -> str:
    """The shell command (an mmdebstrap hook, run on this machine) that downloads the wheels
    of :func:`dependencies` into ``dest`` for the Python of the root file system ``root``
    (both shell words, e.g. ``"$1"``): ``pip download`` of binaries for its version and this
    machine's architecture, so that the image's pip installs them offline whatever Python runs
    these tests."""
    machine = platform.machine()
    platforms = [f"manylinux_2_{minor}_{machine}" for minor in range(40, 4, -1)]
    platforms += [f"manylinux2014_{machine}", f"linux_{machine}", "any"]
    argv = [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:"]
    argv += ["--implementation", "cp", *(f"--platform={p}" for p in platforms)]
    version = f'"$(chroot {root} python3 -c "import platform; print(platform.python_version())")"'
    words = [*map(shlex.quote, argv), "--python-version", version, "-d", dest]
    return " ".join([*words, *map(shlex.quote, dependencies())])


def base_tarball() -> Path:
    """The cached base root file system (made when missing; a failed run leaves nothing)."""
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    key = _key()
    target = directory / f"base-{key}.tar"
    if target.exists():
        return target
    partial = directory / f".base-{key}.{os.getpid()}.partial.tar"
    hooks = [
        '--customize-hook=mkdir -p "$1/tmp/wheels"',
        "--customize-hook=" + download_wheels_command('"$1"', '"$1/tmp/wheels"'),
        f'--customize-hook=chroot "$1" python3 -m venv {PREFIX}',
        f'--customize-hook=chroot "$1" sh -c "{PREFIX}/bin/pip install -q --no-index '
        '--find-links /tmp/wheels /tmp/wheels/*.whl"',
        '--customize-hook=rm -rf "$1/tmp/wheels"',
        f'--customize-hook=chroot "$1" useradd -m -u {UID} -s /bin/bash {USER}',
        f'--customize-hook=chroot "$1" usermod --add-subuids 100000-165535 '
        f"--add-subgids 100000-165535 {USER}",
    ]
    try:
        _run(
            [
                "mmdebstrap",
                "--variant=minbase",
                "--quiet",
                "--include=" + ",".join(PACKAGES),
                *hooks,
                "bookworm",
                str(partial),
            ],
            timeout=1800,
        )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    for old in directory.glob("base-*.tar"):
        if old != target:
            old.unlink(missing_ok=True)
    for old in directory.glob("wheels-*"):  # (where earlier versions kept the wheels)
        shutil.rmtree(old, ignore_errors=True)
    return target


def checkout_wheel(dest: Path) -> Path:
    """The wheel of this checkout (``pip wheel --no-deps``)."""
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--wheel-dir",
            str(dest),
            str(REPO),
        ],
        timeout=600,
    )
    return next(dest.glob("nbdocker-*.whl"))


@dataclass
class TestImage:
    """The image ``tag`` in ``engine``, with nbdocker at ``/opt/nbdocker/bin/nbdocker``."""

    __test__ = False  # (not a pytest test class)

    engine: DockerEngine
    tag: str

    def run(
        self,
        script: str,
        *,
        user: str = "root",
        seccomp_unconfined: bool = False,
        volumes: Mapping[str, str] = {},
        env: Mapping[str, str] = {},
        timeout: float = 3000,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``bash -euo pipefail -c SCRIPT`` in a new container (removed afterwards).

        ``user`` is ``root`` or ``jovyan`` (uid 1000); Docker's default security settings, the
        host's network (no bridge here), ``--seccomp=unconfined`` only when asked."""
        argv = ["run", "--rm", "--network", "host"]
        if user != "root":
            argv += ["-u", f"{UID}:{UID}", "-e", f"HOME=/home/{USER}", "-w", f"/home/{USER}"]
        if seccomp_unconfined:
            argv += ["--security-opt", "seccomp=unconfined"]
        for host, inside in volumes.items():
            argv += ["-v", f"{host}:{inside}"]
        for key, value in env.items():
            argv += ["-e", f"{key}={value}"]
        argv += [self.tag, "bash", "-euo", "pipefail", "-c", script]
        return self.engine.run(*argv, check=False, timeout=timeout)


def build(engine: DockerEngine, tag: str = "nbdocker-test:checkout") -> TestImage:
    """Import the base and add this checkout's wheel (offline: ``--network none``)."""
    base = base_tarball()
    engine.run("import", str(base), "nbdocker-test:base", timeout=900)
    with tempfile.TemporaryDirectory() as tmp:
        context = Path(tmp)
        wheel = checkout_wheel(context)
        (context / "Dockerfile").write_text(
            "FROM nbdocker-test:base\n"
            f"COPY {wheel.name} /tmp/\n"
            f"RUN {PREFIX}/bin/pip install -q --no-index --no-deps /tmp/{wheel.name} "
            f"&& rm /tmp/{wheel.name} && ln -s {PREFIX}/bin/nbdocker /usr/local/bin/nbdocker\n"
            f"ENV PATH={PREFIX}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
        )
        engine.run("build", "--network", "none", "-t", tag, str(context), timeout=900)
    return TestImage(engine, tag)
