"""For people who write their own model packages or weights providers, and for tooling around
the engine (vigil's own CLI and daemon among them): list a model, see why each package would or
would not run here, describe this machine, import files into model directories, administer the
download cache, build TensorRT engines and quantize ONNX packages to int8.

    from vigil.engine.developer_tools import ModelMetadata, PackageMetadata, register_model_provider

    name, listing = list_model("models/yolov8n")
    resolution = resolve_listing(listing, ResolutionRequest(batch_size=4), current_environment())
    for refused in resolution.refused:
        print(refused)  # package id: every reason it cannot run here

Nothing here imports a backend (onnxruntime, tensorrt, CUDA) until it is used. Everything under
`vigil.engine._private` is internal and may change without notice.
"""

from pathlib import Path

from vigil.engine._private.cache_admin import CachedModel, cached_models, verify_cache
from vigil.engine._private.cache_admin import remove as remove_cached_model
from vigil.engine._private.download import vigil_home
from vigil.engine._private.environment import GpuInfo, RuntimeEnvironment, current_environment
from vigil.engine._private.hf_export import ExportedModel, ExportRequest, export_onnx
from vigil.engine._private.importers import import_rapidocr, import_ultralytics_onnx, import_ultralytics_torchscript
from vigil.engine._private.loader import list_model, resolve_listing
from vigil.engine._private.onnx_runtime import create_session as create_onnx_session
from vigil.engine._private.openvino_convert import ConvertedPackage, ConvertRequest, choose_source_package, convert_package
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
from vigil.engine._private.providers import (
    ModelListing,
    ModelReference,
    get_provider,
    parse_reference,
    register_model_provider,
    verified_package_dir,
)
from vigil.engine._private.quantize import MIN_IMAGES as MIN_CALIBRATION_IMAGES
from vigil.engine._private.quantize import (
    QuantizedPackage,
    QuantizeRequest,
    choose_float_package,
    detection_agreement,
    quantize_package,
    read_calibration_images,
)
from vigil.engine._private.resolver import Candidate, Refused, Resolution, ResolutionRequest, resolve
from vigil.engine._private.trt_build import (
    BuildRequest,
    BuiltPackage,
    build_engine_package,
    choose_onnx_package,
    parse_batch,
)
from vigil.engine._private.trt_runtime import TrtRunner
from vigil.engine.base import PreparedBatch

__all__ = [
    # package format
    "BatchRange",
    "InputSpec",
    "ModelMetadata",
    "OnnxDetails",
    "PackageFile",
    "PackageMetadata",
    "TrtDetails",
    "get_model_package_contents",
    "read_model_dir",
    # providers and listing
    "ModelListing",
    "ModelReference",
    "get_provider",
    "list_model",
    "parse_reference",
    "register_model_provider",
    # resolution, with reasons
    "Candidate",
    "Refused",
    "Resolution",
    "ResolutionRequest",
    "resolve",
    "resolve_listing",
    # this machine
    "GpuInfo",
    "RuntimeEnvironment",
    "current_environment",
    # writing models
    "PreparedBatch",
    "create_onnx_session",
    # importers
    "import_rapidocr",
    "import_ultralytics_onnx",
    "import_ultralytics_torchscript",
    # the download cache
    "CachedModel",
    "cached_models",
    "remove_cached_model",
    "verify_cache",
    "vigil_home",
    # TensorRT engines built here
    "BuildRequest",
    "BuiltPackage",
    "build_engine_package",
    "choose_onnx_package",
    "parse_batch",
    "TrtRunner",
    # int8 ONNX packages made here
    "MIN_CALIBRATION_IMAGES",
    "QuantizeRequest",
    "QuantizedPackage",
    "choose_float_package",
    "detection_agreement",
    "quantize_package",
    "read_calibration_images",
    # OpenVINO packages converted here
    "ConvertRequest",
    "ConvertedPackage",
    "choose_source_package",
    "convert_package",
    # transformers detectors exported to onnx packages
    "ExportRequest",
    "ExportedModel",
    "export_onnx",
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
