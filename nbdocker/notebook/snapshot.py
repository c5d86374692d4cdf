"""``%snapshot``: an image that reproduces the kernel's Python environment.

1. The lock: every distribution :mod:`importlib.metadata` sees on ``sys.path`` (the first of a
   name wins, as for imports), pinned ``name==version``, sorted. Distributions installed from
   a local directory or archive, editable or not, or from a VCS (PEP 610 ``direct_url.json``)
   cannot be fetched from an index: they are *called out* as comments in the lock and in the
   result and left out of the install. Decision: left out rather than built into wheels and
   copied in, because a local tree may hold anything and a snapshot must not smuggle a work in
   progress into an image silently; the comment says what to do.
2. The base must run the kernel's Python. Without ``--base``, it is Debian bookworm (made by
   mmdebstrap, :mod:`.rootfs`) with *the kernel's own interpreter* installed
   (``nbdocker/python3.11.7:bookworm``, :mod:`.kernel_python`): the same Python, patch release
   included. When the kernel's interpreter cannot be carried over (it is the system's Python,
   or this machine is not Debian bookworm), the base is ``nbdocker/python3:bookworm``, Debian's
   ``python3`` (3.11.2). ``--base IMAGE`` is checked by running ``python3`` in it. Another
   ``major.minor`` is refused (wheels and the standard library differ). Another patch release
   is accepted only when every pinned distribution supports it: each one's ``Requires-Python``
   (from its installed metadata) is checked against the base's version *before the snapshot
   is built*, and the refusal names each distribution that cannot be installed there and the
   Python it requires. When all of them can, the snapshot is built and says which Python it
   runs.
3. The Dockerfile makes a venv ``/opt/snapshot``, COPYs the lock to
   ``/opt/snapshot/requirements.lock`` from a small temporary context, runs ``pip install -r``
   it from the index (PyPI over the host network), and puts the venv first on ``PATH``. The
   lock is also the image's label ``org.nbdocker.snapshot.lock``. The lock has no time stamp, so
   an unchanged environment rebuilds from the cache.
4. The kernel's pip trust settings reach the install but not the image: a CA bundle pip is
   configured with (``PIP_CERT``, pip's ``cert`` setting, ``REQUESTS_CA_BUNDLE``) is put in the
   context and bind-mounted for that one RUN (``--mount=type=bind``), so a TLS-inspecting proxy
   works and the image keeps Debian's own trust store.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..engine import Engine
from ..engine.builder import BuildOptions
from ..engine.errors import ImageNotFound, NbdockerError
from ..engine.image import Image
from .translations import tr

__all__ = [
    "EnvironmentLock",
    "check_base_python",
    "environment_lock",
    "make_snapshot",
    "python_version",
]

LOCK_LABEL = "org.nbdocker.snapshot.lock"
PYTHON_LABEL = "org.nbdocker.snapshot.python"
DEFAULT_BASE = "nbdocker/python3:bookworm"
DEBIAN = "debian:bookworm"
VENV = "/opt/snapshot"


@dataclass(frozen=True)
class LocalDistribution:
    name: str
    version: str
    url: str
    editable: bool


@dataclass
class EnvironmentLock:
    python: str  # "3.11.2"
    pinned: list[tuple[str, str]] = field(default_factory=list)
    local: list[LocalDistribution] = field(default_factory=list)
    requires_python: dict[str, str] = field(default_factory=dict)  # name → specifier

    def unsupported_on(self, version: str) -> list[tuple[str, str, str]]:
        """(name, version, Requires-Python) of each pinned distribution that cannot be
        installed on Python ``version``."""
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        out = []
        for name, pinned in self.pinned:
            spec = self.requires_python.get(name)
            if not spec:
                continue
            try:
                allowed = SpecifierSet(spec).contains(version, prereleases=True)
            except InvalidSpecifier:
                continue  # pip ignores a specifier it cannot read, and so do we
            if not allowed:
                out.append((name, pinned, spec))
        return out

    @property
    def text(self) -> str:
        lines = [
            f"# nbdocker snapshot: Python {self.python} ({platform.machine()}), "
            f"{len(self.pinned)} distributions pinned",
        ]
        for dist in self.local:
            kind = "editable install" if dist.editable else "local install"
            lines.append(
                f"# NOT INSTALLED ({kind} from {dist.url}): {dist.name}=={dist.version}"
                " — publish it or add it to the image yourself"
            )
        lines += [f"{name}=={version}" for name, version in self.pinned]
        return "\n".join(lines) + "\n"


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def environment_lock(path: list[str] | None = None) -> EnvironmentLock:
    """The lock of the distributions importable from ``path`` (default ``sys.path``)."""
    version = ".".join(map(str, sys.version_info[:3]))
    lock = EnvironmentLock(version)
    seen: set[str] = set()
    for dist in md.distributions(path=path if path is not None else sys.path):
        name = dist.metadata["Name"]
        if not name or _normal(name) in seen:
            continue
        seen.add(_normal(name))
        direct = dist.read_text("direct_url.json")
        if direct:
            try:
                info = json.loads(direct)
            except ValueError:
                info = {}
            url = str(info.get("url", ""))
            if url.startswith("file:") or "vcs_info" in info:
                editable = bool((info.get("dir_info") or {}).get("editable"))
                lock.local.append(LocalDistribution(name, dist.version, url, editable))
                continue
        lock.pinned.append((name, dist.version))
        requires = dist.metadata.get("Requires-Python")
        if requires:
            lock.requires_python[name] = str(requires)
    lock.pinned.sort(key=lambda p: _normal(p[0]))
    lock.local.sort(key=lambda d: _normal(d.name))
    return lock


def python_version(engine: Engine, image: str) -> str:
    """``python3``'s version in ``image`` (``3.11.2``), by running it in a throwaway container."""
    from ..engine.containers import RunOptions

    probe = "import sys; print('.'.join(map(str, sys.version_info[:3])))"
    container = engine.create(image, ["python3", "-c", probe], RunOptions(entrypoint=""))
    read_fd, write_fd = os.pipe()
    try:
        try:
            code = engine.start(container.id, stdout=write_fd, stderr=write_fd)
        finally:
            os.close(write_fd)
        with os.fdopen(read_fd, "rb") as f:
            out = f.read().decode(errors="replace").strip()
    finally:
        engine.remove_container(container.id, force=True)
    if code != 0 or not re.fullmatch(r"\d+\.\d+\.\d+", out.splitlines()[-1] if out else ""):
        raise NbdockerError(
            f"base image {image} has no working python3 ({out.splitlines()[-1] if out else code}); "
            "give a --base with Python installed"
        )
    return out.splitlines()[-1]


