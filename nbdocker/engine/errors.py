"""The one exception family of the engine.

Every failure a user can cause or meet is an :class:`NbdockerError` whose ``str()`` is a single
line written for that user: what failed, where (the file, reference or ``Dockerfile:line``), and
what to do about it. Front ends print that line; they never show a traceback for these.

::

    NbdockerError                 exit status 1
    ├── UsageError                exit status 2: bad flags or arguments
    ├── InvalidReference          a name that is not a valid image reference
    ├── ImageNotFound             no image matches a reference or ID prefix
    ├── AmbiguousImage            an ID prefix matches several images
    ├── Conflict                  the operation would break something (e.g. rmi of a used image)
    ├── ArchiveError              a tarball or archive is corrupt, truncated or of unknown shape
    ├── DigestMismatch            content does not hash to the digest it claims
    ├── StorageError              the store cannot be written (disk full, permissions)
    ├── DockerfileError           a Dockerfile problem, located as ``path:line``
    ├── RegistryError             a registry refused, failed or could not be reached
    └── AuthenticationError       a registry rejected the credentials (or asked for some)
"""

from __future__ import annotations

__all__ = [
    "AmbiguousImage",
    "ArchiveError",
    "Conflict",
    "DigestMismatch",
    "DockerfileError",
    "ImageNotFound",
    "InvalidReference",
    "AuthenticationError",
    "NbdockerError",
    "RegistryError",
    "StorageError",
    "UsageError",
]


class NbdockerError(Exception):
    """Base of every error the engine raises on purpose; ``str()`` is one line for the user."""

    exit_code = 1


class UsageError(NbdockerError):
    """The command was called wrongly (unknown flag, missing argument)."""

    exit_code = 2


class InvalidReference(NbdockerError):
    """A string is not a valid image reference."""


class ImageNotFound(NbdockerError):
    """No image in the store matches."""


class AmbiguousImage(NbdockerError):
    """An image ID prefix matches more than one image."""


class Conflict(NbdockerError):
    """The operation would break something else and was not forced."""


class ArchiveError(NbdockerError):
    """An input tarball or image archive is corrupt, truncated or not understood."""


class DigestMismatch(NbdockerError):
    """Content does not match the digest it was announced with."""


class StorageError(NbdockerError):
    """The store cannot be written: no space, no permission, or a broken store."""


class DockerfileError(NbdockerError):
    """A problem in a Dockerfile, with its location.

    ``str()`` reads ``path:line: message``; ``path`` and ``line`` are kept as attributes so that
    front ends (the notebook) can point at the cell line.
    """

    def __init__(self, message: str, path: str = "Dockerfile", line: int | None = None) -> None:
        self.message = message
        self.path = path
        self.line = line
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")


class RegistryError(NbdockerError):
    """A registry answered with an error, broke off, or could not be reached."""


class AuthenticationError(NbdockerError):
    """A registry (or its token service) rejected the credentials, or needs some."""
