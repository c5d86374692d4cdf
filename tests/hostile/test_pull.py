"""``pull`` from a registry whose answers are malformed (served on loopback by
:class:`~tests.support.hostile_registry.HostileRegistry`): one line, exit 1, no traceback, the
store unchanged and its scratch space empty."""

from __future__ import annotations

import json
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from tests.hostile.conftest import Attempt, refused
from tests.hostile.corpus import INDEX_TYPE, MANIFEST_TYPE, config, digest
from tests.support.hostile_registry import Handler, HostileRegistry, image, send

Setup = Callable[[HostileRegistry], None]


def _redirect_to_itself(h: BaseHTTPRequestHandler) -> None:
    h.send_response(307)
    h.send_header("Location", h.path)
    h.send_header("Content-Length", "0")
    h.end_headers()


def _manifest(data: bytes, media_type: str = MANIFEST_TYPE) -> Setup:
    def setup(reg: HostileRegistry) -> None:
        reg.routes["/v2/x/manifests/1"] = lambda h: send(h, 200, data, media_type)

    return setup


def _layer_changed(change: Callable[[dict[str, Any]], None]) -> Setup:
    manifest = json.loads(image()[0])
    change(manifest["layers"][0])
    return _manifest(json.dumps(manifest).encode())


def _with_config(config_bytes: bytes) -> Setup:
    """The image of :func:`image` with its config replaced by ``config_bytes`` (served)."""
    manifest = json.loads(image()[0])
    manifest["config"].update(digest=digest(config_bytes), size=len(config_bytes))
    data = json.dumps(manifest).encode()

    def setup(reg: HostileRegistry) -> None:
        _manifest(data)(reg)
        reg.routes[f"/v2/x/blobs/{digest(config_bytes)}"] = lambda h: send(h, 200, config_bytes)

    return setup


def _index(entry: dict[str, Any]) -> Setup:
    return _manifest(json.dumps({"schemaVersion": 2, "manifests": [entry]}).encode(), INDEX_TYPE)


def _route(path: str, handler: Handler) -> Setup:
    return lambda reg: reg.routes.__setitem__(path, handler)


PULL_CASES: dict[str, tuple[Setup, str]] = {
    "redirect loop": (_route("/v2/x/manifests/1", _redirect_to_itself), "redirect"),
    "layer without digest": (_layer_changed(lambda layer: layer.pop("digest")), "has no digest"),
    "non-integer size": (
        _layer_changed(lambda layer: layer.update(size="130")),
        "has no valid size",
    ),
    "negative size": (_layer_changed(lambda layer: layer.update(size=-1)), "has no valid size"),
    "layer digest malformed": (
        _layer_changed(lambda layer: layer.update(digest="sha256:../../etc")),
        "not of the form sha256",
    ),
    "manifest not JSON": (_manifest(b"{"), "the manifest is not"),
    "manifest a list": (_manifest(b"[]"), "the manifest is not"),
    "config not JSON": (_with_config(b"{"), "broken image config"),
    "config a list": (_with_config(b"[]"), "broken image config"),
    "config created a number": (_with_config(config(created=5)), "'created' has the wrong type"),
    "config Env a string": (
        _with_config(config(config={"Env": "PATH=/bin"})),
        "'config.Env' has the wrong type",
    ),
    "index platform a string": (
        _index({"mediaType": MANIFEST_TYPE, "digest": digest(b"x"), "size": 1, "platform": "x"}),
        "platform without os",
    ),
    "index annotations a list": (
        _index({"mediaType": MANIFEST_TYPE, "digest": digest(b"x"), "size": 1, "annotations": []}),
        "annotations that are not a map",
    ),
}


@pytest.mark.parametrize("case", list(PULL_CASES))
def test_pull(attempt: Attempt, case: str) -> None:
    setup, words = PULL_CASES[case]
    with HostileRegistry() as reg:
        setup(reg)
        refused(attempt, words, "pull", f"{reg.host}/x:1", timeout=60)
