"""nbdocker: create container images from a notebook, without a Docker daemon.

``%load_ext nbdocker`` loads the notebook magics; the engine is :mod:`nbdocker.engine`.
"""

__version__ = "0.1.0"
