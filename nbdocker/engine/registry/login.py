"""``login`` / ``logout``: check credentials against a registry, then keep them (or forget them)
where Docker keeps them (:mod:`.credentials`).

Failure guarantees: credentials are stored only after the registry accepted them; the password
is never printed, logged, or put in an error message.
"""

from __future__ import annotations

from ..errors import UsageError
from ..reference import DEFAULT_DOMAIN
from . import credentials
from .auth import Credentials
from .client import RegistryClient
from .transport import RegistrySettings

__all__ = ["login", "logout", "registry_domain"]


def registry_domain(server: str | None) -> str:
    """``docker.io`` for none or Docker Hub's names; else ``host[:port]`` without scheme/path."""
    if not server:
        return DEFAULT_DOMAIN
    text = server.strip()
    for prefix in ("https://", "http://"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    text = text.split("/", 1)[0]
    if text in ("index.docker.io", "registry-1.docker.io", "docker.io", ""):
        return DEFAULT_DOMAIN
    return text


def login(server: str | None, username: str, password: str, settings: RegistrySettings) -> str:
    """Verify ``username``/``password`` with the registry and store them; return the domain."""
    if not username:
        raise UsageError("login: a user name is required (-u USER)")
    if not password:
        raise UsageError("login: a password is required (-p, --password-stdin or the prompt)")
    domain = registry_domain(server)
    creds = Credentials(username, password)
    with RegistryClient(domain, settings, creds) as client:
        client.check_login()
    credentials.store(domain, creds)
    return domain


def logout(server: str | None) -> tuple[str, bool]:
    """Forget the credentials of a registry; (domain, whether there were any)."""
    domain = registry_domain(server)
    return domain, credentials.erase(domain)
