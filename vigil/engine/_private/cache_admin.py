"""What `vigil models list | verify | rm` do to the download cache under VIGIL_HOME."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from vigil.engine._private import resolution_cache
from vigil.engine._private.download import vigil_home
from vigil.engine._private.hashing import sha256_of
from vigil.engine._private.http_provider import SOURCE_FILE, cache_root
from vigil.engine._private.package_format import PACKAGE_FILE, parse_package
from vigil.engine._private.providers import parse_reference


@dataclass(frozen=True)
class CachedModel:
    url: str
    model_id: str
    root: Path
    packages: tuple[str, ...]  # packages with every file present
    size_bytes: int


def cached_models() -> list[CachedModel]:
    out = []
    for root in sorted((vigil_home() / "models" / "http").glob("*")):
        try:
            url = json.loads((root / SOURCE_FILE).read_text())["url"]
            model_id = json.loads((root / "model.json").read_text())["model_id"]
        except (OSError, ValueError, KeyError):
            continue
        complete = []
        for meta in sorted(root.glob(f"*/{PACKAGE_FILE}")):
            package = parse_package(json.loads(meta.read_text()), str(meta))
            if all((meta.parent / f.name).is_file() for f in package.files):
                complete.append(package.package_id)
        size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
        out.append(CachedModel(url, model_id, root, tuple(complete), size))
    return out


def verify_cache() -> list[tuple[Path, str]]:
    """Re-hash every cached package file; delete and report the ones that no longer match."""
    problems = []
    for model in cached_models():
        for meta in sorted(model.root.glob(f"*/{PACKAGE_FILE}")):
            package = parse_package(json.loads(meta.read_text()), str(meta))
            for entry in package.files:
                path = meta.parent / entry.name
                if path.is_file() and sha256_of(path) != entry.sha256:
                    path.unlink()
                    problems.append((path, f"sha256 mismatch in package '{package.package_id}': removed"))
    return problems


def remove(ref: str) -> tuple[bool, int]:
    """Remove a remote model's files and its resolution entries: (files removed?, entries removed)."""
    reference = parse_reference(ref)
    removed = False
    if reference.provider == "http":
        root = cache_root(reference.model_id.rstrip("/"))
        if root.exists():
            shutil.rmtree(root)
            removed = True
    return removed, resolution_cache.forget(str(reference))
