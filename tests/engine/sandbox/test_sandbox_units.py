"""Pure-logic pieces of the sandbox: user lookup, secure joins, the layer view, support probes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from nbdocker.engine.layer.view import LowerView
from nbdocker.engine.sandbox import UnsupportedError, _support
from nbdocker.engine.sandbox._copy import compute_upper, populate
from nbdocker.engine.sandbox._exec import build_env, lookup
from nbdocker.engine.sandbox._rootfs import SetupError, secure_join
from nbdocker.engine.sandbox._users import ExecUser, UserLookupError, resolve_user

from .support import GROUP, PASSWD, upper_listing


@pytest.fixture
def etc_root(tmp_path: Path) -> Path:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text(PASSWD)
    (tmp_path / "etc/group").write_text(GROUP + "docker:x:999:app,other\n")
    return tmp_path


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("", ExecUser(0, 0, (0,), "/root")),
        ("root", ExecUser(0, 0, (0,), "/root")),
        ("app", ExecUser(1000, 1000, (1000, 50, 999), "/home/app")),
        ("1000", ExecUser(1000, 1000, (1000, 50, 999), "/home/app")),
        ("4242", ExecUser(4242, 0, (0,), "/")),
        ("app:staff", ExecUser(1000, 50, (50,), "/home/app")),
        ("app:77", ExecUser(1000, 77, (77,), "/home/app")),
        ("nobody", ExecUser(65534, 65534, (65534,), "/nonexistent")),
        ("5:6", ExecUser(5, 6, (6,), "/")),
    ],
)
def test_resolve_user(etc_root: Path, spec: str, expected: ExecUser) -> None:
    assert resolve_user(spec, etc_root) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("ghost", "unable to find user ghost: no matching entries in passwd file"),
        ("app:ghosts", "unable to find group ghosts: no matching entries in group file"),
    ],
)
def test_resolve_user_errors(etc_root: Path, spec: str, message: str) -> None:
    with pytest.raises(UserLookupError, match=message):
        resolve_user(spec, etc_root)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            (),
            {
                "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "HOSTNAME": "h",
                "HOME": "/home/app",
            },
        ),
        (
            ("PATH=/x", "HOME=/y", "A=b=c"),
            {"PATH": "/x", "HOSTNAME": "h", "HOME": "/y", "A": "b=c"},
        ),
    ],
)
def test_build_env(env: tuple[str, ...], expected: dict[str, str]) -> None:
    assert build_env(env, ExecUser(1000, 1000, (), "/home/app"), "h", False) == expected


def test_lookup(tmp_path: Path) -> None:
    (tmp_path / "tool").write_text("")
    (tmp_path / "tool").chmod(0o755)
    (tmp_path / "plain").write_text("")
    assert lookup("tool", f"/nonexistent:{tmp_path}") == (str(tmp_path / "tool"), "")
    assert lookup("plain", str(tmp_path))[0] is None
    assert lookup("x", "")[1] == 'exec: "x": executable file not found in $PATH'


@pytest.mark.parametrize(
    ("links", "path", "expected"),
    [
        ({}, "/a/b", "a/b"),
        ({"a": "/etc"}, "/a/passwd", "etc/passwd"),
        ({"a": "../../../../etc"}, "/a/passwd", "etc/passwd"),
        ({"a": "b/c", "b": "/d"}, "/a/x", "d/c/x"),
        ({}, "/../../x", "x"),
    ],
)
def test_secure_join(tmp_path: Path, links: dict[str, str], path: str, expected: str) -> None:
    for name, target in links.items():
        (tmp_path / name).symlink_to(target)
    assert secure_join(tmp_path, path) == tmp_path / expected


def test_secure_join_refuses_a_symlink_loop(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("/a")
    with pytest.raises(SetupError, match="too many levels of symbolic links in /a/x"):
        secure_join(tmp_path, "/a/x")


def _whiteout(path: Path) -> None:
    os.mknod(path, stat.S_IFCHR, os.makedev(0, 0))


@pytest.mark.skipif(os.geteuid() != 0, reason="whiteouts in a lower layer need mknod")
def test_view_and_copy_roundtrip(tmp_path: Path) -> None:
    """Two layers (a whiteout, an opaque dir) merge as overlayfs would; a diff recovers changes."""
    bottom, top = tmp_path / "l1", tmp_path / "l2"
    for d in ("etc", "opq/old", "keep"):
        (bottom / d).mkdir(parents=True)
    (bottom / "etc/a").write_text("a")
    (bottom / "etc/b").write_text("b")
    (bottom / "opq/old/x").write_text("x")
    (bottom / "keep/k").write_text("k")
    (top / "etc").mkdir(parents=True)
    _whiteout(top / "etc/b")
    (top / "opq").mkdir()
    os.setxattr(top / "opq", "trusted.overlay.opaque", b"y")
    (top / "opq/new").write_text("n")
    view = LowerView((bottom, top))
    assert set(view.listdir("etc")) == {"a"}
    assert set(view.listdir("opq")) == {"new"}
    assert view.lookup("etc/b") is None
    assert view.lookup("opq/old/x") is None
    assert view.lookup("keep/k") == bottom / "keep/k"

    root = tmp_path / "root"
    root.mkdir()
    populate(root, (bottom, top))
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*")) == [
        "etc",
        "etc/a",
        "keep",
        "keep/k",
        "opq",
        "opq/new",
    ]
    (root / "keep/k").unlink()
    (root / "added").write_text("+")
    (root / "etc/a").write_text("changed")
    upper = tmp_path / "upper"
    upper.mkdir()
    compute_upper(root, (bottom, top), upper, tmp_path)
    assert upper_listing(upper) == {
        "added": "file",
        "etc": "dir",
        "etc/a": "file",
        "keep": "dir",
        "keep/k": "whiteout",
    }


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        ({"/proc/sys/user/max_user_namespaces": 0}, "user.max_user_namespaces=0"),
        ({"/proc/sys/kernel/unprivileged_userns_clone": 0}, "kernel.unprivileged_userns_clone=0"),
    ],
)
def test_unsupported_reasons(
    monkeypatch: pytest.MonkeyPatch, files: dict[str, int], reason: str
) -> None:
    _support._userns_probe.cache_clear()
    monkeypatch.setattr(_support, "_read_int", lambda path: files.get(path))
    monkeypatch.setattr(_support.os, "geteuid", lambda: 1000)
    support = _support.check_support()
    assert not support.usable
    assert reason in support.reason
    with pytest.raises(UnsupportedError, match=f"cannot run a rootless container: .*{reason}"):
        _support.require(support)
    _support._userns_probe.cache_clear()
