"""What every Ultralytics YOLO ONNX export shares: session, input size, letterbox, batching."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from vigil.engine._private.onnx_runtime import create_session
from vigil.engine._private.package_format import InputSpec, ModelMetadata, PackageMetadata
from vigil.engine.base import PreparedBatch
from vigil.engine.enums import ColorFormat
from vigil.engine.models.yolo import _ultralytics_ops as ops
from vigil.engine.options import BackendOptions, DetectionOptions
from vigil.errors import ModelLoadError

Self = TypeVar("Self", bound="YOLOOnnxBase")


def dim(value: Any) -> int | None:
    """An ONNX dimension: an int when fixed, None when symbolic."""
    return value if isinstance(value, int) and value > 0 else None


class YOLOOnnxBase:
    """Subclasses declare the input resize they expect and check the graph's outputs."""

    resize_mode: ClassVar[str] = "letterbox"
    reads_end2end: ClassVar[bool] = False  # NMS-free exports ([B, max_det, 6]) this class decodes
    model_id: str
    class_names: tuple[str, ...]

    def __init__(
        self, model: ModelMetadata, package: PackageMetadata, session: Any, options: DetectionOptions, path: Path
    ) -> None:
        self.model_id = model.model_id
        self.package_id = package.package_id
        self.backend = package.backend.value
        self.package_dir = path.parent
        self.class_names = model.class_names
        self.options = options
        self.metadata = model
        self._path = path
        self._session = session
        self._stride = model.input.stride
        model_input = session.get_inputs()[0]
        self._input_name = model_input.name
        batch_dim, _, in_h, in_w = (list(model_input.shape) + [None] * 4)[:4]
        self.batch = package.batch.to_spec()
        graph_batch = dim(batch_dim)
        if graph_batch is not None and not (self.batch.static and self.batch.max == graph_batch):
            raise ModelLoadError(
                f"package '{package.package_id}': the graph takes batches of exactly {graph_batch} but package.json "
                f"says batch {package.batch.describe()}; fix package.json"
            )
        self.end2end = session.get_modelmeta().custom_metadata_map.get("end2end") == "True"
        self._dynamic_size = dim(in_h) is None or dim(in_w) is None
        self.input_size = self._input_size(model.input.size, dim(in_h), dim(in_w))
        self._check_outputs([list(o.shape) for o in session.get_outputs()])

    @classmethod
    def from_package(
        cls: type[Self],
        model: ModelMetadata,
        package: PackageMetadata,
        folder: Path,
        options: DetectionOptions,
        backend: BackendOptions,
    ) -> Self:
        cls._check_input_spec(model.model_id, model.input)
        path, session = cls._open_session(package, folder, backend, model)
        if session.get_modelmeta().custom_metadata_map.get("end2end") == "True" and not cls.reads_end2end:
            raise ModelLoadError(
                f"model '{path}' is an NMS-free end-to-end {model.task} export, which vigil reads for detection "
                "only; export it with end2end=False"
            )
        instance = cls(model, package, session, options, path)
        instance.package_dir = folder
        return instance

    @classmethod
    def _open_session(
        cls, package: PackageMetadata, folder: Path, backend: BackendOptions, model: ModelMetadata
    ) -> tuple[Path, Any]:
        """The graph file and an object with onnxruntime's session surface (`get_inputs`,
        `get_outputs`, `get_modelmeta`, `run`); the TensorRT runners return a `TrtSession`, the
        torch ones a `TorchSession` (which takes its input shape from `model`); an `openvino`
        package gets an `OpenVINOSession` over its IR."""
        if package.backend == "openvino":
            from vigil.engine._private.openvino_runtime import open_session, verify_source

            verify_source(package, folder)
            path = folder / package.main_file((".xml",)).name
            return path, open_session(path, backend)
        path = folder / package.main_file((".onnx",)).name
        excluded = package.onnx.incompatible_providers if package.onnx else ()
        return path, create_session(path, backend, excluded)

    @classmethod
    def _check_input_spec(cls, model_id: str, spec: InputSpec) -> None:
        norm = spec.normalization
        if (
            (spec.resize, spec.color) != (cls.resize_mode, ColorFormat.RGB)
            or (spec.resize == "letterbox" and spec.pad_value != ops.PAD_VALUE)
            or (abs(norm.scale - 1 / 255) > 1e-9 or any(norm.mean) or any(s != 1 for s in norm.std))
        ):
            raise ModelLoadError(
                f"model '{model_id}': this YOLO runner expects Ultralytics' input ({cls.resize_mode}, RGB, /255, no "
                f"mean/std); model.json asks for {spec.model_dump(mode='json')}"
            )

    def _check_outputs(self, shapes: list[list[Any]]) -> None:
        raise NotImplementedError

    def _input_size(self, size: tuple[int, int], fixed_h: int | None, fixed_w: int | None) -> tuple[int, int]:
        wanted = self.options.image_size
        if isinstance(wanted, int):
            wanted = (wanted, wanted)
        if not self._dynamic_size:
            assert fixed_h is not None and fixed_w is not None
            if wanted is not None and tuple(wanted) != (fixed_h, fixed_w):
                raise ModelLoadError(
                    f"model '{self._path}' has a fixed input of {fixed_h}x{fixed_w}; image_size "
                    f"{wanted[0]}x{wanted[1]} needs a dynamic export (or drop the image_size option)"
                )
            return fixed_h, fixed_w
        chosen = tuple(wanted) if wanted is not None else size
        if chosen[0] % self._stride or chosen[1] % self._stride:
            raise ModelLoadError(f"model '{self._path}': image_size {chosen} must be a multiple of stride {self._stride}")
        return int(chosen[0]), int(chosen[1])

    def output_mismatch(self, shapes: list[list[Any]], expected: str) -> ModelLoadError:
        return ModelLoadError(
            f"model '{self._path}': outputs {shapes} do not match a YOLO '{self.metadata.task}' head; expected {expected}"
        )

    def pre_process(self, images: Sequence[np.ndarray]) -> PreparedBatch:
        # Ultralytics letterboxes to the minimal stride-aligned rectangle only when the input
        # size is dynamic and every image of the batch has the same shape.
        auto = self._dynamic_size and len({img.shape for img in images}) == 1
        target_h, target_w = self.input_size
        boxes = [ops.plan_letterbox(img.shape[0], img.shape[1], target_h, target_w, auto, self._stride) for img in images]
        tensor = np.empty((len(images), 3, boxes[0].in_h, boxes[0].in_w), dtype=np.float32)
        for i, (img, box) in enumerate(zip(images, boxes)):
            ops.letterbox_into(img, box, tensor[i])
        return PreparedBatch(tensor=tensor, meta=boxes)

    def forward(self, batch: PreparedBatch) -> list[np.ndarray]:
        """Every graph output for the batch. Batches above the package's maximum run in chunks;
        batches below the package's minimum (a static size, or a dynamic range's `min`) are
        zero-padded and the padding rows dropped."""
        tensor, spec = batch.tensor, self.batch
        if spec.max is not None and len(tensor) > spec.max:
            parts = [self._run(tensor[i : i + spec.max]) for i in range(0, len(tensor), spec.max)]
            return [np.concatenate(outputs) for outputs in zip(*parts)]
        return self._run(tensor)

    def _run(self, tensor: np.ndarray) -> list[np.ndarray]:
        n = len(tensor)
        if n < self.batch.min:
            padded = np.zeros((self.batch.min, *tensor.shape[1:]), dtype=np.float32)
            padded[:n] = tensor
            tensor = padded
        return [out[:n] for out in self._session.run(None, {self._input_name: tensor})]

    def close(self) -> None:
        self._session = None


def check_boxes_head(model: YOLOOnnxBase, shapes: list[list[Any]], extra: int, outputs: int = 1) -> None:
    """`[batch, 4 + nc + extra, anchors]` as the first output (and `outputs` outputs in all)."""
    expected = 4 + len(model.class_names) + extra
    first = shapes[0] if shapes else []
    if len(shapes) != outputs or len(first) != 3 or dim(first[1]) not in (None, expected):
        extra_text = f" + {extra}" if extra else ""
        raise model.output_mismatch(
            shapes, f"{outputs} output(s), the first [batch, 4 + {len(model.class_names)} classes{extra_text}, anchors]"
        )
