"""Registries over the distribution protocol (OCI distribution / Docker Registry HTTP API v2).

- :mod:`.transport` — HTTP(S) per registry host: scheme and TLS rules, retries with backoff.
- :mod:`.auth` — ``WWW-Authenticate`` challenges, Basic, Bearer tokens cached by scope.
- :mod:`.credentials` — Docker's ``config.json`` and ``docker-credential-*`` helpers.
- :mod:`.client` — blobs (HEAD/GET/upload/mount) and manifests (GET/PUT) of one registry.
- :mod:`.pull`, :mod:`.push`, :mod:`.login` — the operations the engine offers.

The engine (:class:`~nbdocker.engine.Engine`) is the entry point: ``pull``, ``push``, ``login``
and ``logout`` delegate here.
"""

from .auth import Challenge, Credentials, parse_challenges
from .login import login, logout, registry_domain
from .pull import PullResult, pull
from .push import PushResult, push
from .transport import ENV_CA, ENV_INSECURE, RegistrySettings, is_insecure

__all__ = [
    "ENV_CA",
    "ENV_INSECURE",
    "Challenge",
    "Credentials",
    "PullResult",
    "PushResult",
    "RegistrySettings",
    "is_insecure",
    "login",
    "logout",
    "parse_challenges",
    "pull",
    "push",
    "registry_domain",
]
