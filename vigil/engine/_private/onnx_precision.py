"""Reduced-precision copies of an ONNX graph, for TensorRT 11 and later.

TensorRT 10 lowers precision with builder flags (FP16, INT8 plus a calibrator). TensorRT 11 removed
those flags: every network is strongly typed, so the precision has to be in the graph itself.
vigil writes that graph with onnxruntime's own tools, which the core already installs:

- fp16: `onnxruntime.transformers.float16`, keeping float32 inputs and outputs (the runtime and
  the pre/post-processing stay the same).
- int8: `onnxruntime.quantization.quantize_static` in Q/DQ form (what TensorRT's explicit
  quantization reads): symmetric int8, per-channel weights, and only the inputs of Conv layers
  quantized. Quantizing every tensor would put a YOLO head's box coordinates (0..640) and class
  scores (0..1) behind one scale and wipe out the scores.

Both run on the CPU, so they are tested here against real onnxruntime.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from vigil.errors import MissingDependencyError

__all__ = ["to_fp16", "to_int8_qdq"]


def require_onnx(purpose: str = "trt") -> None:
    """Raise a clear error when the `onnx` package is missing: `purpose` "trt" (TensorRT 11
    rewrites the graph for fp16/int8) or "quantize" (`vigil models quantize`)."""
    try:
        import onnx  # noqa: F401
    except ImportError as exc:
        if purpose == "quantize":
            why, extra = "making an int8 package rewrites the ONNX graph", "quantize"
        else:
            why, extra = "building an fp16 or int8 engine with TensorRT 11 rewrites the ONNX graph", "trt"
        raise MissingDependencyError(
            f"{why} and needs the onnx package: pip install 'vigil-analytics[{extra}]' (or pip install onnx)"
        ) from exc


def to_fp16(onnx_bytes: bytes) -> bytes:
    """The graph with float16 weights and arithmetic, float32 at its inputs and outputs."""
    require_onnx()
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load_from_string(onnx_bytes)
    converted = convert_float_to_float16(model, keep_io_types=True)
    data: bytes = converted.SerializeToString()
    return data


def to_int8_qdq(onnx_path: Path, input_name: str, batches: Iterable[np.ndarray]) -> bytes:
    """The graph with Q/DQ pairs before every Conv, scales calibrated (entropy) on `batches`."""
    require_onnx()
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches: Iterator[np.ndarray] = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._batches, None)
            return None if batch is None else {input_name: batch}

    with tempfile.TemporaryDirectory(prefix="vigil-int8-") as scratch:
        prepared, quantized = Path(scratch) / "prepared.onnx", Path(scratch) / "int8.onnx"
        quant_pre_process(str(onnx_path), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(quantized),
            Reader(),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=["Conv"],
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.Entropy,
            extra_options={"ActivationSymmetric": True, "WeightSymmetric": True},
        )
        return quantized.read_bytes()
