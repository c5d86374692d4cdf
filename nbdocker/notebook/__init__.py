"""nbdocker in the notebook: magics, widgets, environment snapshots.

Loaded by ``%load_ext nbdocker`` (:func:`nbdocker.load_ipython_extension`); IPython and
ipywidgets are dependencies of nbdocker, imported only here. Modules:

- :mod:`.magics` — ``%%dockerfile``, ``%%container``, ``%commit``, ``%tag``, ``%images``,
  ``%import``, ``%push``, ``%pull``, ``%rmi``, ``%history``, ``%inspect``, ``%docker VERB``,
  ``%snapshot``, ``%layers``, ``%nbdocker``; :mod:`.magic_grammar` — what each accepts;
- :mod:`.live` — live widgets while work runs, replaced by static outputs when it ends;
- :mod:`.widgets` — BuildProgress, TransferProgress, RootfsProgress, ImageTable's controls;
- :mod:`.progress_model` — the event-folded models the progress displays show (no IPython);
- :mod:`.display` — the text/html renderings: static outputs, and the widgets' parts;
- :mod:`.results` — the values magics return, with static displays;
- :mod:`.layer_contents` — what each layer of an image added, changed and removed;
- :mod:`.translations` — every label and message in English or Chinese;
- :mod:`.snapshot` — the kernel environment's lock and image; :mod:`.rootfs` — a cached
  Debian tarball from mmdebstrap (the offline notebooks' base).
"""

from __future__ import annotations

from .rootfs import debian_rootfs

__all__ = ["debian_rootfs"]
