"""PP-OCR on onnxruntime: text detector, 180-degree classifier and CTC recogniser, read as
rapidocr-onnxruntime 1.4.4 reads them (same resizing, DB post-process, ordering and decoding)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vigil.engine._private.onnx_runtime import create_session
from vigil.engine._private.package_format import ModelMetadata, PackageMetadata
from vigil.engine.base import BatchSpec, PreparedBatch, TextRecognitionModel, as_bgr8
from vigil.engine.enums import ColorFormat
from vigil.engine.models.ppocr import _detection as det
from vigil.engine.models.ppocr import _recognition as rec
from vigil.engine.options import BackendOptions, DetectionOptions
from vigil.engine.text import TextDetections
from vigil.errors import ModelLoadError

_ROLES = ("det", "cls", "rec")


@dataclass(slots=True)
class ImageLines:
    """`forward`'s result for one image: every line read, in reading order, in the detector
    image's pixels and before the text-score filter."""

    quads: list[np.ndarray]
    texts: list[str]
    scores: list[float]


class PPOCRONNX(TextRecognitionModel):
    """`model(images) -> list[TextDetections]`, one per image.

    `pre_process` brings each image to the detector (images keep their own sizes, so
    `PreparedBatch.tensor` is an object array of per-image tensors and `meta` the per-image
    geometry); `forward` runs the detector, then crops the lines and runs the classifier and
    the recogniser on them; `post_process` drops low scores and maps corners back.
    """

    def __init__(
        self, model: ModelMetadata, package: PackageMetadata, folder: Path, sessions: dict[str, Any], characters: list[str]
    ) -> None:
        self.model_id = model.model_id
        self.package_id = package.package_id
        self.package_dir = folder
        self.class_names = model.class_names
        # Every image is detected on its own (sizes differ, and so does rapidocr), so any
        # number of images can be passed at once.
        self.batch = BatchSpec()
        self.metadata = model
        self._sessions = sessions
        self._characters = characters
        self._rgb_input = model.input.color == ColorFormat.RGB
        norm = model.input.normalization
        self._table = det.normalization_table(norm.scale, norm.mean, norm.std)
        try:
            self._det = det.DetectionSettings.from_parameters(model.parameters)
            self._lines = rec.LineSettings.from_parameters(model.parameters)
        except (TypeError, ValueError) as exc:
            raise ModelLoadError(f"model '{model.model_id}': unreadable PP-OCR parameters in model.json ({exc})") from exc
        if self._det.limit_type not in ("min", "max"):
            raise ModelLoadError(
                f"model '{model.model_id}': det_limit_type must be 'min' or 'max', got {self._det.limit_type!r}"
            )

    @classmethod
    def from_package(
        cls,
        model: ModelMetadata,
        package: PackageMetadata,
        folder: Path,
        options: DetectionOptions,
        backend: BackendOptions,
    ) -> PPOCRONNX:
        # `options` holds YOLO-style thresholds; PP-OCR's own come from model.json parameters.
        names = {entry.name for entry in package.files}
        missing = [f"{role}.onnx" for role in _ROLES if f"{role}.onnx" not in names]
        if missing:
            raise ModelLoadError(
                f"package '{package.package_id}': a PP-OCR package needs det.onnx, cls.onnx and rec.onnx; "
                f"missing {', '.join(missing)}"
            )
        excluded = package.onnx.incompatible_providers if package.onnx else ()
        sessions = {role: create_session(folder / f"{role}.onnx", backend, excluded) for role in _ROLES}
        characters = rec.character_list(sessions["rec"].get_modelmeta().custom_metadata_map)
        if characters is None:
            raise ModelLoadError(
                f"model '{folder / 'rec.onnx'}': no 'character' dictionary in its metadata; "
                "import the recogniser from rapidocr-onnxruntime"
            )
        return cls(model, package, folder, sessions, characters)

    def pre_process(self, images: Sequence[np.ndarray]) -> PreparedBatch:
        plans = []
        tensors = np.empty(len(images), dtype=object)
        for i, image in enumerate(images):
            image = as_bgr8(image, i)
            if self._rgb_input:
                image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
            plan = det.plan_image(image, self._det)
            plans.append(plan)
            tensors[i] = det.detector_input(plan.image, self._det, self._table)
        return PreparedBatch(tensor=tensors, meta=plans)

    def forward(self, batch: PreparedBatch) -> list[ImageLines]:
        return [self._read_image(tensor, plan) for tensor, plan in zip(batch.tensor, batch.meta)]

    def _read_image(self, tensor: np.ndarray | None, plan: det.DetectorPlan) -> ImageLines:
        if tensor is None:
            return ImageLines([], [], [])
        prob = self._run("det", tensor)[0, 0]
        h, w = plan.image.shape[:2]
        quads = det.reading_order(det.tidy_boxes(det.find_boxes(prob, h, w, self._det), h, w))
        if not quads:
            return ImageLines([], [], [])
        crops = [rec.crop_line(plan.image, quad) for quad in quads]
        crops = rec.turn_upside_down_lines(crops, lambda x: self._run("cls", x), self._lines)
        reads = rec.read_lines(crops, lambda x: self._run("rec", x), self._characters, self._lines)
        return ImageLines(quads, [text for text, _ in reads], [score for _, score in reads])

    def _run(self, role: str, tensor: np.ndarray) -> np.ndarray:
        session = self._sessions.get(role)
        if session is None:
            raise RuntimeError(f"model '{self.model_id}' is closed")
        output: np.ndarray = session.run(None, {session.get_inputs()[0].name: tensor})[0]
        return output

    def post_process(self, raw: list[ImageLines], batch: PreparedBatch) -> list[TextDetections]:
        results = []
        for lines, plan in zip(raw, batch.meta):
            keep = [i for i, score in enumerate(lines.scores) if score >= self._lines.text_score]
            if not keep:
                results.append(TextDetections.empty())
                continue
            quads = det.to_original(np.array([lines.quads[i] for i in keep]), plan)
            texts = np.array([lines.texts[i] for i in keep], dtype=str)
            results.append(TextDetections(quads, texts, np.array([lines.scores[i] for i in keep])))
        return results

    def close(self) -> None:
        self._sessions = {}
