"""Registry credentials in Docker's own place and format, so ``docker login`` and
``nbdocker login`` share them.

The file is ``$DOCKER_CONFIG/config.json`` (default ``~/.docker/config.json``)::

    {"auths": {"127.0.0.1:5000": {"auth": "<base64 of user:password>"}},
     "credsStore": "pass", "credHelpers": {"gcr.io": "gcloud"}}

When ``credHelpers`` names a helper for the registry, or ``credsStore`` is set, the secret is kept
by the program ``docker-credential-<name>`` instead (its ``get``/``store``/``erase`` protocol: the
server URL or a JSON ``{"ServerURL","Username","Secret"}`` on stdin). Docker Hub's key is
``https://index.docker.io/v1/``, as Docker writes it.

Failure guarantees: the file is replaced atomically and is created with mode 0600; other keys in
it are kept as they were. No secret is ever put in an error message or a log.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, cast

from ..atomic import atomic_output
from ..errors import AuthenticationError, StorageError
from .auth import Credentials

__all__ = ["config_key", "config_path", "erase", "load", "store"]

if TYPE_CHECKING:

    class AuthEntry(TypedDict, total=False):
        auth: str  # base64 of user:password
        identitytoken: str

    class DockerConfig(TypedDict, total=False):
        """``config.json`` as nbdocker reads it (other keys are kept as they are)."""

        auths: dict[str, AuthEntry]
        credsStore: str
        credHelpers: dict[str, str]

else:  # at run time these are the dicts json makes: the names cost nothing to import
    AuthEntry = dict
    DockerConfig = dict

DOCKER_HUB_KEY = "https://index.docker.io/v1/"


def config_path() -> Path:
    """``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``."""
    base = os.environ.get("DOCKER_CONFIG")
    root = Path(base).expanduser() if base else Path.home() / ".docker"
    return root / "config.json"


def config_key(domain: str) -> str:
    """The key Docker files a registry's credentials under."""
    return DOCKER_HUB_KEY if domain in ("docker.io", "index.docker.io") else domain


def _hostname(key: str) -> str:
    for prefix in ("https://", "http://"):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    return key.split("/", 1)[0]


def _read() -> DockerConfig:
    path = config_path()
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise AuthenticationError(
            f"cannot read the credentials file {path} ({exc.__class__.__name__}); fix or remove it"
        ) from None
    return cast(DockerConfig, data) if isinstance(data, dict) else {}


def _write(data: DockerConfig) -> None:
    path = config_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with atomic_output(path, mode=0o600) as f:
            f.write(json.dumps(data, indent="\t").encode() + b"\n")
    except OSError as exc:
        raise StorageError(
            f"cannot write the credentials file {path} ({exc.strerror}); check its directory's "
            "permissions or set DOCKER_CONFIG to a writable directory"
        ) from None


def _helper_for(data: DockerConfig, domain: str) -> str | None:
    helpers = data.get("credHelpers") or {}
    key = config_key(domain)
    for name in (key, domain, _hostname(key)):
        if isinstance(helpers, dict) and name in helpers:
            return str(helpers[name])
    store_name = data.get("credsStore")
    return str(store_name) if store_name else None


def _run_helper(helper: str, action: str, stdin: str) -> subprocess.CompletedProcess[str]:
    program = f"docker-credential-{helper}"
    try:
        return subprocess.run(
            [program, action], input=stdin, capture_output=True, text=True, timeout=60, check=False
        )
    except FileNotFoundError:
        raise AuthenticationError(
            f"the credential helper {program} named in {config_path()} is not installed; "
            "install it or remove it from that file"
        ) from None
    except subprocess.TimeoutExpired:
        raise AuthenticationError(f"the credential helper {program} did not answer") from None


def load(domain: str) -> Credentials | None:
    """The stored credentials for a registry (``docker.io``, ``host:port``), or None."""
    data = _read()
    key = config_key(domain)
    helper = _helper_for(data, domain)
    if helper is not None:
        result = _run_helper(helper, "get", key)
        if result.returncode != 0:
            return None  # "credentials not found in native keychain"
        try:
            answer = json.loads(result.stdout)
            return Credentials(str(answer["Username"]), str(answer["Secret"]))
        except (ValueError, KeyError, TypeError):
            raise AuthenticationError(
                f"the credential helper docker-credential-{helper} gave an answer nbdocker "
                "cannot read"
            ) from None
    auths = data.get("auths") or {}
    entry: object = auths.get(key)
    if entry is None:
        entry = next((v for k, v in auths.items() if _hostname(k) == _hostname(key)), None)
    if not isinstance(entry, dict):
        return None
    token, auth = entry.get("identitytoken"), entry.get("auth")
    if token:
        return Credentials("<token>", str(token))
    if not auth:
        return None
    try:
        user, _, secret = base64.b64decode(auth).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        raise AuthenticationError(
            f"the credentials for {domain} in {config_path()} are damaged; "
            f"run 'nbdocker login {domain}' again"
        ) from None
    return Credentials(user, secret)


def store(domain: str, credentials: Credentials) -> str:
    """Save credentials (in a helper when one is configured); return where they went."""
    data = _read()
    key = config_key(domain)
    helper = _helper_for(data, domain)
    if helper is not None:
        payload = json.dumps(
            {"ServerURL": key, "Username": credentials.username, "Secret": credentials.secret}
        )
        result = _run_helper(helper, "store", payload)
        if result.returncode != 0:
            raise AuthenticationError(
                f"the credential helper docker-credential-{helper} could not store the "
                f"credentials for {domain}"
            )
        auths = data.setdefault("auths", {})
        auths.setdefault(key, {})
        auths[key].pop("auth", None)
        _write(data)
        return f"docker-credential-{helper}"
    raw = f"{credentials.username}:{credentials.secret}".encode()
    data.setdefault("auths", {})[key] = {"auth": base64.b64encode(raw).decode()}
    _write(data)
    return str(config_path())


def erase(domain: str) -> bool:
    """Forget a registry's credentials; False if there were none."""
    data = _read()
    key = config_key(domain)
    auths = data.get("auths") or {}
    found = False
    for k in list(auths):
        if k == key or _hostname(k) == _hostname(key):
            del auths[k]
            found = True
    helper = _helper_for(data, domain)
    if helper is not None:
        found = _run_helper(helper, "erase", key).returncode == 0 or found
    if found:
        _write(data)
    return found
