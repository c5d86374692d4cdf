"""Rootless file work in a user namespace: the client (:mod:`.calls`), the ids it maps
(:mod:`.ids`) and the JSON protocol it speaks with its helper (:mod:`.protocol`). The helper
process itself is :mod:`nbdocker.engine.userns_helper`, which serves the requests of the layer
package and the builder."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:
    from .calls import Helper, call, start
    from .local import LayerForm, emulated, needed, read_form_from, remove_tree, root_only

__all__ = [
    "Helper",
    "LayerForm",
    "call",
    "emulated",
    "needed",
    "read_form_from",
    "remove_tree",
    "root_only",
    "start",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Helper": ".calls",
        "call": ".calls",
        "LayerForm": ".local",
        "emulated": ".local",
        "needed": ".local",
        "read_form_from": ".local",
        "root_only": ".local",
        "remove_tree": ".local",
        "start": ".calls",
    },
)
