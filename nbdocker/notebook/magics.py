"""IPython magics: ``%%dockerfile``, ``%%container``, the image verbs as line magics,
``%docker VERB …`` for every CLI verb, ``%snapshot``, ``%layers`` and ``%nbdocker``.

One grammar: every line magic parses its line with the very ``argparse`` sub-parser the
``nbdocker`` command uses for that verb (:mod:`.magic_grammar`), so the flags are Docker's and
``%commit?`` shows that parser's help; ``%nbdocker`` lists every magic with one line each.

What a magic returns is the engine's value (an :class:`~nbdocker.engine.Image`, the ``images``
rows, …) with a rich display, so a notebook can compute with it: ``imgs = %images``.

Outputs: long work (builds, pulls, pushes, imports) shows a live widget while it runs and
leaves a static HTML + text output when it ends (:mod:`.live`); tables are static outputs. So a
notebook saved, reopened without its kernel, rendered by GitHub or exported by nbconvert shows
every final table. Work that fails before it starts (a bad name, a bad flag, a Dockerfile that
does not parse) shows nothing but its error.

Errors: an expected failure (:class:`~nbdocker.engine.errors.NbdockerError`) fails the cell with
its one line in red and no traceback (IPython's ``_render_traceback_`` protocol), so "run all"
still stops there. Interrupting the kernel during a build kills the step's container at once,
names nothing and keeps the steps already done in the cache; the progress says "interrupted"
and the cell ends with one line saying so.

Why a build missed the cache is explained by earlier builds of the same Dockerfile only: the
same ``-t`` name, or the same notebook cell (its cell ID, which JupyterLab sends with each
execution) — see :mod:`nbdocker.engine.builder.cache`.

``%history`` is also IPython's own magic: with no argument, or with IPython's arguments (line
ranges such as ``1-5``, ``-n``, ``-g``, ``-l``, …), ours hands the line to IPython's.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shlex
import shutil
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class

from ..cli.build_verbs import build_options, source_date_epoch
from ..cli.container_verbs import run_options
from ..cli.streams import Streams
from ..engine import Engine
from ..engine.containers import ContainerNotFound, RunOptions
from ..engine.errors import Conflict, NbdockerError, UsageError
from ..engine.image import Image
from . import display as d
from . import magic_grammar as g
from .live import BuildView, TransferView
from .results import (
    HistoryTable,
    ImageList,
    InspectResult,
    LayerReport,
    Lines,
    register_formatters,
    unregister_formatters,
)
from .translations import language, set_language, tr

__all__ = ["BuildInterrupted", "NbdockerMagics", "load", "shell_hint", "unload"]

CELL_LABEL = "org.nbdocker.source.cell"
NOTEBOOK_LABEL = "org.nbdocker.source.notebook"
_INTERRUPTED_CODES = (130, 137, 143)  # SIGINT forwarded by the sandbox, or its SIGKILL/SIGTERM
# when the command ignored it (as the builder reads them)


class BuildInterrupted(NbdockerError):
    """The kernel was interrupted during a build or a container run."""


def short_error(exc: BaseException) -> BaseException:
    """Make IPython show ``exc`` as one red line instead of a traceback (the cell still fails)."""
    line = tr("Error: {message}", message=exc)

    def render() -> list[str]:
        return [f"\x1b[0;31m{line}\x1b[0m"]

    exc._render_traceback_ = render  # type: ignore[attr-defined]
    return exc


def _split(line: str) -> list[str]:
    try:
        return shlex.split(line, comments=False)
    except ValueError as exc:
        raise UsageError(f"cannot split the arguments ({exc}); check the quotes") from None


def _in_kernel(shell: Any) -> bool:
    return getattr(shell, "kernel", None) is not None


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


def shell_hint(argv: list[str], image: str) -> str:
    """What ``%docker run -it …`` prints: a cell has no terminal, here is how to get a shell.

    The command to type is ``nbdocker run`` with the same arguments (with ``python -m nbdocker``
    when the kernel's ``nbdocker`` is not on ``PATH``, and the kernel's ``NBDOCKER_HOME``)."""
    program = ["nbdocker"] if shutil.which("nbdocker") else [sys.executable, "-m", "nbdocker"]
    env = (
        f"NBDOCKER_HOME={shlex.quote(os.environ['NBDOCKER_HOME'])} "
        if ("NBDOCKER_HOME" in os.environ)
        else ""
    )
    flags = " ".join(a for a in argv if a in ("-i", "-t", "-it", "-ti", "--interactive", "--tty"))
    command = env + shlex.join([*program, "run", *argv])
    return "\n".join(
        [
            tr(
                "A notebook cell has no terminal, so `docker run {flags}` cannot give you a "
                "shell here; nothing was run or created.",
                flags=flags or "-it",
            ),
            tr(
                "For a shell in {image}, open a terminal (JupyterLab: File → New → Terminal) "
                "and run:",
                image=image,
            ),
            f"    {command}",
            tr(
                "Or run the commands as a script in a persistent container with a %%container cell:"
            ),
            f"    %%container NAME --from {image}",
        ]
    )


@magics_class
class NbdockerMagics(Magics):
    """The nbdocker magics; see the module docstring. ``use_widgets`` forces (True) or
    disables (False) the widgets; by default they are used inside a Jupyter kernel.

    ``open_terminal``, when set (by a front end that can open a terminal, such as a JupyterLab
    integration), is called with the ``nbdocker run -it …`` argv of ``%docker run -it`` and
    returns whether it opened a terminal running it; else the magic prints :func:`shell_hint`."""

    use_widgets: bool | None = None
    open_terminal: Callable[[list[str]], bool] | None = None

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self.last_progress: Any = None  # the last build/transfer view (for tests and users)
        self.cell_id: str | None = None  # of the cell running now, when the front end says
        # IPython's own %history, kept before ours takes the name (see _is_ipython_history)
        self._ipython_history = shell.find_line_magic("history") if shell is not None else None
        self._parsers = g.verb_parsers()
        for name, parser in self._parsers.items():
            parser.prog = f"%{name}" if name in g.LINE_VERBS else f"%docker {name}"
        self._dockerfile = g.dockerfile_parser()
        self._container = g.container_parser()
        self._snapshot = g.snapshot_parser()
        self._layers = g.layers_parser()
        self._nbdocker = g.nbdocker_parser()
        self.magics["line"].update(
            {verb: self._verb_magic(verb) for verb in g.LINE_VERBS}  # type: ignore[index]
        )
        for name, parser in (
            ("dockerfile", self._dockerfile),
            ("container", self._container),
            ("snapshot", self._snapshot),
            ("layers", self._layers),
        ):
            self._document(name, parser.format_help())
        summaries = g.verb_summaries()
        verbs = "\n".join(f"  {v:<8} {summaries.get(v, '')}" for v in sorted(self._parsers))
        self._document(
            "docker",
            f"%docker VERB [ARGS...]: {g.DOCKER}.\n%docker VERB --help shows the verb's "
            f"flags (docker's).\n\nVerbs:\n{verbs}",
        )
        self._document("nbdocker", g.help_text())

    def _document(self, name: str, doc: str) -> None:
        """Set the magic's docstring (what ``%name?`` shows) from its grammar."""
        function: Any = getattr(type(self), name)
        function.__doc__ = doc

    # -- plumbing -------------------------------------------------------------------------------

    def note_cell(self, info: Any) -> None:
        """IPython's ``pre_run_cell`` event: remember the cell's ID (JupyterLab sends it)."""
        self.cell_id = getattr(info, "cell_id", None) or None

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
            return method(args) if verb != "run" else method(args, argv)
        return args.handler(Engine(), args, self._streams()) or None

    def _lineage(self) -> tuple[str, ...]:
        return (f"cell:{self.cell_id}",) if self.cell_id else ()

    # -- line magics ----------------------------------------------------------------------------

    @line_magic
    def nbdocker(self, line: str) -> Any:
        with self._friendly():
            args = self._parse(self._nbdocker, _split(line))
            if args.command == "help":
                print(g.help_text())
            else:
                if args.language:
                    set_language(args.language)
                print(
                    tr(
                        "notebook language: {language} (set with %nbdocker lang zh|en|auto)",
                        language=language(),
                    )
                )
        return None

    @line_magic
    def docker(self, line: str) -> Any:
        with self._friendly():
            argv = _split(line)
            if not argv or argv[0] in ("-h", "--help"):
                print(type(self).docker.__doc__)
                return None
            verb, rest = argv[0], argv[1:]
            if verb not in self._parsers:
                raise UsageError(
                    f"%docker: unknown verb {verb!r}; one of {', '.join(sorted(self._parsers))}"
                )
            return self._dispatch(verb, self._parse(self._parsers[verb], rest), rest)
        return None

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
                view.close()
        return None

    @line_magic
    def layers(self, line: str) -> Any:
        with self._friendly():
            args = self._parse(self._layers, _split(line))
            return inspect_layers(args.image)
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
        return ImageList(rows)

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
            pause=args.pause,
        )

    def _do_import(self, args: argparse.Namespace) -> Image:
        if args.source == "-":
            raise UsageError(
                "%import: a notebook has no standard input; give the tarball's path or URL"
            )
        epoch = source_date_epoch()
        view = TransferView("import", args.source, self._widgets())
        self.last_progress = view
        ok = False
        try:
            image = Engine(on_event=view).import_image(
                args.source,
                args.reference,
                message=args.message,
                change=args.change,
                source_date_epoch=epoch,
            )
            ok = True
            return image
        finally:
            view.close(failed=not ok)

    def _do_pull(self, args: argparse.Namespace) -> Image:
        from ..cli.registry_verbs import registry_settings

        view = TransferView("pull", args.reference, self._widgets(), args.quiet)
        self.last_progress = view
        ok = False
        try:
            image = Engine(on_event=view).pull(args.reference, settings=registry_settings(args))
            ok = True
            return image
        finally:
            view.close(failed=not ok)

    def _do_push(self, args: argparse.Namespace) -> Lines:
        from ..cli.registry_verbs import registry_settings

        view = TransferView("push", args.reference, self._widgets(), args.quiet)
        self.last_progress = view
        results = []
        ok = False
        try:
            results = Engine(on_event=view).push(args.reference, settings=registry_settings(args))
            ok = True
        finally:
            count = len(results)
            done = tr("pushed 1 tag") if count == 1 else tr("pushed {count} tags", count=count)
            view.close(done, failed=not ok)
        lines = [f"{r.reference.familiar}: digest: {r.digest} size: {r.size}" for r in results]
        return Lines(lines, items=results)

    def _do_build(self, args: argparse.Namespace) -> Image:
        if args.context == "-" or args.file == "-":
            raise UsageError("%docker build: a notebook has no standard input; use %%dockerfile")
        options = replace(build_options(args), lineage=self._lineage())
        return self._build(args.context, options, args.quiet, " ".join(args.tag))

    def _do_run(self, args: argparse.Namespace, argv: list[str]) -> None:
        """Runs the container, its output streamed into the cell; a non-zero exit fails the
        cell. Returns nothing (``-d`` prints the container's ID, as Docker). With ``-i`` (a
        shell), nothing is run: a cell has no terminal; it says how to get one."""
        if args.detach:
            args.handler(Engine(), args, self._streams())
            return None
        if args.interactive:
            Engine().get(args.image)  # a typo'd image is still an error
            command = ["nbdocker", "run", *argv]
            if self.open_terminal is None or not self.open_terminal(command):
                print(shell_hint(argv, args.image))
            return None
        if args.tty:
            print(tr("(a notebook has no terminal: running without -t)"))
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
                tr(
                    "interrupted: the command in container {container} was stopped (its files "
                    "stay; %docker rm it or run the cell again)",
                    container=container[:12],
                )
            )
        return code

    # -- cell magics ----------------------------------------------------------------------------

    @cell_magic
    def dockerfile(self, line: str, cell: str) -> Any:
        with self._friendly():
            args = self._parse(self._dockerfile, _split(line))
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
                lineage=self._lineage(),
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
                    isolation=args.isolation,
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

    def _build_view(self, title: str, quiet: bool = False) -> BuildView:
        view = BuildView(title, self._widgets(), quiet)
        self.last_progress = view
        return view

    def _guard_build(self, view: BuildView, run: Callable[[], Image]) -> Image:
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
            view.close()


