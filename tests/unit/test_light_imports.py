"""Masking lives in one light module (`vigil.redact`), and what sets up logging, reads the
configuration or describes a source imports no decoder library (PyAV, `av`)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import vigil

ROOT = Path(vigil.__file__).parent


@pytest.mark.parametrize(
    "module",
    [
        "vigil.daemon.logs",
        "vigil.config",
        "vigil.sources.base",
        "vigil.redact",
        "vigil.packet",
        "vigil.sources.gate",
        "vigil.sources.decode",
    ],
)
def test_importing_it_does_not_import_av(module):
    code = f"import {module}, sys; assert 'av' not in sys.modules, sorted(m for m in sys.modules if m.startswith('vigil'))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


# vigil.redact's, and the names they had before they moved there (api/config.py's `masked`).
_MASKING = {"mask_url", "mask_text", "secret_parameter", "mask_config", "masked", "redactor", "RedactSecrets"}


def _masking_functions(path: Path) -> list[str]:
    """Functions (or names assigned) that mask credentials in URLs and text, by `vigil.redact`'s names."""
    tree = ast.parse(path.read_text())
    names = [node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    names += [t.id for node in ast.walk(tree) if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)]
    return sorted({name for name in names if name.lstrip("_") in _MASKING})


def test_redact_is_the_only_module_that_defines_masking():
    found = {
        str(path.relative_to(ROOT)): names
        for path in sorted(ROOT.rglob("*.py"))
        if (names := _masking_functions(path)) and path != ROOT / "redact.py"
    }
    assert found == {}
    assert _masking_functions(ROOT / "redact.py") == sorted(_MASKING - {"masked"})


def test_sources_re_export_no_masking():
    import vigil.sources
    import vigil.sources.rtsp

    assert "mask_url" not in vigil.sources.__all__ and not hasattr(vigil.sources, "mask_url")
    assert not hasattr(vigil.sources.rtsp, "mask_url")  # it uses vigil.redact's, by that name