def _default_base(engine: Engine, build: Callable[[Callable[[], Image]], Image]) -> tuple[str, str]:
    """(base image, why it is not the kernel's own interpreter — "" when it is)."""
    from .kernel_python import NotPortable, kernel_python_base

    try:
        engine.get(DEBIAN)
    except ImageNotFound:
        from .rootfs import debian_rootfs

        engine.import_image(debian_rootfs(), DEBIAN)
    try:
        return kernel_python_base(engine, DEBIAN, "bookworm", build), ""
    except NotPortable as exc:
        why = f"the kernel's own Python cannot be installed in the image: {exc}"
    dockerfile = (
        f"FROM {DEBIAN}\n"
        "RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
        "--no-install-recommends python3 python3-venv ca-certificates "
        "&& rm -rf /var/lib/apt/lists/*\n"
    )
    options = BuildOptions(tags=(DEFAULT_BASE,), dockerfile_text=dockerfile)
    build(lambda: engine.build(None, options))
    return DEFAULT_BASE, why


def pip_ca_bundle() -> str | None:
    """The CA bundle the kernel's pip trusts, if one is configured (else None)."""
    for name in ("PIP_CERT", "REQUESTS_CA_BUNDLE"):
        if os.environ.get(name) and os.path.isfile(os.environ[name]):
            return os.environ[name]
    try:
        listing = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in listing.splitlines():
        key, _, value = line.partition("=")
        if key.endswith(".cert"):
            path = value.strip().strip("'\"")
            if os.path.isfile(path):
                return path
    return None


