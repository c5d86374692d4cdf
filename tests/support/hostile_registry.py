"""A registry that misbehaves on purpose, on loopback: a small HTTP server whose answer to each
path is a function the test gives. A user never touches a hostile registry's implementation,
so a stand-in is the real thing here."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Handler = Callable[[BaseHTTPRequestHandler], None]


class HostileRegistry:
    """``routes`` maps a request path (``/v2/…``, query removed) to what answers it; an unknown
    path gets 404. ``sent`` counts the body bytes each path's answers got onto the wire."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {"/v2/": lambda h: send(h, 200, b"{}")}
        self.sent: dict[str, int] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        registry = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                path = self.path.split("?", 1)[0]
                registry.requests.append(("GET", self.path, dict(self.headers.items())))
                route = registry.routes.get(path)
                try:
                    if route is None:
                        send(self, 404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')
                    else:
                        route(self)
                except OSError:  # the client hung up: what a refusal looks like from here
                    pass

            do_HEAD = do_GET  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> HostileRegistry:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def stream(self, path: str, chunks: Iterator[bytes], headers: dict[str, str]) -> Handler:
        """A handler sending ``chunks`` as the body (no length: until the connection closes),
        counting in :attr:`sent` what got out."""

        def handler(h: BaseHTTPRequestHandler) -> None:
            h.send_response(200)
            for name, value in headers.items():
                h.send_header(name, value)
            h.send_header("Connection", "close")
            h.end_headers()
            h.close_connection = True
            self.sent[path] = 0
            for chunk in chunks:
                h.wfile.write(chunk)
                h.wfile.flush()
                self.sent[path] += len(chunk)

        return handler


def send(
    h: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str = "application/json"
) -> None:
    h.send_response(status)
    h.send_header("Content-Type", ctype)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(body)


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image(layer_size: int = 130) -> tuple[bytes, bytes, str]:
    """An image's (manifest, config, layer digest): one gzip layer announced at ``layer_size``."""
    layer_digest = digest(b"the layer the registry pretends to have")
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [digest(b"its content")]},
            "config": {},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer_digest,
                    "size": layer_size,
                }
            ],
        }
    ).encode()
    return manifest, config, layer_digest
