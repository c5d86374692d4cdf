"""The REST endpoints and the event socket (see the package docstring for the list).

Every handler is a jupyter_server ``APIHandler``: ``@authenticated`` refuses a request without
a valid token or login cookie (403), and jupyter_server's XSRF check refuses a cookie-
authenticated POST without the matching ``X-XSRFToken`` header. ``@authorized`` asks the
server's authorizer (JupyterHub's, under a hub) for the resource named by ``auth_resource``;
shells are ``terminals``, because that is what they are.

Engine calls block on the disk (and builds for minutes): they run on worker threads, never on
the event loop. An expected failure answers with its status and ``{"message": one line}``:
400 for bad input, 404 for an unknown image or container, 409 for a conflict.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.utils import ensure_async
from tornado import web, websocket

from ..engine import Conflict, Engine, ImageNotFound, NbdockerError, UsageError
from ..engine.reference import parse_reference
from . import views

__all__ = ["handlers"]

T = TypeVar("T")
AUTH_RESOURCE = "nbdocker"


def _status(exc: NbdockerError) -> int:
    if isinstance(exc, ImageNotFound) or type(exc).__name__ == "ContainerNotFound":
        return 404
    if isinstance(exc, Conflict):
        return 409
    return 400


class _Base(APIHandler):
    auth_resource = AUTH_RESOURCE

    @property
    def lab(self) -> Any:
        return self.settings["nbdocker"]

    def body(self) -> dict[str, Any]:
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise web.HTTPError(400, "the body is not JSON") from None
        if not isinstance(data, dict):
            raise web.HTTPError(400, "the body must be a JSON object")
        return data

    def text(self, data: dict[str, Any], key: str, *, required: bool = True) -> str:
        value = data.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            raise web.HTTPError(400, f"give {key!r} as a non-empty string")
        return value.strip()

    async def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on a worker thread; expected failures become JSON errors."""
        try:
            return await asyncio.get_running_loop().run_in_executor(None, fn)
        except NbdockerError as exc:
            self.set_status(_status(exc))
            self.finish(json.dumps({"message": str(exc)}))
            raise _Answered() from None

    def reply(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, _Answered):
            return
        super()._handle_request_exception(e)


class _Answered(Exception):
    """The error reply was already written."""


class ImagesHandler(_Base):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        show_all = self.get_query_argument("all", "0") in ("1", "true")
        rows = await self.call(lambda: views.images_json(Engine(), all=show_all))
        self.reply({"images": rows})


class ImageHistoryHandler(_Base):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        image = self.get_query_argument("image")
        engine = Engine()
        entries = await self.call(lambda: views.history_json(engine.history(image)))
        self.reply({"history": entries})


class ImageLayersHandler(_Base):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        image = self.get_query_argument("image")
        self.reply(await self.call(lambda: views.layers_json(Engine(), image)))


class TagHandler(_Base):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        data = self.body()
        source, target = self.text(data, "source"), self.text(data, "target")
        ref = await self.call(lambda: Engine().tag(source, target))
        self.reply({"reference": ref.familiar})


class RemoveImageHandler(_Base):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        data = self.body()
        image = self.text(data, "image")
        force = bool(data.get("force"))
        removals = await self.call(lambda: Engine().remove([image], force=force))
        self.reply({"removed": [{"action": r.action, "what": r.what} for r in removals]})


class PushHandler(_Base):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        reference = self.text(self.body(), "reference")
        try:
            parse_reference(reference)
        except NbdockerError as exc:
            self.reply({"message": str(exc)}, 400)
            return
        task = self.lab.tasks.push(reference)
        self.reply({"task": task.to_json()}, 202)


class ContainersHandler(_Base):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        rows = await self.call(lambda: views.containers_json(Engine()))
        launcher = self.lab.shells
        for row in rows:
            row["terminal"] = launcher.live_terminal(row["id"]) if launcher else None
        self.reply({"containers": rows})


class CommitHandler(_Base):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        data = self.body()
        container = self.text(data, "container")
        reference = self.text(data, "reference", required=False) or None
        message = self.text(data, "message", required=False) or None
        author = self.text(data, "author", required=False) or None
        engine = Engine()
        image = await self.call(
            lambda: engine.commit(container, reference, message=message, author=author)
        )
        self.reply({"id": image.id, "short_id": image.short_id, "reference": reference})


class DiffHandler(_Base):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        container = self.get_query_argument("container")
        changes = await self.call(lambda: Engine().diff(container))
        self.reply({"changes": [{"kind": k, "path": p} for k, p in changes]})


class RemoveContainerHandler(_Base):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        data = self.body()
        container = self.text(data, "container")
        force = bool(data.get("force"))
        removed = await self.call(lambda: Engine().remove_container(container, force=force))
        self.reply({"removed": removed.id})


