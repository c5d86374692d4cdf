"""What configuration instructions do to an image config (``Config`` in ``docker inspect``).

Used by ``import -c``/``commit -c`` and by the builder for CMD, ENV, LABEL, … steps, so an
instruction means the same thing wherever it is written.
"""

from __future__ import annotations

import copy
import posixpath
from collections.abc import Sequence

from ..oci import ContainerConfig, HealthConfig
from .commands import (
    Cmd,
    Entrypoint,
    Env,
    Expose,
    Healthcheck,
    Instruction,
    Label,
    Maintainer,
    Onbuild,
    Shell,
    Stopsignal,
    User,
    Volume,
    Workdir,
)
from .expand import expand_instruction
from .instructions import parse_change

__all__ = ["DEFAULT_SHELL", "apply_changes", "apply_instruction", "env_map"]

DEFAULT_SHELL = ("/bin/sh", "-c")


def env_map(config: ContainerConfig) -> dict[str, str]:
    """The config's ``Env`` list as a mapping (later entries win)."""
    out: dict[str, str] = {}
    for item in config.get("Env") or []:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def _command(cmd: tuple[str, ...] | str, config: ContainerConfig) -> list[str]:
    if isinstance(cmd, str):
        shell = list(config.get("Shell") or DEFAULT_SHELL)
        return [*shell, cmd]
    return list(cmd)


def _port(spec: str) -> str:
    return spec if "/" in spec else f"{spec}/tcp"


def apply_instruction(
    config: ContainerConfig, ins: Instruction, *, cmd_set: bool = False
) -> ContainerConfig:
    """Return a copy of ``config`` with ``ins`` applied (variables already expanded).

    ``cmd_set`` tells whether CMD was set earlier in the same build or change list: as in
    Docker, ENTRYPOINT clears an inherited CMD but not one set alongside it.
    """
    cfg = copy.deepcopy(config)
    if isinstance(ins, Cmd):
        cfg["Cmd"] = _command(ins.command, cfg)
    elif isinstance(ins, Entrypoint):
        cfg["Entrypoint"] = _command(ins.command, cfg)
        if not cmd_set:
            cfg["Cmd"] = None
    elif isinstance(ins, Env):
        env = env_map(cfg)
        for key, value in ins.pairs:
            env[key] = value
        cfg["Env"] = [f"{k}={v}" for k, v in env.items()]
    elif isinstance(ins, Label):
        cfg["Labels"] = {**(cfg.get("Labels") or {}), **dict(ins.pairs)}
    elif isinstance(ins, Expose):
        ports = dict(cfg.get("ExposedPorts") or {})
        for port in ins.ports:
            ports[_port(port)] = {}
        cfg["ExposedPorts"] = ports
    elif isinstance(ins, User):
        cfg["User"] = ins.user
    elif isinstance(ins, Workdir):
        base = cfg.get("WorkingDir") or "/"
        cfg["WorkingDir"] = posixpath.normpath(posixpath.join(base, ins.path))
    elif isinstance(ins, Volume):
        volumes = dict(cfg.get("Volumes") or {})
        for path in ins.paths:
            volumes[path] = {}
        cfg["Volumes"] = volumes
    elif isinstance(ins, Stopsignal):
        cfg["StopSignal"] = ins.signal
    elif isinstance(ins, Onbuild):
        cfg["OnBuild"] = [*(cfg.get("OnBuild") or []), ins.expression]
    elif isinstance(ins, Shell):
        cfg["Shell"] = list(ins.shell)
    elif isinstance(ins, Healthcheck):
        cfg["Healthcheck"] = _healthcheck(ins)
    elif isinstance(ins, Maintainer):
        pass  # lives in the image's "author", not in Config
    else:
        raise TypeError(f"{type(ins).__name__} does not change the image config")
    return cfg


def _healthcheck(ins: Healthcheck) -> HealthConfig:
    if ins.test is None:
        return {"Test": ["NONE"]}
    check: HealthConfig = {"Test": list(ins.test)}
    if ins.interval:
        check["Interval"] = ins.interval
    if ins.timeout:
        check["Timeout"] = ins.timeout
    if ins.start_period:
        check["StartPeriod"] = ins.start_period
    if ins.start_interval:
        check["StartInterval"] = ins.start_interval
    if ins.retries:
        check["Retries"] = ins.retries
    return check


def apply_changes(config: ContainerConfig, changes: Sequence[str]) -> ContainerConfig:
    """Apply ``docker commit/import -c`` values in order; DockerfileError on a bad one."""
    cmd_set = False
    for number, text in enumerate(changes, 1):
        ins = parse_change(text, path=f"--change #{number}")
        ins = expand_instruction(ins, env_map(config), path=f"--change #{number}").instruction
        config = apply_instruction(config, ins, cmd_set=cmd_set)
        cmd_set = cmd_set or isinstance(ins, Cmd)
    return config
