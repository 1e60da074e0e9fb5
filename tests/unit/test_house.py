"""The house rules that keep vigil readable (docs/ARCHITECTURE.md, "Layers"): imports go down the
layers, never back up; no two packages import each other, even through others; no module over
400 lines, no function over 60. Read from the source with `ast`: nothing is imported."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "vigil"

# Each top-level package or module of vigil and its layer: a module may import from its own
# layer's packages and the layers below, never from a layer above. The frame's path reads
# upwards: sources -> stages -> sinks -> pipeline; config and the engine below them; the
# process, the API and the CLI on top. Imports made only for type checking (under
# `if TYPE_CHECKING:`) are not counted: they cost nothing at run time.
LAYERS: list[set[str]] = [
    {"errors", "redact", "frame", "packet", "catalog"},  # shared, standard library and pydantic only
    {"events"},
    {"config", "engine"},
    {"result"},
    {"sources"},
    {"stages"},
    {"sinks"},
    {"clips"},
    {"pipeline"},
    {"store"},
    {"fleet"},  # the fleet's buckets and its reconciler, beside the daemon (which runs it; the API reads it)
    {"api"},  # the app over a `Control`; the daemon serves it (`vigil.daemon.service` imports it)
    {"daemon"},
    {"cli", "__main__"},
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _part(module: str) -> str | None:
    """The top-level part of vigil a dotted module name is in ("vigil.sinks.mqtt" -> "sinks")."""
    parts = module.split(".")
    if parts[0] != "vigil":
        return None
    return parts[1] if len(parts) > 1 else "vigil"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    """ids of the import nodes inside `if TYPE_CHECKING:` blocks."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            inside |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return inside


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) of every run-time import of a vigil module in `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = _type_checking_nodes(tree)
    package = _module_name(path).rsplit(".", 0 if path.name == "__init__.py" else 1)[0]
    found = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the importing package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            if module == "vigil":  # `from vigil import events`
                found += [(node.lineno, f"vigil.{alias.name}") for alias in node.names]
    return [(line, module) for line, module in found if module == "vigil" or module.startswith("vigil.")]


def _sources() -> list[Path]:
    return sorted(ROOT.rglob("*.py"))


def test_every_part_of_vigil_has_a_layer():
    parts = {_part(_module_name(path)) for path in _sources()} - {"vigil"}
    assert parts - set(RANK) == set(), "give each new package or module a layer in LAYERS (and in ARCHITECTURE.md)"


def test_no_import_climbs_back_up_the_layers():
    climbs = []
    for path in _sources():
        source = _part(_module_name(path))
        if source not in RANK:
            continue
        for line, module in _imports(path):
            target = _part(module)
            if target in RANK and RANK[target] > RANK[source]:
                climbs.append(
                    f"{path.relative_to(ROOT.parent)}:{line} ({source}, layer {RANK[source]}) imports {module} (layer {RANK[target]})"
                )
    assert climbs == [], "imports that climb back up:\n" + "\n".join(climbs)


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph`, as the list of its nodes, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_two_packages_import_each_other():
    graph: dict[str, set[str]] = defaultdict(set)
    for path in _sources():
        source = _part(_module_name(path))
        for _, module in _imports(path):
            target = _part(module)
            if target not in (None, source, "vigil") and source != "vigil":
                graph[source].add(target)
    assert _cycle(graph) is None, f"packages that import each other: {' -> '.join(_cycle(graph) or [])}"


def test_the_cycle_finder_finds_a_cycle_through_a_third_package():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT.parent)))
def test_modules_and_functions_stay_small(path):
    text = path.read_text(encoding="utf-8")
    lines = text.count("\n")
    assert lines <= MAX_MODULE_LINES, f"{path.name} has {lines} lines: split it by what its parts do"
    long = [
        f"{node.name} (line {node.lineno}): {node.end_lineno - node.lineno + 1} lines"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == [], f"functions over {MAX_FUNCTION_LINES} lines: {long}"
