"""What the catalog's built-in backends name (vigil/catalog/builtin.py): the loader that makes a
package's model class, the resolver checks each backend adds, and the TensorRT backend's build
step. A plugin backend may reuse `load_package` when its runtime fits one of vigil's model
classes, and its build step is given a `BuildJob` as TensorRT's is.

    BackendKind("onnx", ..., factory="vigil.engine.backends:load_package",
                checks=("vigil.engine.backends:onnx_opset",))

Importing this module imports no runtime (onnxruntime, tensorrt, torch).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigil.engine._private.backend_checks import onnx_gpu, onnx_opset, onnx_providers, torch_gpu, trt_hardware, trt_version
from vigil.engine._private.environment import RuntimeEnvironment
from vigil.engine._private.loader import load_package
from vigil.engine._private.openvino_convert import ConvertRequest, choose_source_package, convert_package
from vigil.engine._private.openvino_runtime import openvino_device
from vigil.engine._private.providers import ModelListing
from vigil.engine._private.trt_build import BuildRequest, build_engine_package, choose_onnx_package

__all__ = [
    "BuildJob",
    "build_trt_engine",
    "convert_openvino",
    "load_package",
    "onnx_gpu",
    "onnx_opset",
    "onnx_providers",
    "openvino_device",
    "torch_gpu",
    "trt_hardware",
    "trt_version",
]


@dataclass(frozen=True)
class BuildJob:
    """What a backend's build step (`vigil.catalog.BuildStep.run`) is given: the model directory
    the package it builds goes into, its `listing` (`listing.packages`; `listing.fetch(package)`
    is the folder holding a package's files), the largest batch the pipeline will run, the
    backend's settings section under `model:` (None when it has none), this machine, and
    `progress(phase, seconds_so_far)` to call as it goes (from the step's thread)."""

    model_dir: Path
    listing: ModelListing
    max_batch: int
    settings: Any
    environment: RuntimeEnvironment
    progress: Callable[[str, float], None]


def build_trt_engine(job: BuildJob) -> str:
    """The TensorRT backend's build step: an engine for this GPU from the model directory's ONNX
    package, for batches 1 to `job.max_batch`, in fp16 unless `model.tensorrt.engine_fp16` is
    false. Returns the id of the package written."""
    fp16 = True if job.settings is None else bool(job.settings.engine_fp16)  # a TensorRTConfig
    request = BuildRequest(batch=(1, job.max_batch, job.max_batch), fp16=fp16)
    onnx_package = choose_onnx_package(job.listing.packages, request.batch)
    folder = job.listing.fetch(onnx_package)
    built = build_engine_package(
        job.listing.model, onnx_package, folder, job.model_dir, request, job.environment, progress=job.progress
    )
    return built.package.package_id


def convert_openvino(job: BuildJob) -> str:
    """The OpenVINO backend's build step: an fp32 `openvino` package converted from the model
    directory's fp32 ONNX package (same batch range). Returns the id of the package written."""
    source = choose_source_package(job.listing.packages)
    folder = job.listing.fetch(source)
    made = convert_package(job.listing.model, source, folder, job.model_dir, ConvertRequest(), progress=job.progress)
    return made.package.package_id
