"""ARCHITECTURE.md's picture is the code's: imports point down its layers, no module imports
itself back in a circle, no private name crosses a module, and the start-up rules hold.

The layers are read from ARCHITECTURE.md's ``layers`` block, so the document and this test
cannot drift apart. Imports are found in the source (``ast``), wherever they are written:
at module level, inside functions (they run too, later) and under ``TYPE_CHECKING`` (they run
for the type checker: a lower layer must not even name a higher one's types).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "nbdocker"
ENGINE = "nbdocker.engine"
FRONT_ENDS_ONLY = ("IPython", "ipywidgets", "ipykernel", "jupyter_server", "nbformat")


@dataclass(frozen=True)
class Import:
    importer: str  # module name
    target: str  # module imported (a package's __init__ is the package's name)
    names: tuple[str, ...]  # names taken from it (from-imports)
    line: int
    type_checking: bool


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_package(name: str) -> bool:
    return MODULES.get(name, Path()).name == "__init__.py"


def _resolve(importer: str, module: str | None, level: int) -> str:
    if level == 0:
        return module or ""
    base = importer.split(".")
    if not _is_package(importer):
        base.pop()
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _imports(name: str) -> Iterator[Import]:
    tree = ast.parse(MODULES[name].read_text())
    checking = _type_checking_lines(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, alias.name, (), node.lineno, node.lineno in checking)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(name, node.module, node.level)
            names = tuple(a.name for a in node.names)
            yield Import(name, target, names, node.lineno, node.lineno in checking)
            for taken in names:  # ``from pkg import module``
                if f"{target}.{taken}" in MODULES:
                    yield Import(
                        name, f"{target}.{taken}", (), node.lineno, node.lineno in checking
                    )


IMPORTS = [i for name in MODULES for i in _imports(name)]
INTERNAL = [i for i in IMPORTS if i.target in MODULES]


def _ancestor(package: str, module: str) -> bool:
    return module.startswith(package + ".")


# -- the layers, from ARCHITECTURE.md ---------------------------------------------------------


def _layers() -> list[list[list[str]]]:
    """Top first: each layer is a list of groups (``|``-separated: independent of each other),
    each group a list of module prefixes (``,``-separated: may import each other)."""
    text = (ROOT / "ARCHITECTURE.md").read_text()
    block = re.search(r"```layers\n(.*?)```", text, re.S)
    assert block, "ARCHITECTURE.md has no ```layers block"
    layers = []
    for line in block.group(1).splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            layers.append([[m.strip() for m in g.split(",")] for g in line.split("|")])
    return layers


LAYERS = _layers()


def _place(module: str) -> tuple[int, int] | None:
    """(layer, group) of the longest prefix of ``module`` named in ARCHITECTURE.md (an entry
    written ``=name`` is that module alone, not its submodules)."""
    best: tuple[int, tuple[int, int]] | None = None
    for li, layer in enumerate(LAYERS):
        for gi, group in enumerate(layer):
            for entry in group:
                prefix = entry.lstrip("=")
                exact = entry.startswith("=")
                matches = module == prefix or (not exact and module.startswith(prefix + "."))
                if matches and (best is None or len(prefix) > best[0]):
                    best = (len(prefix), (li, gi))
    return best[1] if best else None


def test_every_module_has_a_place_in_the_picture() -> None:
    """The engine, the front ends (CLI, notebook, Jupyter server extension) and the helpers
    between them: a module without a place would escape the layer rule below."""
    unplaced = [m for m in MODULES if _place(m) is None]
    assert unplaced == [], "add them to ARCHITECTURE.md's layers block"


def test_imports_point_down_the_layers() -> None:
    wrong = []
    for imp in INTERNAL:
        if _ancestor(imp.target, imp.importer):
            continue  # a package's own __init__: Python imports it first anyway
        here, there = _place(imp.importer), _place(imp.target)
        assert here is not None and there is not None  # (every module has a place)
        if there[0] < here[0] or (there[0] == here[0] and there[1] != here[1]):
            wrong.append(f"{imp.importer}:{imp.line} imports {imp.target}")
    assert wrong == []


def test_the_engine_never_imports_a_front_end_or_the_notebook_stack() -> None:
    wrong = [
        f"{i.importer}:{i.line} imports {i.target}"
        for i in IMPORTS
        if i.importer.startswith(ENGINE)
        and (
            (i.target.startswith("nbdocker") and not i.target.startswith(ENGINE))
            or i.target.split(".")[0] in FRONT_ENDS_ONLY
        )
    ]
    assert wrong == []


def test_no_import_circle() -> None:
    """Over the imports that run (module level and inside functions, not TYPE_CHECKING): the
    module graph has no cycle, however the imports are hidden."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for imp in INTERNAL:
        if not imp.type_checking and not _ancestor(imp.target, imp.importer):
            graph[imp.importer].add(imp.target)
    cycles = _cycles(graph)
    assert cycles == [], "\n".join(" -> ".join(c) for c in cycles)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_circle_hidden_in_a_function() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


