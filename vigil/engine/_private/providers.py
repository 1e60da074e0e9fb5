"""Weights providers: where a model's metadata and package files come from.

A provider is a function `model_id -> ModelListing`. The listing gives the model's metadata,
its packages, and a way to get one package's files onto local disk, verified. `local` reads a
model directory (or wraps a bare Ultralytics ONNX file); users register their own with
`register_model_provider`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vigil.engine._private.hashing import sha256_of
from vigil.engine._private.package_format import ModelMetadata, PackageMetadata, read_model_dir, safe_member_path
from vigil.errors import ModelLoadError, ModelNotFoundError

__all__ = ["ModelListing", "ModelReference", "parse_reference", "register_model_provider", "get_provider"]


@dataclass
class ModelListing:
    """What a provider knows about one model. `fetch(package)` returns the local folder holding
    that package's files, every file checked against its sha256. `prepared` lets a provider hand
    the loader objects it already built (the session it opened to describe a bare ONNX file)."""

    model: ModelMetadata
    packages: list[PackageMetadata]
    fetch: Callable[[PackageMetadata], Path]
    prepared: dict[str, Any] = field(default_factory=dict)


ProviderFn = Callable[[str], ModelListing]
_PROVIDERS: dict[str, ProviderFn] = {}


def register_model_provider(name: str, provider: ProviderFn) -> None:
    """Make `name:MODEL_ID` references resolve through `provider(model_id) -> ModelListing`."""
    if not re.fullmatch(r"[a-z][a-z0-9_-]{1,31}", name):
        raise ValueError(f"provider name {name!r} must be 2-32 lowercase letters, digits, '-' or '_'")
    _PROVIDERS[name] = provider


def get_provider(name: str) -> ProviderFn:
    if name == "local":
        return local_provider
    if name == "http":
        from vigil.engine._private.http_provider import http_provider

        return http_provider
    try:
        return _PROVIDERS[name]
    except KeyError:
        known = ", ".join(sorted({"local", "http", *_PROVIDERS}))
        raise ModelNotFoundError(f"no weights provider named '{name}' (known: {known}); register it first") from None


@dataclass(frozen=True)
class ModelReference:
    """`PATH` (a model directory or an .onnx file) or `PROVIDER:MODEL_ID`."""

    provider: str
    model_id: str

    def __str__(self) -> str:
        return self.model_id if self.provider in ("local", "http") else f"{self.provider}:{self.model_id}"


_PREFIXED = re.compile(r"^([a-z][a-z0-9_-]{1,31}):(?!//)(.+)$")


def parse_reference(ref: str | Path) -> ModelReference:
    if isinstance(ref, Path):
        return ModelReference("local", str(ref))
    if ref.startswith(("http://", "https://")):
        return ModelReference("http", ref)
    match = _PREFIXED.match(ref)
    if match:
        return ModelReference(match.group(1), match.group(2))
    return ModelReference("local", ref)


def verified_package_dir(folder: Path, package: PackageMetadata) -> Path:
    """Check that every file of `package` lies inside `folder` and has its sha256."""
    folder = folder.resolve()
    for entry in package.files:
        path = folder / safe_member_path(entry.name)
        resolved = path.resolve()
        if not resolved.is_relative_to(folder):
            raise ModelLoadError(f"package '{package.package_id}': file '{entry.name}' leads outside the package (symlink)")
        if not resolved.is_file():
            raise ModelLoadError(f"package '{package.package_id}': file '{entry.name}' is missing from {folder}")
        actual = sha256_of(resolved)
        if actual != entry.sha256:
            raise ModelLoadError(
                f"package '{package.package_id}': file '{entry.name}' has sha256 {actual[:12]}..., "
                f"package.json says {entry.sha256[:12]}...; the file is corrupt or was replaced"
            )
    return folder


def local_provider(model_id: str) -> ModelListing:
    path = Path(model_id).expanduser()
    if not path.exists():
        raise ModelNotFoundError(
            f"model '{model_id}' not found: no such file or directory; pass a model directory, an .onnx file or PROVIDER:MODEL_ID"
        )
    if path.is_dir() and (path / "config.json").is_file() and not (path / "model.json").exists():
        from vigil.engine._private.hf_runtime import describe_hf_folder  # a transformers save_pretrained folder

        return describe_hf_folder(path)
    if path.is_dir():
        model, packages = read_model_dir(path)
        return ModelListing(model, packages, lambda package: verified_package_dir(path / package.package_id, package))
    if path.suffix.lower() == ".onnx":
        from vigil.engine._private.ultralytics_wrap import describe_ultralytics_onnx

        return describe_ultralytics_onnx(path)
    raise ModelLoadError(f"model '{model_id}': expected a model directory or an .onnx file")
