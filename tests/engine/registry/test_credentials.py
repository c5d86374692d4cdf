"""Docker's config.json: where, which format, which mode; credential helpers."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from nbdocker.engine.registry import credentials
from nbdocker.engine.registry.auth import Credentials

pytestmark = pytest.mark.usefixtures("docker_config")


def test_store_load_erase_in_docker_format(docker_config: Path) -> None:
    where = credentials.store("127.0.0.1:5000", Credentials("ouruser", "pa:ss"))
    path = docker_config / "config.json"
    assert where == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert base64.b64decode(data["auths"]["127.0.0.1:5000"]["auth"]) == b"ouruser:pa:ss"
    assert credentials.load("127.0.0.1:5000") == Credentials("ouruser", "pa:ss")
    assert credentials.erase("127.0.0.1:5000") is True
    assert credentials.load("127.0.0.1:5000") is None
    assert credentials.erase("127.0.0.1:5000") is False


def test_docker_hub_key_and_other_keys_kept(docker_config: Path) -> None:
    path = docker_config / "config.json"
    path.write_text(json.dumps({"auths": {}, "psFormat": "table {{.ID}}"}))
    credentials.store("docker.io", Credentials("ouruser", "pw"))
    data = json.loads(path.read_text())
    assert "https://index.docker.io/v1/" in data["auths"]
    assert data["psFormat"] == "table {{.ID}}"
    assert credentials.load("docker.io") == Credentials("ouruser", "pw")


def test_credential_helper_protocol(
    docker_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = tmp_path / "vault.json"
    helper = tmp_path / "bin" / "docker-credential-nbdtest"
    helper.parent.mkdir()
    helper.write_text(
        f"""#!/usr/bin/env python3
import json, sys
vault = {str(vault)!r}
try:
    data = json.load(open(vault))
except FileNotFoundError:
    data = {{}}
action = sys.argv[1]
stdin = sys.stdin.read()
if action == "store":
    entry = json.loads(stdin)
    data[entry["ServerURL"]] = entry
elif action == "get":
    if stdin.strip() not in data:
        print("credentials not found in native keychain")
        sys.exit(1)
    print(json.dumps(data[stdin.strip()]))
elif action == "erase":
    data.pop(stdin.strip(), None)
json.dump(data, open(vault, "w"))
"""
    )
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helper.parent}{os.pathsep}{os.environ['PATH']}")
    (docker_config / "config.json").write_text(json.dumps({"credsStore": "nbdtest"}))
    assert credentials.store("reg.example:5000", Credentials("u", "sekrit-value")) == (
        "docker-credential-nbdtest"
    )
    assert "sekrit" not in json.dumps(
        json.loads((docker_config / "config.json").read_text())["auths"]
    )
    assert json.loads(vault.read_text())["reg.example:5000"]["Secret"] == "sekrit-value"
    assert credentials.load("reg.example:5000") == Credentials("u", "sekrit-value")
    assert credentials.erase("reg.example:5000") is True
    assert credentials.load("reg.example:5000") is None


def test_docker_config_env_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "elsewhere"))
    credentials.store("h:1", Credentials("u", "p"))
    assert (tmp_path / "elsewhere" / "config.json").exists()
