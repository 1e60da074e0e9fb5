"""The `http` weights provider: a model directory served over plain HTTP.

`{base}/model.json`, `{base}/packages.json` (a JSON list of package ids, since HTTP cannot list
a folder), `{base}/{package_id}/package.json` and the package's files beside it. Metadata and
files are kept under `$VIGIL_HOME/models/http/<hash of base>/`; when the registry cannot be
reached, the copy kept there is used with a warning, so a daemon restarts offline.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from urllib.parse import quote

from vigil.engine._private.download import download_verified, http_get_bytes, vigil_home
from vigil.engine._private.package_format import PACKAGE_FILE, PackageMetadata, parse_model, parse_package
from vigil.engine._private.providers import ModelListing, verified_package_dir
from vigil.errors import ModelLoadError, ModelNotFoundError

log = logging.getLogger(__name__)


SOURCE_FILE = "source.json"  # which URL a cache folder holds, for `vigil models list`


def cache_root(base: str) -> Path:
    return vigil_home() / "models" / "http" / hashlib.sha256(base.encode()).hexdigest()[:16]


def _write_atomically(path: Path, data: bytes) -> None:
    """Another process may write the same document at the same moment: unique temp, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


class _Documents:
    """Fetches the registry's JSON documents, keeping a copy of each; after the first connection
    failure it stops asking and serves the kept copies (one retry cycle, not one per document)."""

    def __init__(self, base: str, root: Path) -> None:
        self.base, self.root, self.offline = base, root, False

    def get(self, relative: str) -> dict | list:
        url, cached = f"{self.base}/{relative}", self.root / relative
        raw = None
        if not self.offline:
            try:
                raw = http_get_bytes(url)
            except ConnectionError as exc:
                if not cached.is_file():
                    raise ModelNotFoundError(f"model registry unreachable and nothing cached: {exc}") from exc
                log.warning("model registry unreachable (%s); using the copies cached in %s", exc, self.root)
                self.offline = True
        if raw is None:
            try:
                raw = cached.read_bytes()
            except OSError as exc:
                raise ModelNotFoundError(f"model registry unreachable and {relative} is not cached") from exc
        else:
            _write_atomically(cached, raw)
        try:
            return json.loads(raw)
        except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested thousands deep
            raise ModelLoadError(f"{url}: not JSON ({str(exc)[:200] or type(exc).__name__})") from None


def http_provider(base_url: str) -> ModelListing:
    base = base_url.rstrip("/")
    root = cache_root(base)
    docs = _Documents(base, root)
    model = parse_model(docs.get("model.json"), f"model '{base}/model.json'")  # type: ignore[arg-type]
    if not (root / SOURCE_FILE).is_file():
        _write_atomically(root / SOURCE_FILE, json.dumps({"url": base}).encode())
    ids = docs.get("packages.json")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ModelLoadError(f"{base}/packages.json must be a JSON list of package ids")
    packages = []
    for package_id in ids:
        what = f"package '{base}/{package_id}/{PACKAGE_FILE}'"
        if not package_id or "/" in package_id or package_id.startswith("."):
            raise ModelLoadError(f"{base}/packages.json: bad package id {package_id!r}")
        data = docs.get(f"{package_id}/{PACKAGE_FILE}")
        package = parse_package(data, what)  # type: ignore[arg-type]
        if package.package_id != package_id:
            raise ModelLoadError(f"{what}: package_id '{package.package_id}' does not match '{package_id}'")
        packages.append(package)

    def fetch(package: PackageMetadata) -> Path:
        folder = root / package.package_id
        for entry in package.files:
            dest = folder / entry.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            url = f"{base}/{quote(package.package_id)}/{quote(entry.name)}"
            try:
                download_verified(url, dest, entry.sha256, entry.size)
            except ConnectionError as exc:
                raise ModelLoadError(f"package '{package.package_id}': {exc}") from exc
        return verified_package_dir(folder, package)

    return ModelListing(model, packages, fetch)
