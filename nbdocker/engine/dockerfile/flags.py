"""Instruction flags (``--mount=…``, ``--chown=…``), ``RUN --mount`` specs and Go durations.

Kept apart from :mod:`.instructions` because these are small languages of their own, each with
its own error messages. Errors here are :class:`FlagError` without a location; the caller
knows the Dockerfile line and turns them into ``DockerfileError``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

from ..lazy import lazy_dataclass

__all__ = [
    "MOUNT_TYPES",
    "NETWORK_MODES",
    "SHARING_MODES",
    "FlagError",
    "FlagKind",
    "Mount",
    "ParsedFlags",
    "parse_duration",
    "parse_flags",
    "parse_mount",
]

FlagKind = Literal["bool", "string", "strings"]
MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
SHARING_MODES = ("shared", "private", "locked")
NETWORK_MODES = ("default", "none", "host")


class FlagError(ValueError):
    """A bad flag or flag value; the message is one line, the location is added by the caller."""


@lazy_dataclass(frozen=True)
class ParsedFlags:
    """Flag values by name (without ``--``); booleans are ``"true"``/``"false"``."""

    values: Mapping[str, str]
    lists: Mapping[str, tuple[str, ...]]

    def string(self, name: str) -> str | None:
        return self.values.get(name)

    def boolean(self, name: str) -> bool:
        return self.values.get(name) == "true"

    def strings(self, name: str) -> tuple[str, ...]:
        return self.lists.get(name, ())


def parse_flags(keyword: str, flags: Sequence[str], spec: Mapping[str, FlagKind]) -> ParsedFlags:
    """Check ``flags`` (as written, ``--name[=value]``) against what ``keyword`` accepts.

    Same rules as BuildKit: ``--`` ends the flags, a flag may appear once unless it is a list
    (``--mount``), a boolean takes ``true``/``false`` or no value, a string needs ``=value``.
    """
    values: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
    allowed = ", ".join("--" + name for name in spec) or "none"
    for flag in flags:
        if flag == "--":
            break
        if not flag.startswith("--"):
            raise FlagError(f"{keyword} flag {flag!r} should start with --")
        name, has_value, value = flag[2:].partition("=")
        if name not in spec:
            raise FlagError(f"unknown flag --{name} for {keyword}; allowed flags: {allowed}")
        kind = spec[name]
        if kind != "strings" and name in values:
            raise FlagError(f"duplicate flag --{name} for {keyword}; give it once")
        if kind == "bool":
            if has_value and value == "":
                raise FlagError(
                    f"missing a value on flag --{name}; write --{name} or --{name}=true"
                )
            if value.lower() not in ("true", "false", ""):
                raise FlagError(f"expecting true or false for flag --{name}, not {value!r}")
            values[name] = "false" if value.lower() == "false" else "true"
        elif not has_value:
            raise FlagError(f"missing a value on flag --{name}; write --{name}=VALUE")
        elif kind == "string":
            values[name] = value
        else:
            lists.setdefault(name, []).append(value)
    return ParsedFlags(values, {k: tuple(v) for k, v in lists.items()})


@lazy_dataclass(frozen=True)
class Mount:
    """One ``RUN --mount=…``. ``spec`` is the text as written, kept so the builder can
    re-parse it after variable expansion (see ``expand_instruction``)."""

    type: str = "bind"
    target: str = ""
    source: str = ""
    from_: str = ""
    id: str = ""
    sharing: str = ""
    readonly: bool = False
    required: bool = False
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    spec: str = ""


_MOUNT_KEYS = {
    "type": "type",
    "from": "from_",
    "source": "source",
    "src": "source",
    "target": "target",
    "dst": "target",
    "destination": "target",
    "id": "id",
    "sharing": "sharing",
}
_ALL_MOUNT_KEYS = frozenset(
    {*_MOUNT_KEYS, "readonly", "ro", "readwrite", "rw", "required", "mode", "uid", "gid"}
)
_BOOL_TEXT = {"1": True, "t": True, "true": True, "0": False, "f": False, "false": False}


def _parse_bool(key: str, value: str) -> bool:
    result = _BOOL_TEXT.get(value.lower())
    if result is None:
        raise FlagError(f"invalid value for mount option {key}: {value!r}; use true or false")
    return result


def _parse_uint(key: str, value: str, base: int) -> int:
    try:
        number = int(value, base)
    except ValueError:
        number = -1
    if number < 0 or number > 0xFFFFFFFF:
        raise FlagError(f"invalid value {value!r} for mount option {key}")
    return number


def parse_mount(spec: str, expand: Callable[[str], str] | None = None) -> Mount:
    """Parse a ``--mount`` value (comma-separated ``key=value``, CSV quoting allowed).

    Without ``expand``, values holding ``$`` are kept as written and not validated (they are
    checked again once expanded); ``from`` may never use variables.
    """
    import csv  # only for RUN --mount, not on every Dockerfile's import path

    try:
        fields = next(csv.reader([spec]), [])
    except csv.Error as exc:
        raise FlagError(f"cannot parse --mount={spec}: {exc}") from None
    text: dict[str, str] = {}
    numbers: dict[str, int] = {}
    readonly: bool | None = None
    required = False
    for field in fields:
        key, has_value, value = field.partition("=")
        key = key.lower()
        if not has_value:
            if key not in ("readonly", "ro", "readwrite", "rw", "required"):
                raise FlagError(f"invalid --mount field {field!r}; it must be a key=value pair")
            value = "true"
        if key not in _ALL_MOUNT_KEYS:
            known = ", ".join(sorted(_ALL_MOUNT_KEYS))
            raise FlagError(f"unexpected --mount key {key!r}; known keys: {known}")
        if key == "from" and "$" in value[:-1]:
            raise FlagError("--mount from= doesn't support variables; define a stage alias")
        if expand is not None and key != "from":
            value = expand(value)
        elif "$" in value:
            if key in _MOUNT_KEYS:
                text[_MOUNT_KEYS[key]] = value  # validated once expanded
            continue
        if key in _MOUNT_KEYS:
            text[_MOUNT_KEYS[key]] = value
        elif key in ("readonly", "ro"):
            readonly = _parse_bool(key, value)
        elif key in ("readwrite", "rw"):
            readonly = not _parse_bool(key, value)
        elif key == "required":
            required = _parse_bool(key, value)
        else:
            numbers[key] = _parse_uint(key, value, 8 if key == "mode" else 10)
    mount_type = text.get("type", "bind").lower()
    if "$" not in mount_type and mount_type not in MOUNT_TYPES:
        raise FlagError(
            f"unsupported mount type {mount_type!r}; use one of {', '.join(MOUNT_TYPES)}"
        )
    sharing = text.get("sharing", "").lower()
    if sharing and "$" not in sharing:
        if sharing not in SHARING_MODES:
            raise FlagError(
                f"unsupported sharing value {sharing!r}; use one of {', '.join(SHARING_MODES)}"
            )
        if mount_type != "cache":
            raise FlagError(f"sharing= is only for cache mounts, not {mount_type}")
    if numbers and mount_type not in ("secret", "ssh", "cache"):
        raise FlagError(f"{min(numbers)} is not allowed for {mount_type} mounts")
    if mount_type in ("bind", "cache", "tmpfs") and not text.get("target"):
        raise FlagError(
            f"a {mount_type} mount needs target=PATH, e.g. --mount=type=cache,target=/x"
        )
    return Mount(
        type=mount_type,
        target=text.get("target", ""),
        source=text.get("source", ""),
        from_=text.get("from_", ""),
        id=text.get("id", ""),
        sharing=sharing or ("shared" if mount_type == "cache" else ""),
        readonly=mount_type not in ("cache", "tmpfs") if readonly is None else readonly,
        required=required,
        mode=numbers.get("mode"),
        uid=numbers.get("uid"),
        gid=numbers.get("gid"),
        spec=spec,
    )


_DURATION_RE = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}


def parse_duration(text: str) -> int:
    """Nanoseconds of a Go duration such as ``30s``, ``1m30s``, ``1.5h`` or ``0``."""
    body = text[1:] if text[:1] in ("+", "-") else text
    negative = text.startswith("-")
    if body == "0":
        return 0
    if not body:
        raise FlagError(f"invalid duration {text!r}; write e.g. 30s, 1m30s or 500ms")
    total = 0.0
    pos = 0
    while pos < len(body):
        match = _DURATION_RE.match(body, pos)
        if match is None or match.group(1) in ("", "."):
            raise FlagError(f"invalid duration {text!r}; write e.g. 30s, 1m30s or 500ms")
        total += float(match.group(1)) * _UNIT_NS[match.group(2)]
        pos = match.end()
    return -round(total) if negative else round(total)