# -- private names ----------------------------------------------------------------------------


def _private(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


def test_no_private_name_is_imported_across_modules() -> None:
    """``_name`` is its module's own; a private module (``sandbox/_run.py``) its package's."""
    wrong = []
    for imp in INTERNAL:
        for taken in imp.names:
            if _private(taken) and f"{imp.target}.{taken}" not in MODULES:
                wrong.append(f"{imp.importer}:{imp.line} imports {taken} from {imp.target}")
        parts = imp.target.split(".")
        for depth, part in enumerate(parts):
            owner = ".".join(parts[:depth])
            inside = imp.importer == owner or _ancestor(owner, imp.importer)
            if _private(part) and not inside:
                wrong.append(f"{imp.importer}:{imp.line} imports the private {imp.target}")
                break
    assert wrong == []


def test_no_two_modules_share_a_basename() -> None:
    """A name says which module it is: ``layer_contents`` (what a layer added) is not mistaken
    for the engine's ``layer`` package, nor the server's ``hub`` for the engine's ``events``."""
    by_name: dict[str, list[str]] = {}
    for name, path in MODULES.items():
        if path.name != "__init__.py":
            by_name.setdefault(path.name, []).append(name)
    assert {base: names for base, names in by_name.items() if len(names) > 1} == {}


# -- start-up rules ---------------------------------------------------------------------------


def _lazy_packages() -> Iterator[str]:
    for name, path in MODULES.items():
        if path.name == "__init__.py" and "lazy_exports(" in path.read_text():
            yield name


@pytest.mark.parametrize("package", sorted(_lazy_packages()))
def test_a_lazy_package_exports_what_it_declares(package: str) -> None:
    """Its ``__all__``, its TYPE_CHECKING imports (what mypy sees) and its lazy table (what
    runs) name the same things from the same modules; no exported name is also the name of one
    of its modules (the import system would put the module in the name's place)."""
    tree = ast.parse(MODULES[package].read_text())
    exported: list[str] = []
    table: dict[str, str] = {}
    declared: dict[str, str] = {}
    checking = _type_checking_lines(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            exported = list(ast.literal_eval(node.value))
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "lazy_exports":
            table = ast.literal_eval(node.args[1])
        elif isinstance(node, ast.ImportFrom) and node.lineno in checking:
            for alias in node.names:
                declared[alias.name] = "." * node.level + (node.module or "")
    assert sorted(exported) == sorted(table) == sorted(declared)
    assert table == declared
    submodules = {m.rsplit(".", 1)[1] for m in MODULES if m.startswith(package + ".")}
    assert submodules.isdisjoint(table)


def test_typed_dicts_are_for_the_type_checker_only() -> None:
    """A TypedDict class is declared under TYPE_CHECKING (at run time its name is ``dict``):
    defining one costs start-up time and gives nothing a dict does not."""
    wrong = []
    for name, path in MODULES.items():
        if not name.startswith(ENGINE):
            continue
        tree = ast.parse(path.read_text())
        checking = _type_checking_lines(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.lineno not in checking:
                bases = {ast.unparse(b) for b in node.bases}
                if "TypedDict" in bases:
                    wrong.append(f"{name}:{node.lineno} {node.name}")
    assert wrong == []


def test_names_used_at_run_time_are_not_imported_for_the_type_checker_only() -> None:
    """``cast(T, x)`` evaluates ``T``: a name imported only under TYPE_CHECKING fails there,
    and mypy cannot tell (it sees the import). TypedDict names are ``dict`` at run time, so
    importing them for real costs nothing."""
    wrong = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text())
        checking = _type_checking_lines(tree)
        only_for_checker = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.lineno in checking
            for alias in node.names
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("cast", "typing.cast"):
                used = {n.id for n in ast.walk(node.args[0]) if isinstance(n, ast.Name)}
                for bad in sorted(used & only_for_checker):
                    wrong.append(f"{name}:{node.lineno} cast({bad}, …)")
    assert wrong == []
