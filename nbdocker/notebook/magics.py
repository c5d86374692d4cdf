"""IPython magics: ``%%dockerfile``, ``%%container``, the image verbs as line magics,
``%docker VERB …`` for every CLI verb, ``%snapshot`` and ``%layers``.

One grammar: every line magic parses its line with the very ``argparse`` sub-parser the
``nbdocker`` command uses for that verb (:func:`nbdocker.cli.grammar.build_parser`), so the
flags are Docker's and ``%commit?`` shows that parser's help. ``%%dockerfile`` takes
``nbdocker build``'s flags (:func:`~nbdocker.cli.build_verbs.add_build_arguments`) and an
optional context.

What a magic returns is the engine's value (an :class:`~nbdocker.engine.Image`, the ``images``
rows, …) with a rich display, so a notebook can compute with it: ``imgs = %images``.

Errors: an expected failure (:class:`~nbdocker.engine.errors.NbdockerError`) fails the cell with
its one line in red and no traceback (IPython's ``_render_traceback_`` protocol), so "run all"
still stops there. Interrupting the kernel during a build kills the step's container, names
nothing and keeps the steps already done in the cache; the cell ends with one line saying so.

``%history`` is also IPython's own magic: with no argument, or with IPython's arguments (line
ranges such as ``1-5``, ``-n``, ``-g``, ``-l``, …), ours hands the line to IPython's.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shlex
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class

from ..cli.build_verbs import add_build_arguments, build_options
from ..cli.container_verbs import run_options
from ..cli.grammar import build_parser
from ..cli.streams import Streams
from ..engine import Engine
from ..engine.containers import ContainerNotFound, RunOptions
from ..engine.errors import Conflict, NbdockerError, UsageError
from ..engine.events import Event
from ..engine.image import Image
from . import display as d
from .results import (
    HistoryTable,
    ImageList,
    InspectResult,
    Lines,
    register_formatters,
    unregister_formatters,
)

__all__ = ["BuildInterrupted", "NbdockerMagics", "load", "unload"]

# The verbs that are line magics of their own (the rest: %docker VERB).
LINE_VERBS = ("commit", "tag", "images", "import", "push", "pull", "rmi", "history", "inspect")
CELL_LABEL = "org.nbdocker.source.cell"
NOTEBOOK_LABEL = "org.nbdocker.source.notebook"
_INTERRUPTED_CODES = (130, 137, 143)  # SIGINT forwarded by the sandbox, or its SIGKILL/SIGTERM
# when the command ignored it (as the builder reads them)


class BuildInterrupted(NbdockerError):
    """The kernel was interrupted during a build or a container run."""


def short_error(exc: BaseException) -> BaseException:
    """Make IPython show ``exc`` as one red line instead of a traceback (the cell still fails)."""
    line = f"Error: {exc}"

    def render() -> list[str]:
        return [f"\x1b[0;31m{line}\x1b[0m"]

    exc._render_traceback_ = render  # type: ignore[attr-defined]
    return exc


# -- grammar --------------------------------------------------------------------------------------


def verb_parsers() -> dict[str, argparse.ArgumentParser]:
    """The CLI's sub-parser of every verb (fresh instances: their ``prog`` is ours to set)."""
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise RuntimeError("the nbdocker parser has no verbs")


def dockerfile_parser() -> argparse.ArgumentParser:
    from ..cli.grammar import VerbParser

    p = VerbParser(
        prog="%%dockerfile",
        description="Build the cell as a Dockerfile. Flags are nbdocker build's (docker "
        "build's). CONTEXT defaults to the notebook's folder (honouring .dockerignore) when "
        "the Dockerfile COPYs or ADDs local files, and to no context otherwise.",
    )
    add_build_arguments(p)
    p.add_argument("-q", "--quiet", action="store_true", help="No progress display")
    p.add_argument("context", nargs="?", metavar="CONTEXT", help="Build context directory")
    return p


