"""The catalog sits at the bottom: the modules that read it import in any order, and no import
cycle runs through them (issue 27: config/sink_list <-> sinks/registry and config/stages <->
stages/registry were cycles)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.unit.catalog._imports import cycles_through, graph

READERS = [
    "vigil.catalog",
    "vigil.catalog.builtin",
    "vigil.catalog.kinds",
    "vigil.catalog._plugins",
    "vigil.config.sink_list",
    "vigil.sinks.registry",
    "vigil.config.stages",
    "vigil.stages.registry",
    "vigil.config.sources",
    "vigil.config.files",
    "vigil.sources.kinds",
    "vigil.cli.check",
    "vigil.daemon.assemble",
]


@pytest.mark.parametrize("module", READERS)
def test_each_module_imports_first_in_a_fresh_interpreter(module):
    code = (
        f"import sys, {module}\n"
        "from vigil.catalog import CATALOG\n"
        "print(CATALOG._loaded, 'vigil.catalog.builtin' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    # importing reads nothing: the catalog is loaded on first use, never at import
    assert proc.stdout.split() == ["False", str(module == "vigil.catalog.builtin")]


def test_no_import_cycle_runs_through_the_catalog_and_its_readers():
    edges = graph()
    assert {"vigil.catalog", "vigil.config.sink_list", "vigil.stages.registry"} <= set(edges)
    assert cycles_through(set(READERS), edges) == []


def test_the_cycle_finder_finds_a_cycle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles_through({"a", "d"}, edges) == [["a", "b", "c", "a"]]


def test_the_catalog_imports_only_the_standard_library_pydantic_and_vigil_errors():
    edges = graph()
    catalog = {name for name in edges if name == "vigil.catalog" or name.startswith("vigil.catalog.")}
    outside = {target for name in catalog - {"vigil.catalog.builtin"} for target in edges[name]} - catalog
    assert outside == {"vigil.errors"}
