"""nbdocker: create container images from a notebook, without a Docker daemon.

``%load_ext nbdocker`` loads the notebook magics; the engine is :mod:`nbdocker.engine`.
The extension is the only door to IPython: neither the engine nor the CLI imports IPython or
ipywidgets, and this module imports :mod:`nbdocker.notebook` only when IPython loads it.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext nbdocker``: register the magics (``%%dockerfile``, ``%commit``, …) and the
    rich displays of images, builds and containers. IPython and ipywidgets come with nbdocker."""
    from .notebook.magics import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .notebook.magics import unload

    unload(ipython)