def _interrupted_message(view: BuildView) -> str:
    stopped = [r for r in view.rows if r.state in ("running", "failed", "interrupted")]
    if not stopped or not stopped[0].instruction:
        return tr("build interrupted: nothing was tagged, and the steps already done stay cached")
    return tr(
        "build interrupted at step {step} ({instruction}): its container was killed, nothing was "
        "tagged, and the steps already done stay cached",
        step=stopped[0].number,
        instruction=stopped[0].instruction,
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


def inspect_layers(image: str | Image, engine: Engine | None = None) -> LayerReport:
    """The layer inspector of ``image`` (a static output: it needs no kernel to unfold)."""
    from .layer_contents import layer_infos

    engine = engine or Engine()
    img = engine.get(image) if isinstance(image, str) else image
    title = ", ".join(r.familiar for r in img.tags) or d.short_id(img.id)
    return LayerReport(title, layer_infos(engine, img))


# -- loading --------------------------------------------------------------------------------------


def load(shell: Any) -> None:
    from .lab_terminal import connect

    magics = NbdockerMagics(shell)
    shell.register_magics(magics)
    shell.events.register("pre_run_cell", magics.note_cell)
    register_formatters(shell)
    connect(shell, magics)  # JupyterLab with nbdocker's extension opens %docker run -it shells


def unload(shell: Any) -> None:
    magics = shell.magics_manager.registry.get("NbdockerMagics")
    if magics is not None:
        with contextlib.suppress(ValueError):
            shell.events.unregister("pre_run_cell", magics.note_cell)
    unregister_formatters(shell)
