"""nbdocker in the notebook: magics, widgets, environment snapshots.

Loaded by ``%load_ext nbdocker`` (:func:`nbdocker.load_ipython_extension`); IPython and
ipywidgets are dependencies of nbdocker, imported only here. Modules:

- :mod:`.magics` — ``%%dockerfile``, ``%%container``, ``%commit``, ``%tag``, ``%images``,
  ``%import``, ``%push``, ``%pull``, ``%rmi``, ``%history``, ``%inspect``, ``%docker VERB``,
  ``%snapshot``, ``%layers``;
- :mod:`.widgets` — BuildProgress, TransferProgress, ImageTable, LayerInspector;
- :mod:`.state` — the event-folded models the widgets show (no IPython);
- :mod:`.display` — text/html renderings shared by widgets and returned values;
- :mod:`.snapshot` — the kernel environment's lock and image; :mod:`.rootfs` — a cached
  Debian tarball from mmdebstrap (the offline notebooks' base).
"""

from __future__ import annotations

from .rootfs import debian_rootfs

__all__ = ["debian_rootfs"]
