"""Enumerations of the engine's public vocabulary."""

from __future__ import annotations

from enum import Enum

__all__ = ["BackendType", "ColorFormat", "Quantization"]


class BackendType(str, Enum):
    """What runs a model package. The default preference order is the declaration order."""

    TRT = "trt"
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
