"""The Dockerfile builder: ``Engine.build`` runs :func:`.api.run_build`.

Modules: :mod:`.options` (the flags), :mod:`.api` (context and Dockerfile, then the build),
:mod:`.stages` (stages, target, step numbers), :mod:`.build` (the step loop: expansion, cache
key and look-up, commit), :mod:`.steps` (one handler per instruction: RUN in the sandbox,
config instructions, WORKDIR), :mod:`.cache` (reuse and why a step missed),
:mod:`.image_state` (the image a stage has so far), :mod:`.context` and :mod:`.dockerignore`
(what the build may read), :mod:`.copy` (COPY and ADD), :mod:`.services` (what the engine gives
a build).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:
    from .api import run_build
    from .cache import BuildCache
    from .options import BuildOptions
    from .services import BuildServices

__all__ = ["BuildCache", "BuildOptions", "BuildServices", "run_build"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "BuildCache": ".cache",
        "BuildOptions": ".options",
        "BuildServices": ".services",
        "run_build": ".api",
    },
)
