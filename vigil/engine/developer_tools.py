"""For people who write their own model packages or weights providers.

    from vigil.engine.developer_tools import ModelMetadata, PackageMetadata, register_model_provider
"""

from pathlib import Path

from vigil.engine._private.onnx_runtime import create_session as create_onnx_session
from vigil.engine.base import PreparedBatch

from vigil.engine._private.environment import GpuInfo, RuntimeEnvironment, current_environment
from vigil.engine._private.package_format import (
    BatchRange,
    InputSpec,
    ModelMetadata,
    OnnxDetails,
    PackageFile,
    PackageMetadata,
    TrtDetails,
    read_model_dir,
)
from vigil.engine._private.providers import ModelListing, register_model_provider, verified_package_dir
from vigil.engine._private.resolver import Refused, Resolution, ResolutionRequest, resolve

__all__ = [
    "BatchRange",
    "GpuInfo",
    "InputSpec",
    "ModelListing",
    "ModelMetadata",
    "OnnxDetails",
    "PackageFile",
    "PackageMetadata",
    "Refused",
    "Resolution",
    "ResolutionRequest",
    "RuntimeEnvironment",
    "PreparedBatch",
    "TrtDetails",
    "create_onnx_session",
    "current_environment",
    "get_model_package_contents",
    "read_model_dir",
    "register_model_provider",
    "resolve",
]


def get_model_package_contents(model_dir: str | Path, package_id: str) -> dict[str, Path]:
    """The files of one package of a local model directory, each verified against its sha256."""
    root = Path(model_dir)
    _, packages = read_model_dir(root)
    for package in packages:
        if package.package_id == package_id:
            folder = verified_package_dir(root / package.package_id, package)
            return {entry.name: folder / entry.name for entry in package.files}
    raise KeyError(f"model directory '{root}' has no package '{package_id}'")