def snapshot_dockerfile(base: str, with_ca: bool) -> str:
    path = f"{VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    mount = "--mount=type=bind,source=pip-ca.pem,target=/run/pip-ca.pem " if with_ca else ""
    cert = "--cert /run/pip-ca.pem " if with_ca else ""
    return (
        f"FROM {base}\n"
        f"RUN python3 -m venv {VENV}\n"
        f"COPY requirements.lock {VENV}/requirements.lock\n"
        f"RUN {mount}{VENV}/bin/python -m pip install --no-cache-dir "
        f"--disable-pip-version-check -q {cert}-r {VENV}/requirements.lock\n"
        f"ENV VIRTUAL_ENV={VENV} PATH={path}\n"
        'CMD ["python3"]\n'
    )


def make_snapshot(
    engine: Engine,
    tag: str,
    *,
    base: str | None = None,
    no_cache: bool = False,
    on_build: Callable[[Callable[[], Image]], Image] | None = None,
    lock: EnvironmentLock | None = None,
) -> Image:
    """Build ``tag``: the kernel's environment (see the module docstring). ``on_build`` wraps
    each build (the magic's progress and interrupt handling). Prints which distributions were
    left out."""
    build = on_build or (lambda run: run())
    lock = lock or environment_lock()
    why = ""
    if base is None:
        base, why = _default_base(engine, build)
    found = python_version(engine, base)
    check_base_python(base, found, lock, why)
    ca = pip_ca_bundle()
    options = BuildOptions(
        tags=(tag,),
        dockerfile_text=snapshot_dockerfile(base, ca is not None),
        dockerfile_name="snapshot",
        no_cache=no_cache,
        labels=((LOCK_LABEL, lock.text), (PYTHON_LABEL, lock.python)),
        comment=f"snapshot of Python {lock.python} at {sys.prefix}",
    )
    with tempfile.TemporaryDirectory(prefix="nbdocker-snapshot-") as context:
        (Path(context) / "requirements.lock").write_text(lock.text)
        if ca is not None:
            shutil.copyfile(ca, Path(context) / "pip-ca.pem")
        image = build(lambda: engine.build(context, options))
    if found != lock.python:
        print(
            tr(
                "note: the image runs Python {image}, the kernel {kernel}; every pinned package "
                "supports {image}",
                image=found,
                kernel=lock.python,
            )
        )
    for dist in lock.local:
        kind = "editable" if dist.editable else "local"
        print(
            tr(
                "note: {name} {version} ({kind}, {url}) is not in the snapshot",
                name=dist.name,
                version=dist.version,
                kind=kind,
                url=dist.url,
            )
        )
    return image


def check_base_python(base: str, found: str, lock: EnvironmentLock, why: str = "") -> None:
    """Refuse a base whose Python cannot reproduce the kernel's environment (see the module
    docstring): another ``major.minor``, or a patch release some pinned distribution does not
    support — naming each one and the Python it requires (and ``why`` the kernel's own
    interpreter was not used, when it was not)."""
    want = ".".join(lock.python.split(".")[:2])
    if ".".join(found.split(".")[:2]) != want:
        raise NbdockerError(
            f"base image {base} has Python {found} but the kernel runs {lock.python}; give a "
            f"--base image with Python {want}"
        )
    blocked = lock.unsupported_on(found) if found != lock.python else []
    if blocked:
        what = ", ".join(
            f"{name}=={version} (Requires-Python {spec})" for name, version, spec in blocked
        )
        raise NbdockerError(
            f"cannot reproduce this kernel's environment on {base}: it has Python {found}, "
            f"the kernel runs {lock.python}, and {len(blocked)} pinned "
            f"distribution{'s' if len(blocked) != 1 else ''} cannot be installed on {found}: "
            f"{what}; give a --base image with Python {lock.python}, or pin versions that "
            f"support {found} in the kernel" + (f" ({why})" if why else "")
        )
