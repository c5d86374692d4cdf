"""The Dockerfile builder: ``Engine.build`` runs :func:`.api.run_build` (loaded on first use).

Modules: :mod:`.options` (the flags), :mod:`.stages` (stages, target, step numbers),
:mod:`.build` (steps, RUN in the sandbox, layers), :mod:`.cache` (reuse and why a step missed),
:mod:`.state` (the image a stage has so far), :mod:`.context` and :mod:`.dockerignore` (what the
build may read), :mod:`.copy` and :mod:`.fetch` (COPY and ADD).
"""

from .options import BuildOptions

__all__ = ["BuildOptions"]