def container_parser() -> argparse.ArgumentParser:
    from ..cli.grammar import VerbParser

    p = VerbParser(
        prog="%%container",
        description="Run the cell as a shell script inside the persistent container NAME "
        "(created from --from IMAGE the first time), streaming its output. Later cells run in "
        "the same container, on the files earlier cells changed; %commit NAME makes an image.",
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("--from", dest="image", metavar="IMAGE", help="Image to create NAME from")
    p.add_argument("--shell", default="/bin/sh", help="Shell that runs the cell (/bin/sh)")
    p.add_argument("-e", "--env", action="append", default=[], help="Set environment variables")
    p.add_argument("-w", "--workdir", help="Working directory inside the container")
    p.add_argument("-u", "--user", help="Username or UID")
    p.add_argument("--network", default="host", choices=("host", "none"), help="host or none")
    return p


def snapshot_parser() -> argparse.ArgumentParser:
    from ..cli.grammar import VerbParser

    p = VerbParser(
        prog="%snapshot",
        description="Make an image that reproduces this kernel's Python environment: every "
        "installed distribution pinned in a lock file (kept in the image and as a label), "
        "installed into a venv on a base image with the same Python major.minor.",
    )
    p.add_argument("-t", "--tag", default="snapshot:latest", help="Name of the image")
    p.add_argument(
        "--base",
        metavar="IMAGE",
        help="Base image with python3 (default: Debian bookworm built from mmdebstrap)",
    )
    p.add_argument("--no-cache", action="store_true", help="Do not use the build cache")
    p.add_argument("-q", "--quiet", action="store_true", help="No progress display")
    return p


def layers_parser() -> argparse.ArgumentParser:
    from ..cli.grammar import VerbParser

    p = VerbParser(
        prog="%layers",
        description="Inspect an image's layers: size bars, the instruction that made each "
        "layer, and the files it added, changed and removed.",
    )
    p.add_argument("image", metavar="IMAGE")
    return p


def _split(line: str) -> list[str]:
    try:
        return shlex.split(line, comments=False)
    except ValueError as exc:
        raise UsageError(f"cannot split the arguments ({exc}); check the quotes") from None


# -- output ---------------------------------------------------------------------------------------


def _in_kernel(shell: Any) -> bool:
    return getattr(shell, "kernel", None) is not None


class _TextBuild:
    """The build view outside a kernel (terminal IPython): Docker's classic text, live."""

    def __init__(self, quiet: bool) -> None:
        from ..cli.build_output import ClassicOutput
        from .state import BuildState

        self.state = BuildState()
        self.out = None if quiet else ClassicOutput(sys.stdout, explain=True)

    def __call__(self, event: Event) -> None:
        self.state.apply(event)
        if self.out is not None:
            self.out(event)

    def fail(self, message: str, interrupted: bool = False) -> None:
        with self.state.lock:
            self.state.fail(message, interrupted=interrupted)

    @property
    def rows(self) -> list[Any]:
        return self.state.steps

    @property
    def status(self) -> str:
        return self.state.status


class _Shown:
    """A widget displayed with a display id, re-published when the work ends so the saved
    notebook keeps its final text/html rendering."""

    def __init__(self, widget: Any) -> None:
        from IPython.display import display

        self.widget = widget
        self.handle = display(widget, display_id=True)

    def close(self) -> None:
        if self.handle is not None:
            self.handle.update(self.widget)


@contextlib.contextmanager
def _pumped(out: Any) -> Iterator[int]:
    """A pipe whose read end a thread copies, line by line, to ``out`` (the cell's stdout);
    yields the write end for a container's stdout and stderr."""
    read_fd, write_fd = os.pipe()

    def pump() -> None:
        with os.fdopen(read_fd, "rb") as source:
            for raw in source:
                out.write(raw.decode(errors="replace"))
                out.flush()

    thread = threading.Thread(target=pump, name="nbdocker-output", daemon=True)
    thread.start()
    try:
        yield write_fd
    finally:
        os.close(write_fd)
        thread.join()


@magics_class
class NbdockerMagics(Magics):
    """The nbdocker magics; see the module docstring. ``use_widgets`` forces (True) or
    disables (False) the widgets; by default they are used inside a Jupyter kernel."""

    use_widgets: bool | None = None

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self.last_progress: Any = None  # the last build/transfer view (for tests and users)
        # IPython's own %history, kept before ours takes the name (see _is_ipython_history)
        self._ipython_history = shell.find_line_magic("history") if shell is not None else None
        self._parsers = verb_parsers()
        for name, parser in self._parsers.items():
            parser.prog = f"%{name}" if name in LINE_VERBS else f"%docker {name}"
        self._dockerfile = dockerfile_parser()
        self._container = container_parser()
        self._snapshot = snapshot_parser()
        self._layers = layers_parser()
        self.magics["line"].update(
            {verb: self._verb_magic(verb) for verb in LINE_VERBS}  # type: ignore[index]
        )
        self.dockerfile.__func__.__doc__ = self._dockerfile.format_help()  # type: ignore[attr-defined]
        self.container.__func__.__doc__ = self._container.format_help()  # type: ignore[attr-defined]
        self.snapshot.__func__.__doc__ = self._snapshot.format_help()  # type: ignore[attr-defined]
        self.layers.__func__.__doc__ = self._layers.format_help()  # type: ignore[attr-defined]
        verbs = ", ".join(sorted(self._parsers))
        self.docker.__func__.__doc__ = (  # type: ignore[attr-defined]
            f"%docker VERB [ARGS...]: any nbdocker (docker) verb: {verbs}.\n"
            "%docker VERB --help shows the verb's flags."
        )

    # -- plumbing -------------------------------------------------------------------------------

    def _widgets(self) -> bool:
        if self.use_widgets is not None:
            return self.use_widgets
        return _in_kernel(self.shell)

    def _verb_magic(self, verb: str) -> Callable[[str], Any]:
        parser = self._parsers[verb]

        def magic(line: str) -> Any:
            return self._run_verb(verb, line)

        magic.__name__ = verb
        magic.__doc__ = parser.format_help()
        return magic

    @contextlib.contextmanager
    def _friendly(self) -> Iterator[None]:
        """Expected failures become one red line (the cell still fails)."""
        try:
            yield
        except NbdockerError as exc:
            raise short_error(exc) from None
        except SystemExit:  # argparse's --help
            pass

    def _parse(self, parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
        if any(a in ("-h", "--help") for a in argv):
            print(parser.format_help())
            raise SystemExit(0)
        return parser.parse_args(argv)

    def _run_verb(self, verb: str, line: str) -> Any:
        if verb == "history" and self._ipython_history is not None and _is_ipython_history(line):
            return self._ipython_history(line)
        with self._friendly():
            argv = _split(line)
            return self._dispatch(verb, self._parse(self._parsers[verb], argv), argv)

    def _streams(self) -> Streams:
        return Streams(sys.stdout, sys.stderr, io.BytesIO(), _NoBinaryOut(), out_is_tty=True)

    def _dispatch(self, verb: str, args: argparse.Namespace, argv: list[str]) -> Any:
        method = getattr(self, f"_do_{verb}", None)
        if method is not None:
            return method(args)
        return args.handler(Engine(), args, self._streams()) or None

    # -- line magics ----------------------------------------------------------------------------

    @line_magic
    def docker(self, line: str) -> Any:
        with self._friendly():
            argv = _split(line)
            if not argv or argv[0] in ("-h", "--help"):
                print(self.docker.__doc__)
                return None
            verb, rest = argv[0], argv[1:]
            if verb not in self._parsers:
                raise UsageError(
                    f"%docker: unknown verb {verb!r}; one of {', '.join(sorted(self._parsers))}"
                )
            return self._dispatch(verb, self._parse(self._parsers[verb], rest), rest)

    @line_magic
    def snapshot(self, line: str) -> Any:
        from .snapshot import make_snapshot

        with self._friendly():
            args = self._parse(self._snapshot, _split(line))
            view = self._build_view(f"snapshot {args.tag}", args.quiet)
            try:
                return make_snapshot(
                    Engine(on_event=view),
                    args.tag,
                    base=args.base,
                    no_cache=args.no_cache,
                    on_build=lambda run: self._guard_build(view, run),
                )
            finally:
                self._close(view)
        return None

    @line_magic
    def layers(self, line: str) -> Any:
        with self._friendly():
            args = self._parse(self._layers, _split(line))
            return inspect_layers(args.image, widget=self._widgets())
        return None

    def _do_images(self, args: argparse.Namespace) -> Any:
        rows = Engine().images(args.reference, all=args.all)
        if args.quiet:
            ids: list[str] = []
            for row in rows:
                short = row.id if args.no_trunc else d.short_id(row.id)
                if short not in ids:
                    ids.append(short)
            return Lines(ids)
        return ImageList(rows, widget=self._widgets())

    def _do_tag(self, args: argparse.Namespace) -> Image:
        engine = Engine()
        ref = engine.tag(args.source, args.target)
        return engine.get(str(ref))

    def _do_rmi(self, args: argparse.Namespace) -> Lines:
        removals = Engine().remove(args.images, force=args.force)
        return Lines([f"{r.action}: {r.what}" for r in removals], items=removals)

    def _do_history(self, args: argparse.Namespace) -> HistoryTable:
        return HistoryTable(Engine().history(args.image))

    def _do_inspect(self, args: argparse.Namespace) -> InspectResult:
        engine = Engine()
        return InspectResult([engine.inspect(name) for name in args.images])

    def _do_commit(self, args: argparse.Namespace) -> Image:
        return Engine().commit(
            args.container,
            args.reference,
            message=args.message,
            author=args.author,
            change=args.change,
        )

    def _do_import(self, args: argparse.Namespace) -> Image:
        if args.source == "-":
            raise UsageError(
                "%import: a notebook has no standard input; give the tarball's path or URL"
            )
        engine = Engine(on_event=self._transfer_view("import", args.source))
        try:
            return engine.import_image(
                args.source, args.reference, message=args.message, change=args.change
            )
        finally:
            self._close(engine.on_event)

    def _do_pull(self, args: argparse.Namespace) -> Image:
        from ..cli.registry_verbs import registry_settings

        view = self._transfer_view("pull", args.reference, args.quiet)
        try:
            return Engine(on_event=view).pull(args.reference, settings=registry_settings(args))
        except NbdockerError as exc:
            self._close(view, str(exc))
            raise
        finally:
            self._close(view)

    def _do_push(self, args: argparse.Namespace) -> Lines:
        from ..cli.registry_verbs import registry_settings

        view = self._transfer_view("push", args.reference, args.quiet)
        try:
            results = Engine(on_event=view).push(args.reference, settings=registry_settings(args))
        except NbdockerError as exc:
            self._close(view, str(exc))
            raise
        lines = [f"{r.reference.familiar}: digest: {r.digest} size: {r.size}" for r in results]
        self._close(view, f"pushed {len(results)} tag{'s' if len(results) != 1 else ''}")
        return Lines(lines, items=results)

    def _do_build(self, args: argparse.Namespace) -> Image:
        if args.context == "-" or args.file == "-":
            raise UsageError("%docker build: a notebook has no standard input; use %%dockerfile")
        options = build_options(args)
        return self._build(args.context, options, args.quiet, " ".join(args.tag))

    def _do_run(self, args: argparse.Namespace) -> None:
        """Runs the container, its output streamed into the cell; a non-zero exit fails the
        cell. Returns nothing (``-d`` prints the container's ID, as Docker)."""
        if args.detach:
            args.handler(Engine(), args, self._streams())
            return None
        if args.tty or args.interactive:
            print(
                "(a notebook has no terminal: running without -i/-t; for a shell session "
                "use %%container)"
            )
        engine = Engine()
        options = replace(run_options(args), tty=False, interactive=False)
        container = engine.create(args.image, args.command, options)
        try:
            code = self._start(engine, container.id)
        finally:
            if args.rm:
                engine.remove_container(container.id, force=True)
        if code:
            raise NbdockerError(f"the container's command exited with status {code}")
        return None

    def _start(self, engine: Engine, container: str) -> int:
        sys.stdout.flush()
        with _pumped(sys.stdout) as out:
            code = engine.start(container, stdout=out, stderr=out)
        if code in _INTERRUPTED_CODES:
            raise BuildInterrupted(
                f"interrupted: the command in container {container[:12]} was stopped "
                "(its files stay; %docker rm it or run the cell again)"
            )
        return code

    # -- cell magics ----------------------------------------------------------------------------

    @cell_magic
    def dockerfile(self, line: str, cell: str) -> Any:
        with self._friendly():
            args = self._parse(self._dockerfile, _split(line))
            if args.file:
                raise UsageError("%%dockerfile: the cell is the Dockerfile; drop -f")
            # One blank line for the magic's own line, so ``cell:N`` is the cell's line N —
            # unless the cell opens with parser directives, which must stay first.
            directive = re.match(r"\s*#\s*(syntax|escape|check)\s*=", cell, re.IGNORECASE)
            options = build_options(args, cell if directive else "\n" + cell)
            labels = dict(options.labels)
            labels.setdefault(CELL_LABEL, f"%%dockerfile {line}\n{cell}".rstrip("\n"))
            notebook = os.environ.get("JPY_SESSION_NAME")
            if notebook:
                labels.setdefault(NOTEBOOK_LABEL, notebook)
            options = replace(
                options,
                dockerfile_name="cell",
                labels=tuple(labels.items()),
                comment=f"built from a notebook cell ({len(cell.splitlines())} lines)",
            )
            context = args.context
            if context is None and _copies_local_files(cell):
                context = os.getcwd()
            return self._build(context, options, args.quiet, " ".join(args.tag))
        return None

    @cell_magic
    def container(self, line: str, cell: str) -> Any:
        with self._friendly():
            args = self._parse(self._container, _split(line))
            engine = Engine()
            argv = (args.shell, "-c", cell)
            try:
                existing = engine.containers.get(args.name)
            except ContainerNotFound:
                existing = None
            if existing is None:
                if not args.image:
                    raise UsageError(
                        f"%%container: no container named {args.name!r} yet; create it with "
                        f"%%container {args.name} --from IMAGE"
                    )
                options = RunOptions(
                    name=args.name,
                    entrypoint="",
                    env=tuple(args.env),
                    workdir=args.workdir,
                    user=args.user,
                    network=args.network,
                )
                container = engine.create(args.image, argv, options)
            else:
                if args.image and engine.get(args.image).id != existing.config.image:
                    raise Conflict(
                        f"container {args.name!r} exists and was made from another image "
                        f"({existing.config.image_name}); remove it (%docker rm {args.name}) "
                        "or drop --from"
                    )
                if existing.state == "running":
                    raise Conflict(f"container {args.name!r} is running; wait for it to finish")
                config = replace(existing.config, entrypoint=(), cmd=argv)
                if args.env:
                    config = replace(config, env=(*config.env, *args.env))
                container = replace(existing, config=config)
                engine.containers.save(container)
            code = self._start(engine, container.id)
            if code:
                raise NbdockerError(
                    f"the script exited with status {code} in container {args.name!r} "
                    "(its changes so far are kept)"
                )
        return None

    # -- builds ---------------------------------------------------------------------------------

    def _build_view(self, title: str, quiet: bool = False) -> Any:
        if self._widgets() and not quiet:
            from .widgets import BuildProgress

            view: Any = BuildProgress(title)
            view._shown = _Shown(view)
        else:
            view = _TextBuild(quiet)
        self.last_progress = view
        return view

    def _transfer_view(self, task: str, reference: str, quiet: bool = False) -> Any:
        if self._widgets() and not quiet:
            from .widgets import TransferProgress

            view: Any = TransferProgress(task, reference)
            view._shown = _Shown(view)
            self.last_progress = view
            return view
        from .state import TransferState

        state = TransferState(task, reference)
        self.last_progress = state
        return state.apply

    def _close(self, view: Any, message: str = "") -> None:
        finish = getattr(view, "finish", None)
        state = getattr(view, "state", None)
        if finish is not None and state is not None and state.status == "running":
            finish(message)
        shown = getattr(view, "_shown", None)
        if shown is not None:
            shown.close()

    def _guard_build(self, view: Any, run: Callable[[], Image]) -> Image:
        """Run a build; turn an interrupt into one line, with nothing tagged and the cache kept
        (the builder guarantees both; this only reports)."""
        try:
            return run()
        except KeyboardInterrupt:
            message = _interrupted_message(view)
            view.fail(message, interrupted=True)
            raise short_error(BuildInterrupted(message)) from None
        except NbdockerError as exc:
            if getattr(exc, "command_status", None) in _INTERRUPTED_CODES:
                message = _interrupted_message(view)
                view.fail(message, interrupted=True)
                raise short_error(BuildInterrupted(message)) from None
            if view.status == "running":
                view.fail(str(exc))
            raise

    def _build(self, context: Any, options: Any, quiet: bool, title: str) -> Image:
        view = self._build_view(title, quiet)
        engine = Engine(on_event=view)
        try:
            return self._guard_build(view, lambda: engine.build(context, options))
        finally:
            self._close(view)


def _interrupted_message(view: Any) -> str:
    running = [r for r in view.rows if r.state in ("running", "failed")]
    where = f" at step {running[0].number} ({running[0].instruction})" if running else ""
    return (
        f"build interrupted{where}: its container was killed, nothing was tagged, and the "
        "steps already done stay cached"
    )


class _NoBinaryOut(io.BytesIO):
    def fileno(self) -> int:
        raise io.UnsupportedOperation("a notebook cell has no binary standard output")


_IPY_HISTORY = re.compile(r"^(~?\d+(/\d+)?(-\d+)?|-[nogpturflg]+|-[fgl]\s.*|--\w+.*)$")


def _is_ipython_history(line: str) -> bool:
    """True for IPython's own %history lines: no argument, ranges, or its flags."""
    text = line.strip()
    if not text:
        return True
    ours = {"--no-trunc", "-q", "--quiet", "-H", "--human", "--no-human", "-h", "--help"}
    words = _split(text)
    if any(w in ours for w in words):
        return False
    return all(_IPY_HISTORY.match(w) for w in words) or words[0] in ("-f", "-g", "-l", "-n")


def _copies_local_files(text: str) -> bool:
    """Whether a Dockerfile COPYs or ADDs from the build context (so it needs one)."""
    from ..engine.dockerfile import Add, Copy, parse, parse_instructions

    try:
        instructions = parse_instructions(parse(text, "cell"))
    except NbdockerError:
        return True  # let the build report the error, with the context it would have had
    for ins in instructions:
        if isinstance(ins, Copy) and ins.from_ is None and ins.sources:
            return True
        if isinstance(ins, Add) and any(
            not s.startswith(("http://", "https://", "git@")) for s in ins.sources
        ):
            return True
    return False


def inspect_layers(image: str | Image, widget: bool = True, engine: Engine | None = None) -> Any:
    """The layer inspector of ``image``: a widget in a kernel, else its text/html rendering."""
    from .layers import layer_infos
    from .results import LayerReport

    engine = engine or Engine()
    img = engine.get(image) if isinstance(image, str) else image
    title = ", ".join(r.familiar for r in img.tags) or d.short_id(img.id)
    infos = layer_infos(engine, img)
    if widget:
        from .widgets import LayerInspector

        return LayerInspector(title, infos)
    return LayerReport(title, infos)


# -- loading --------------------------------------------------------------------------------------


def load(shell: Any) -> None:
    shell.register_magics(NbdockerMagics)
    register_formatters(shell)


def unload(shell: Any) -> None:
    unregister_formatters(shell)


def _json(obj: Any) -> str:
    return json.dumps(obj, indent=4, ensure_ascii=False, default=str)
