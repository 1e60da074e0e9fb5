"""Enumerations of the engine's public vocabulary."""

from __future__ import annotations

from enum import Enum

__all__ = ["BackendType", "ColorFormat", "Quantization"]


class BackendType(str, Enum):
    """The names of vigil's built-in model backends, for callers that like an enum. The backends
    themselves, their facts and the resolver's default order are their declarations in the
    catalog (`vigil.catalog.builtin`, `BackendKind`); a plugin's backend has a name outside this enum."""

    TRT = "trt"
    OPENVINO = "openvino"
    ONNX = "onnx"
    TORCHSCRIPT = "torchscript"
    HF = "hf"


class Quantization(str, Enum):
    FP32 = "fp32"
    FP16 = "fp16"
    BF16 = "bf16"
    INT8 = "int8"


class ColorFormat(str, Enum):
    RGB = "rgb"
    BGR = "bgr"
