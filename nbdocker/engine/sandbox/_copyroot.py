"""The helper for the ``chroot`` and ``ptrace`` levels: a copy of the layers, the step, its diff.

Same contract as the namespaces helper (:mod:`._helper`): started by :func:`._run.run` with the
configuration on a pipe, it answers ``started`` then ``exit`` or ``error`` as JSON lines, and
leaves ``upper`` in the form of the layers it was given. It installs :mod:`..layer.emulated`
first, so that the layer code it shares with the namespaces level (init layer, copy, diff)
reads and writes owners, devices, whiteouts and privileged xattrs the kernel refuses this process.

Order: scratch dirs → the init layer (mountpoints, and what cannot be mounted here: device
nodes and the generated ``/etc`` files for ``chroot``) → the root copy (layers, init layer,
previous upper) → the step (:mod:`._chroot` or :mod:`._ptrace`) → what the step's programs
recorded applied → the new upper dir computed by comparing the copy with the layers → scratch
removed. Nothing of the step outlives it: the helper is a child subreaper and kills what is
left of the step's processes.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import stat
import sys
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING

from .. import trees
from ..layer import emulated
from ..layer.view import LowerView, lstat
from . import _chroot, _kept, _ptrace
from ._copy import compute_upper, populate
from ._files import copy_meta, copy_node, remove
from ._rootfs import DEV_NODES, ETC_FILES, build_init_layer
from ._step import FAKEROOT_DIR

if TYPE_CHECKING:
    from ._spec import CopyRootConfig, HelperMessage

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
_SCRATCH = ("init", "etc", "root", "upper.new", "step", "marks", "kept", "evicted")


def _prctl(option: int, value: int) -> None:
    ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def force_remove(path: Path) -> None:
    """Remove ``path`` even where a step left directories without write permission."""
    try:
        trees.remove_tree(path)
    except PermissionError:
        chmod = emulated.real("chmod")
        with contextlib.suppress(OSError):
            chmod(path, 0o700)
        for dirpath, dirnames, _files in trees.walk(path):
            for name in dirnames:  # before the walk goes in: a 000 directory cannot be read
                with contextlib.suppress(OSError):
                    chmod(os.path.join(dirpath, name), 0o700)
        trees.remove_tree(path)


def _prepare(cfg: CopyRootConfig) -> tuple[Path, Path]:
    """Scratch dirs, the init layer and the root copy; returns (root, init)."""
    work = Path(cfg["work"])
    for name in _SCRATCH:
        force_remove(work / name)
    etc = work / "etc"
    etc.mkdir()
    for name in ETC_FILES:
        (etc / name).write_text(cfg["etc"][name])
    init = work / "init"
    init.mkdir(mode=0o755)
    view = LowerView(tuple(Path(p) for p in cfg["layers"]))
    dirs = ["proc", "sys", "dev"]
    if cfg.get("fakeroot"):
        dirs.append(FAKEROOT_DIR)
    files = [f"etc/{name}" for name in ETC_FILES]
    for source, target, _ro in cfg["mounts"]:
        (dirs if os.path.isdir(source) else files).append(target)
    build_init_layer(init, view, dirs, files)
    if cfg["level"] == "chroot":
        _chroot_extras(init, etc)
    root = work / "root"
    layers = [Path(p) for p in cfg["layers"]]
    held = _take_kept(cfg, work, view, init)
    if not held:
        root.mkdir()
    populate(root, (*layers[held:], init, Path(cfg["upper"])))
    return root, init


def _take_kept(cfg: CopyRootConfig, work: Path, view: LowerView, init: Path) -> int:
    """Start from the root a step of this image's build left (see :mod:`._kept`), with what
    its init layer put there undone; return how many of the layers it holds (0: none, start
    from an empty root)."""
    kept = cfg["kept"]
    if not kept:
        return 0
    taken = work / "kept"
    held = _kept.claim(Path(kept), cfg["layers"], taken)
    if not held:
        return 0
    root = work / "root"
    try:
        os.rename(taken / "root", root)
        if _undo_init(root, taken / "init", init, view, ""):
            return held
        os.rename(root, taken / "root")  # (removed with the scratch dirs)
    except OSError:
        if root.exists():
            os.rename(root, taken / "root")
    return 0


def _undo_init(root: Path, old: Path, new: Path, view: LowerView, rel: str) -> bool:
    """Make what the old init layer ``old`` put below ``root/rel`` what the image has there,
    except where the new init layer ``new`` puts its own (applied next). False where that
    would need more than removing or copying single entries (then the kept root is dropped)."""
    for name in os.listdir(old / rel):
        child = f"{rel}/{name}" if rel else name
        mine = os.lstat(old / child)
        theirs = lstat(new / child)
        if theirs is not None:
            both_dirs = stat.S_ISDIR(mine.st_mode) and stat.S_ISDIR(theirs.st_mode)
            if both_dirs and not _undo_init(root, old, new, view, child):
                return False
            continue
        provider = view.lookup(child)
        if provider is None:
            remove(root / child)
            continue
        image = os.lstat(provider)
        if stat.S_ISDIR(image.st_mode) and stat.S_ISDIR(mine.st_mode):
            if not _undo_init(root, old, new, view, child):
                return False
        elif stat.S_ISDIR(image.st_mode) or stat.S_ISDIR(mine.st_mode):
            return False
        else:
            remove(root / child)
            copy_node(provider, root / child, image)
    return True


def _chroot_extras(init: Path, etc: Path) -> None:
    """What a chroot cannot mount, put in the init layer: /etc files, device nodes, /dev dirs.

    In the init layer they stay out of the step's changes, as Docker's mounts do."""
    for name in ETC_FILES:
        target = init / "etc" / name
        target.parent.mkdir(mode=0o755, exist_ok=True)
        if not target.is_symlink():
            shutil.copyfile(etc / name, target)
            os.chmod(target, 0o644)
    dev = init / "dev"
    dev.mkdir(mode=0o755, exist_ok=True)
    for name in DEV_NODES:
        try:
            st = os.stat(f"/dev/{name}")
            emulated.real("mknod")(dev / name, stat.S_IFCHR | 0o666, st.st_rdev)
            emulated.real("chmod")(dev / name, 0o666)
        except OSError:
            continue  # the step goes without it (a runtime without the device, no CAP_MKNOD)
    for name, mode in (("pts", 0o755), ("shm", 0o1777), ("mqueue", 0o1777)):
        (dev / name).mkdir()
        os.chmod(dev / name, mode)
    for name, link in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ):
        os.symlink(link, dev / name)


def _restore_etc_files(root: Path, init: Path) -> None:
    """Put the generated /etc files back as the init layer has them: in Docker they are bind
    mounts, and what a step does to them never reaches its layer. A file the step left alone
    is not touched, and one it changed is rewritten in place, so that ``/etc`` itself does not
    change (as a bind mount's directory does not)."""
    for name in ETC_FILES:
        ours = init / "etc" / name
        target = root / "etc" / name
        if not ours.is_file() or ours.is_symlink() or not (root / "etc").is_dir():
            continue
        if (root / "etc").is_symlink() or (target.is_symlink() or target.is_dir()):
            continue
        want, theirs = os.lstat(ours), lstat(target)
        if theirs is None or not stat.S_ISREG(theirs.st_mode):
            remove(target)
            copy_node(ours, target, want)
            continue
        same = (theirs.st_mode, theirs.st_uid, theirs.st_gid, theirs.st_mtime_ns) == (
            want.st_mode,
            want.st_uid,
            want.st_gid,
            want.st_mtime_ns,
        )
        if same and target.read_bytes() == ours.read_bytes():
            continue
        with open(target, "r+b") as f:
            f.truncate(0)
            f.write(ours.read_bytes())
        copy_meta(want, target, ours)


def kill_descendants() -> None:
    """SIGKILL every process below this one (orphans come to us: we are a subreaper)."""
    me = os.getpid()
    for _ in range(20):
        children = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                raw = Path(f"/proc/{entry}/stat").read_bytes()
            except OSError:
                continue
            ppid = int(raw[raw.rindex(b")") + 2 :].split()[1])
            if ppid == me:
                children.append(int(entry))
        if not children:
            return
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _helper(cfg: CopyRootConfig, status: IO[str]) -> int:
    def tell(msg: HelperMessage) -> None:
        status.write(json.dumps(msg) + "\n")
        status.flush()

    emulated.install(emulate_owners=cfg["level"] == "ptrace")
    work = Path(cfg["work"])
    fresh = not any(Path(cfg["upper"]).iterdir())
    root, init = _prepare(cfg)
    clock = _StepClock(work / "marks") if fresh else None
    run_step = _chroot.run_step if cfg["level"] == "chroot" else _ptrace.run_step
    code = run_step(
        cfg, root, work / "step", lambda pid: tell({"started": {"rootfs": "copy", "pid": pid}})
    )
    kill_descendants()
    if cfg["level"] == "chroot":
        _restore_etc_files(root, init)
    lowers = (*[Path(p) for p in cfg["layers"]], init)
    since = clock.since() if clock is not None else None
    compute_upper(root, lowers, Path(cfg["upper"]), work, since)
    kept = cfg["kept"]
    if cfg["keep"] and kept and fresh and code == 0:
        _kept.park(Path(kept), root, init, cfg["layers"], cfg["upper"], work / "evicted")
    return code


class _StepClock:
    """When the step began, as the kernel stamps inode change times (its coarse clock): the
    ctime of a file made once the root copy is complete. :func:`compute_upper` compares only
    entries changed from then on."""

    def __init__(self, marks: Path) -> None:
        marks.mkdir(exist_ok=True)
        self.marks = marks
        self.start = self._stamp("start")
        self.started = time.monotonic()

    def _stamp(self, name: str) -> int:
        path = self.marks / name
        path.touch()
        ctime: int = emulated.real("lstat")(path).st_ctime_ns
        return ctime

    def since(self) -> int | None:
        """The start, or None when the wall clock went back meanwhile (then change times say
        nothing, and everything is compared)."""
        wall = self._stamp("end") - self.start
        if wall < (time.monotonic() - self.started - 0.25) * 1e9:
            return None
        return self.start


def main() -> None:
    """Entry point: ``argv`` = caller pid, config fd, status fd, control fd."""
    caller, cfg_fd, status_fd, ctl_fd = (int(a) for a in sys.argv[1:5])
    # The caller starts helpers with SIGINT/TERM/HUP held (interpreter.helper_argv); the step's
    # processes are forked from here and must get them, and this helper forwards them.
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != caller:
        os._exit(1)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    os.close(ctl_fd)
    with os.fdopen(cfg_fd) as f:
        cfg = json.load(f)
    status = os.fdopen(status_fd, "w")
    code = 125
    trash = None
    try:
        code = _helper(cfg, status)
        status.write(json.dumps({"exit": code}) + "\n")
    except Exception as exc:  # noqa: BLE001 - reported to the caller as one line
        status.write(json.dumps({"error": str(exc) or type(exc).__name__}) + "\n")
        code = 125
    finally:
        kill_descendants()
        trash = _to_trash(Path(cfg["work"]), cfg.get("trash"))
    status.flush()
    if trash is not None:
        _remove_in_background(trash)
    os._exit(code & 0xFF)


def _to_trash(work: Path, place: str | None) -> Path | None:
    """Move the scratch dirs into ``place`` (a rename each, on the same file system), to be
    removed after the caller returns; without a place, remove them now."""
    if place is None:
        for name in _SCRATCH:
            force_remove(work / name)
        return None
    trash = Path(place) / f"{os.getpid()}-{os.urandom(4).hex()}"
    moved = False
    for name in _SCRATCH:
        if os.path.lexists(work / name):
            trash.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(work / name, trash / name)
                moved = True
            except OSError:
                force_remove(work / name)
    return trash if moved else None


def _remove_in_background(trash: Path) -> None:
    """Remove ``trash`` in a detached process: deleting the ten thousand files of a root
    copy takes seconds (longer on file systems mounted with ``discard``), and the step's
    result does not wait for it. The process keeps none of the caller's descriptors."""
    try:
        pid = os.fork()
    except OSError:
        force_remove(trash)
        return
    if pid:
        return
    try:
        os.setsid()
        os.closerange(0, 65536)
        if os.fork():
            os._exit(0)
        force_remove(trash)
    finally:
        os._exit(0)