class ShellsHandler(_Base):
    """POST ``{"image", "command"?: [...], "name"?}``: a new container with a terminal;
    POST ``{"container", "rm"?}``: the terminal of a container made for one (``create -it``);
    POST ``{"run": [ARGS...]}``: a terminal running ``nbdocker run ARGS...`` (``%docker run
    -it`` or ``-i`` in a notebook)."""

    auth_resource = "terminals"

    @web.authenticated
    @authorized
    async def post(self) -> None:
        launcher = self.lab.shells
        if launcher is None:
            self.reply({"message": "this Jupyter server has terminals disabled"}, 400)
            return
        data = self.body()
        engine = Engine()
        if data.get("run") is not None:
            args = data["run"]
            if not (isinstance(args, list) and all(isinstance(a, str) for a in args)):
                raise web.HTTPError(400, "give 'run' as the list of nbdocker run's arguments")
            argv = await self.call(lambda: launcher.run_command(engine, args))
            self.reply({"terminal": launcher.terminal_running(argv)}, 201)
            return
        if data.get("container"):
            container = self.text(data, "container")
            c = await self.call(lambda: launcher.attachable(engine, container))
            try:
                terminal = launcher.terminal_for(c, remove=bool(data.get("rm")))
            except NbdockerError as exc:
                self.reply({"message": str(exc)}, _status(exc))
                return
        else:
            image = self.text(data, "image")
            command = data.get("command") or None
            if command is not None and not (
                isinstance(command, list) and all(isinstance(a, str) for a in command)
            ):
                raise web.HTTPError(400, "give 'command' as a list of strings")
            name = self.text(data, "name", required=False) or None
            c = await self.call(lambda: launcher.create_container(engine, image, command, name))
            terminal = launcher.terminal_for(c)
        self.reply({"terminal": terminal, "container": views.container_json(c)}, 201)


class BuildsHandler(_Base):
    """POST ``{"path": <file in the server's tree>, "tags": [...], "no_cache"?}``: build that
    Dockerfile with its folder as the context; progress arrives on the event socket."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        data = self.body()
        path = self.text(data, "path")
        tags = data.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
            raise web.HTTPError(400, "give 'tags' as a list of names")
        try:
            for tag in tags:
                parse_reference(tag)
            dockerfile = self.lab.resolve(path)
        except NbdockerError as exc:
            self.reply({"message": str(exc)}, 400)
            return
        task = self.lab.tasks.build(dockerfile, tuple(tags), no_cache=bool(data.get("no_cache")))
        self.reply({"task": task.to_json()}, 202)


class TasksHandler(_Base):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply({"tasks": [t.to_json() for t in self.lab.tasks.list()]})


class EventsHandler(WebSocketMixin, websocket.WebSocketHandler, JupyterHandler):
    """The event socket. The upgrade request is authenticated like any other request (token
    or cookie); the origin check is jupyter_server's."""

    auth_resource = AUTH_RESOURCE

    @property
    def lab(self) -> Any:
        return self.settings["nbdocker"]

    async def get(self, *args: Any, **kwargs: Any) -> None:
        user = self.current_user
        if user is None:
            raise web.HTTPError(403)
        if not await ensure_async(self.authorizer.is_authorized(self, user, "read", AUTH_RESOURCE)):
            raise web.HTTPError(403)
        await super().get(*args, **kwargs)

    def open(self, *args: Any, **kwargs: Any) -> None:
        super().open(*args, **kwargs)
        self.lab.hub.sockets.add(self)
        tasks = [t.to_json() for t in self.lab.tasks.list()]
        self.write_message(
            json.dumps({"type": "hello", "tasks": tasks, "activity": self.lab.activity})
        )

    def on_message(self, message: str | bytes) -> None:
        pass  # the socket only talks to the browser

    def on_close(self) -> None:
        super().on_close()
        self.lab.hub.sockets.discard(self)


def handlers(prefix: str) -> list[tuple[str, type[web.RequestHandler]]]:
    routes: dict[str, type[web.RequestHandler]] = {
        "images": ImagesHandler,
        "images/history": ImageHistoryHandler,
        "images/layers": ImageLayersHandler,
        "images/tag": TagHandler,
        "images/remove": RemoveImageHandler,
        "images/push": PushHandler,
        "containers": ContainersHandler,
        "containers/commit": CommitHandler,
        "containers/diff": DiffHandler,
        "containers/remove": RemoveContainerHandler,
        "shells": ShellsHandler,
        "builds": BuildsHandler,
        "tasks": TasksHandler,
        "events": EventsHandler,
    }
    return [(f"{prefix}/{path}", handler) for path, handler in routes.items()]


def resolve_in_root(root: Path, path: str) -> Path:
    """``path`` (as the lab names files: relative to the server's root) as an absolute path
    that stays inside ``root``; UsageError if it leaves it or is not a file."""
    candidate = (root / path.lstrip("/")).resolve()
    if candidate != root and root not in candidate.parents:
        raise UsageError(f"{path}: outside the server's folder; build files inside it")
    if not candidate.is_file():
        raise UsageError(f"{path}: no such Dockerfile; save it first")
    return candidate
