"""Registries over the distribution protocol (OCI distribution / Docker Registry HTTP API v2).

- :mod:`.transport` — HTTP(S) per registry host: scheme and TLS rules, retries with backoff.
- :mod:`.auth` — ``WWW-Authenticate`` challenges, Basic, Bearer tokens cached by scope.
- :mod:`.credentials` — Docker's ``config.json`` and ``docker-credential-*`` helpers.
- :mod:`.client` — blobs (HEAD/GET/upload/mount) and manifests (GET/PUT) of one registry.
- :mod:`.pull`, :mod:`.push`, :mod:`.login` — the operations the engine offers.

The engine (:class:`~nbdocker.engine.Engine`) is the entry point: its ``pull``, ``push``,
``login`` and ``logout`` call the functions of the same names in those modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:
    from .auth import Challenge, Credentials, parse_challenges
    from .login import registry_domain
    from .pull import PullResult
    from .push import PushResult
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
    "parse_challenges",
    "registry_domain",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ENV_CA": ".transport",
        "ENV_INSECURE": ".transport",
        "Challenge": ".auth",
        "Credentials": ".auth",
        "PullResult": ".pull",
        "PushResult": ".push",
        "RegistrySettings": ".transport",
        "is_insecure": ".transport",
        "parse_challenges": ".auth",
        "registry_domain": ".login",
    },
)
