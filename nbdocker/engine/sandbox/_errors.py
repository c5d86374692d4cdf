"""Sandbox errors: one line for the user (what failed, why, what to do)."""

from __future__ import annotations

from nbdocker.engine.errors import NbdockerError


class SandboxError(NbdockerError):
    """The container could not be started (namespaces, mounts, user lookup)."""


class UnsupportedError(SandboxError):
    """This machine cannot run containers for this user (no root and no user namespaces)."""
