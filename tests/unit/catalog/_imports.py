"""The import graph of vigil's own modules, read with `ast` (nothing is imported)."""

from __future__ import annotations

import ast
from pathlib import Path

import vigil

ROOT = Path(vigil.__file__).parent


def module_names() -> dict[str, Path]:
    """Every module of vigil: dotted name -> file."""
    names = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The vigil modules `name` imports anywhere in its file (top level, in functions, under
    TYPE_CHECKING): `from a.b import c` counts as a.b.c when that is a module, else a.b."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            # importing a.b.c runs a/__init__ and a/b/__init__ first (those that do not hold `name`)
            parts = target.split(".")
            chain = [".".join(parts[:i]) for i in range(2, len(parts) + 1)]
            found |= {m for m in chain if m in known and m != name and not name.startswith(m + ".")}
    return found


def graph() -> dict[str, set[str]]:
    names = module_names()
    known = set(names)
    return {name: imports_of(name, path, known) for name, path in names.items()}


def cycles_through(modules: set[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """The shortest import cycle through each of `modules` that has one."""
    found = []
    for start in sorted(modules):
        paths = {start: [start]}
        frontier = [start]
        cycle = None
        while frontier and cycle is None:
            following = []
            for node in frontier:
                for nxt in sorted(edges.get(node, ())):
                    if nxt == start:
                        cycle = [*paths[node], start]
                        break
                    if nxt not in paths:
                        paths[nxt] = [*paths[node], nxt]
                        following.append(nxt)
                if cycle:
                    break
            frontier = following
        if cycle:
            found.append(cycle)
    return found
