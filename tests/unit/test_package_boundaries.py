"""Only public surfaces cross packages.

The rule: a package is a first-level part of vigil (`vigil.engine`, `vigil.daemon`,
`vigil.sinks`, ..., and each top-level module such as `vigil.errors`). Code in one package may
import from another only names and modules that are public: no module path with a segment
starting with `_` (`vigil.engine._private.loader`, `vigil.sinks._threaded`) and no name starting
with `_` (`from vigil.daemon.metrics import _sink_labels`). Dunders (`__version__`) are public.
Inside its own package a module may import what it likes. The engine is stricter: outside
vigil/engine only `vigil.engine` and `vigil.engine.developer_tools` are imported.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import vigil

ROOT = Path(vigil.__file__).parent


def _private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package(module: str) -> str:
    """`vigil.engine._private.loader` -> `vigil.engine`; `vigil.errors` -> `vigil.errors`."""
    return ".".join(module.split(".")[:2])


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    """Every import in `source` (the text of `module`) that crosses into another package's
    private parts."""
    found = []
    own = _package(module)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, is_package)
            targets = [(base, alias.name) for alias in node.names]
        else:
            continue
        for target, name in targets:
            if target.split(".")[0] != "vigil" or _package(target) == own:
                continue
            if target == "vigil" and name is not None:  # `from vigil import engine`: the package is the target
                if _private(name):
                    found.append(f"{module}:{node.lineno} imports vigil.{name}")
                continue
            if any(_private(part) for part in target.split(".")[1:]):
                found.append(f"{module}:{node.lineno} imports {target}" + (f".{name}" if name else ""))
            elif name is not None and _private(name):
                found.append(f"{module}:{node.lineno} imports {name} from {target}")
    return found


def test_no_module_imports_another_packages_private_parts():
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        found += violations(path.read_text(), _module_name(path), path.name == "__init__.py")
    assert found == []


def test_nothing_outside_the_engine_imports_vigil_engine_private():
    """Neither by an import statement nor by name (`importlib.import_module("vigil.engine._private...")`)."""
    by_name = re.compile(r"vigil\.engine\._private(\.\w+)*(:\w+)?")
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        if ROOT / "engine" in path.parents:
            continue
        module = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(node, module, path.name == "__init__.py")
                names = [base] + [f"{base}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names = [node.value] if by_name.fullmatch(node.value) else []
            else:
                continue
            found += [f"{module}:{node.lineno} {n}" for n in names if n.startswith("vigil.engine._private")]
    assert found == []


def test_outside_the_engine_only_its_public_modules_are_imported():
    """`vigil.engine` for users, `vigil.engine.developer_tools` for tooling, `vigil.engine.backends`
    for the catalog's backend declarations: the engine's other
    modules (`base`, `detections`, `loader`...) may move without breaking anyone."""
    public = {"vigil.engine", "vigil.engine.developer_tools", "vigil.engine.backends"}
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        if ROOT / "engine" in path.parents:
            continue
        module = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(node, module, path.name == "__init__.py")
                targets = [base] if base != "vigil.engine" else []  # `from vigil.engine import developer_tools` is fine
                targets += [f"{base}.{a.name}" for a in node.names if base == "vigil.engine" and a.name == "developer_tools"]
            else:
                continue
            found += [f"{module}:{node.lineno} {t}" for t in targets if t.startswith("vigil.engine.") and t not in public]
    assert found == []


@pytest.mark.parametrize(
    "module, source, expected",
    [
        ("vigil.daemon.service", "from vigil.engine._private.loader import list_model", 1),
        ("vigil.daemon.service", "from vigil.engine._private import trt_build", 1),
        ("vigil.cli.main", "import vigil.engine._private.loader", 1),
        ("vigil.cli.main", "from vigil.daemon import _loop", 1),
        ("vigil.cli.main", "from vigil.daemon.metrics import _sink_labels", 1),
        ("vigil.cli.main", "from vigil import _hidden", 1),
        ("vigil.daemon.service", "from ..engine._private import loader", 1),
        # allowed: public surfaces, the package's own internals, dunders, other libraries' names
        ("vigil.daemon.service", "from vigil.engine import developer_tools", 0),
        ("vigil.daemon.service", "from vigil.engine.developer_tools import list_model", 0),
        ("vigil.engine.models.yolo.yolo_detection_onnx", "from vigil.engine._private.onnx_runtime import create_session", 0),
        ("vigil.sinks.webhook", "from vigil.sinks._delivery import Retrier", 0),
        ("vigil.cli.main", "from vigil import __version__", 0),
        ("vigil.cli.main", "from typing import _SpecialForm", 0),
    ],
)
def test_the_rule_finds_what_it_should(module, source, expected):
    assert len(violations(source, module)) == expected
