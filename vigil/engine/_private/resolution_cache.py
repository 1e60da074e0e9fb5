"""The auto-resolution cache: which package a (reference, request, machine) resolved to.

A warm entry lets a model load without asking its provider anything: the package's metadata
and the folder holding its verified files are in the entry. Entries expire after a TTL (24 h by
default); an expired entry is still used, with a warning, when the provider cannot be reached,
so a daemon restarts offline after a reboot. Only remote providers are cached: a local model
directory is read directly every time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from vigil.engine._private.download import vigil_home
from vigil.engine._private.package_format import ModelMetadata, PackageMetadata, parse_model, parse_package
from vigil.engine._private.resolver import ResolutionRequest

log = logging.getLogger(__name__)

DEFAULT_TTL_S = 24 * 3600.0


@dataclass(frozen=True)
class CachedResolution:
    ref: str
    model: ModelMetadata
    package: PackageMetadata
    folder: Path
    created: float

    def age_s(self) -> float:
        return time.time() - self.created


def cache_dir() -> Path:
    return vigil_home() / "resolutions"


def entry_key(ref: str, request: ResolutionRequest, env_fingerprint: str) -> str:
    blob = json.dumps([ref, request.key(), env_fingerprint])
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def read_entry(key: str) -> CachedResolution | None:
    path = cache_dir() / f"{key}.json"
    try:
        data = json.loads(path.read_text())
        return CachedResolution(
            ref=data["ref"],
            model=parse_model(data["model"], f"resolution cache entry {path}"),
            package=parse_package(data["package"], f"resolution cache entry {path}"),
            folder=Path(data["folder"]),
            created=float(data["created"]),
        )
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001 - a damaged entry is only a cache miss
        log.warning("ignoring damaged resolution cache entry %s (%s)", path, exc)
        return None


def write_entry(key: str, ref: str, model: ModelMetadata, package: PackageMetadata, folder: Path) -> None:
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    body = {
        "ref": ref,
        "model": model.model_dump(mode="json"),
        "package": package.model_dump(mode="json"),
        "folder": str(folder),
        "created": time.time(),
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{key}.", dir=directory)
    with os.fdopen(fd, "w") as handle:
        json.dump(body, handle)
    os.replace(tmp, directory / f"{key}.json")


def forget(ref: str) -> int:
    """Drop every entry for `ref`; returns how many."""
    removed = 0
    for path in cache_dir().glob("*.json"):
        try:
            if json.loads(path.read_text()).get("ref") == ref:
                path.unlink()
                removed += 1
        except (OSError, ValueError):
            continue
    return removed
