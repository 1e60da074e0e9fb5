"""Reduced precision for a TensorRT build: TensorRT 11 reads it from the graph (an fp16 or int8
Q/DQ copy of the ONNX graph, `onnx_precision`); TensorRT 10 calibrates int8 itself, fed by
`make_calibrator`. Both calibrate on letterboxed images from a folder (`calibration_batches`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vigil.engine._private.package_format import ModelMetadata
from vigil.engine._private.trt_build_progress import Progress, phase
from vigil.engine._private.trt_runtime import default_device
from vigil.errors import ConfigError

if TYPE_CHECKING:
    from vigil.engine._private.trt_build import BuildRequest

__all__ = ["calibration_batches", "graph_input", "make_calibrator", "reduced_precision_graph", "strongly_typed"]


def strongly_typed(trt: Any) -> bool:
    """TensorRT 11 removed the precision builder flags (FP16, INT8 and the calibrator): the
    network's precision comes from the ONNX graph alone."""
    return not hasattr(trt.BuilderFlag, "FP16")


def reduced_precision_graph(
    onnx_path: Path,
    onnx_bytes: bytes,
    model: ModelMetadata,
    request: BuildRequest,
    progress: Progress,
    started: float,
) -> bytes:
    """The fp16 or int8 (Q/DQ) copy of the graph that a strongly typed TensorRT builds from."""
    from vigil.engine._private import onnx_precision

    if request.int8:
        assert request.calibration_dir is not None
        input_name, batch = graph_input(onnx_bytes, request.batch[1], model)
        with phase(
            progress,
            started,
            f"calibrating int8 Q/DQ scales on {request.calibration_dir} (TensorRT 11 reads precision from the graph)",
        ):
            return onnx_precision.to_int8_qdq(
                onnx_path,
                input_name,
                calibration_batches(model, request.calibration_dir, batch, request.calibration_batches),
            )
    with phase(progress, started, "converting the graph to fp16 (TensorRT 11 reads precision from the graph)"):
        return onnx_precision.to_fp16(onnx_bytes)


def graph_input(onnx_bytes: bytes, opt_batch: int, model: ModelMetadata) -> tuple[str, list[int]]:
    """The image input's name and the (N, 3, H, W) shape calibration batches take."""
    from vigil.engine._private.onnx_precision import require_onnx

    require_onnx()
    import onnx

    graph = onnx.load_from_string(onnx_bytes).graph
    initializers = {i.name for i in graph.initializer}
    value = next(v for v in graph.input if v.name not in initializers)
    dim0 = value.type.tensor_type.shape.dim[0]
    batch = dim0.dim_value if dim0.HasField("dim_value") and dim0.dim_value > 0 else opt_batch
    height, width = model.input.size
    return value.name, [batch, 3, height, width]


def calibration_batches(model: ModelMetadata, folder: Path, shape: list[int], max_batches: int) -> Iterator[np.ndarray]:
    """Letterboxed float32 NCHW batches of the images in `folder`, in model.json's input format;
    at most `max_batches`, wrapping around to fill the last one."""
    import cv2

    from vigil.engine.models.yolo import _ultralytics_ops as ops

    if not folder.is_dir():
        raise ConfigError(f"--calibration {folder}: not a directory; give a folder of representative images")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp"))
    if not paths:
        raise ConfigError(f"--calibration {folder}: no .jpg/.png images found")
    batch, _, height, width = shape

    def batches() -> Iterator[np.ndarray]:
        for start in range(0, min(len(paths), batch * max_batches), batch):
            tensor = np.zeros((batch, 3, height, width), np.float32)
            for i in range(batch):
                path = paths[(start + i) % len(paths)]
                image = cv2.imread(str(path))
                if image is None:
                    raise ConfigError(f"--calibration: cannot read {path}; remove it or convert it to JPEG/PNG")
                box = ops.plan_letterbox(image.shape[0], image.shape[1], height, width, False, model.input.stride)
                ops.letterbox_into(image, box, tensor[i])
            yield tensor

    return batches()


def make_calibrator(trt: Any, model: ModelMetadata, folder: Path, shape: list[int], max_batches: int, cache: Path) -> Any:
    """TensorRT 10's entropy calibrator, fed by calibration_batches()."""
    batches = calibration_batches(model, folder, shape, max_batches)
    batch, _, height, width = shape
    device = default_device()
    base = trt.IInt8EntropyCalibrator2

    class Calibrator(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.error: ConfigError | None = None
            self._stream = device.create_stream()
            self._buffer = device.alloc(batch * 3 * height * width * 4)

        def get_batch_size(self) -> int:
            return batch

        def get_batch(self, names: list[str]) -> list[int] | None:
            # TensorRT calls this from C++: an exception would not reach the caller, so it is kept
            # and raised once the build returns.
            try:
                tensor = next(batches, None)
            except ConfigError as exc:
                self.error = exc
                return None
            if tensor is None:
                return None
            device.copy_htod_async(self._buffer, tensor, self._stream)
            device.synchronize(self._stream)
            return [self._buffer]

        def read_calibration_cache(self) -> bytes | None:
            return cache.read_bytes() if cache.is_file() else None

        def write_calibration_cache(self, data: bytes) -> None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_bytes(bytes(data))

    return Calibrator()
