"""The int8 graph `vigil models quantize` packages: onnxruntime's static quantization in the
form measured best on a CPU with VNNI (nudenet's YOLOv8n, 2 cores of an AMD EPYC with
avx512_vnni, agreement with fp32 on 40 held-out images):

- Q/DQ format, uint8 activations, int8 per-channel weights: onnxruntime fuses each
  DequantizeLinear -> Conv -> QuantizeLinear into one integer convolution. int8 activations
  ran slower than fp32 (0.55x); the QOperator form was no faster than Q/DQ.
- Only Conv layers: quantizing the other ops too (SiLU, Concat, the head's box and score
  arithmetic) puts box coordinates (0..640) and class scores (0..1) behind shared scales and
  lost a third of the detections (agreement 0.62).
- Activations calibrated by percentile (99.999 %) on the model's full input size: entropy and
  min/max calibration, or calibration on the pipeline's minimal rectangles, lowered the scores
  of weak detections below the confidence threshold (agreement 0.84 to 0.87).
- The Detect head's class-score branch (`cv3`, `score_branch`) can be left in float
  (`kept_float`): agreement about +0.01 to +0.02 for about a fifth of the speedup; the caller
  does it when every Conv in int8 misses its target.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["int8_graph", "score_branch"]

# Input values calibrated in one pass. onnxruntime holds every activation of a pass before it
# builds the histograms: YOLOv8n peaks at 5 GB for 128 images at 320x320 (32 at 640). Larger
# sets are calibrated pass by pass, their histograms merged; that bounds the memory but moved
# the percentile ranges enough to cost agreement (0.968 in one pass, 0.936 to 0.947 in 2 to 5).
_CALIBRATION_CHUNK_PIXELS = 128 * 3 * 320 * 320


def int8_graph(onnx_path: Path, batches: list[np.ndarray], scratch: Path, kept_float: list[str]) -> bytes:
    """The graph quantized as described at the top of this module, calibrated on `batches`, the
    `kept_float` nodes left in float."""
    from vigil.engine._private.onnx_precision import require_onnx

    require_onnx("quantize")
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    input_name = next(v.name for v in graph.input if v.name not in initializers)

    class Reader(CalibrationDataReader):
        # given ranges of batches (_CALIBRATION_CHUNK_PIXELS), onnxruntime calibrates pass by pass
        def __init__(self) -> None:
            self._batches: Iterator[np.ndarray] = iter(batches)

        def __len__(self) -> int:
            return len(batches)

        def set_range(self, start_index: int, end_index: int) -> None:
            self._batches = iter(batches[start_index:end_index])

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._batches, None)
            return None if batch is None else {input_name: batch}

    most = max(1, _CALIBRATION_CHUNK_PIXELS // int(np.prod(batches[0].shape)))
    stride = max(k for k in range(1, most + 1) if len(batches) % k == 0)  # onnxruntime wants a divisor

    prepared, quantized = scratch / "prepared.onnx", scratch / "int8.onnx"
    with _quiet():  # the tools print their progress and log shape-inference warnings on the root logger
        quant_pre_process(str(onnx_path), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(quantized),
            Reader(),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=["Conv"],
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.Percentile,
            nodes_to_exclude=kept_float,
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True, "CalibStridedMinMax": stride},
        )
    data = quantized.read_bytes()
    prepared.unlink()
    quantized.unlink()
    return data


def score_branch(graph: Any) -> list[str]:
    """The Conv nodes of an Ultralytics Detect head's class-score branch: in exports they are
    named `/model.<head>/cv3...`, the head being the module that holds `dfl`. None for graphs
    named otherwise (everything Conv is quantized then)."""
    heads = {n.name.split("/dfl/")[0] for n in graph.node if "/dfl/" in n.name}
    if len(heads) != 1:
        return []
    prefix = heads.pop() + "/cv3"
    return [n.name for n in graph.node if n.op_type == "Conv" and n.name.startswith(prefix)]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    root = logging.getLogger()
    placeholder = logging.NullHandler() if not root.handlers else None  # or logging.warning() would add a stderr handler
    if placeholder is not None:
        root.addHandler(placeholder)
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)
        if placeholder is not None:
            root.removeHandler(placeholder)
