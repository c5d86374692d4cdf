"""What a build is asked to do: ``docker build``'s flags as one frozen value."""

from __future__ import annotations

from ..lazy import lazy_dataclass

__all__ = ["BuildOptions"]


@lazy_dataclass(frozen=True)
class BuildOptions:
    """``tags`` name the result; ``dockerfile`` is a path (relative to the working directory,
    default ``<context>/Dockerfile``) unless ``dockerfile_text`` gives the file itself (a notebook
    cell, ``-f -``), in which case ``dockerfile_name`` is how messages name it. ``network`` is
    the RUN steps' network (``default`` = the host's). With ``source_date_epoch`` every
    timestamp in the image is that time (reproducible builds). ``isolation`` asks for a
    sandbox level (see ``nbdocker.engine.sandbox``); every level gives the same image.

    ``lineage`` names what else makes two builds builds of the same Dockerfile (a notebook
    passes ``cell:<id>``); the builder adds ``tag:<reference>`` for each tag and
    ``file:<path>`` for a Dockerfile read from disk. Cache misses are explained only by earlier
    builds that share one of these (see :mod:`.cache`)."""

    tags: tuple[str, ...] = ()
    dockerfile: str | None = None
    dockerfile_text: str | None = None
    dockerfile_name: str = "Dockerfile"
    build_args: tuple[tuple[str, str | None], ...] = ()
    target: str | None = None
    no_cache: bool = False
    labels: tuple[tuple[str, str], ...] = ()
    network: str = "default"
    source_date_epoch: int | None = None
    comment: str = ""  # recorded on the final image (e.g. the notebook cell it came from)
    lineage: tuple[str, ...] = ()
    isolation: str | None = None  # auto|namespaces|chroot|ptrace; None: the level in use
