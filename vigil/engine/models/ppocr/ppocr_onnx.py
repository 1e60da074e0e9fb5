"""PP-OCR on onnxruntime: text detector, 180-degree classifier and CTC recogniser, read as
rapidocr-onnxruntime 1.4.4 reads them (same resizing, DB post-process, ordering and decoding)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vigil.engine._private.package_format import ModelMetadata, PackageMetadata
from vigil.engine.base import PreparedBatch, TextRecognitionModel
from vigil.engine.models.ppocr import _detection as det
from vigil.engine.models.ppocr import _recognition as rec
from vigil.engine.models.ppocr._ppocr_onnx_base import PPOCROnnxBase, open_sessions
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


class PPOCRONNX(PPOCROnnxBase, TextRecognitionModel):
    """`model(images) -> list[TextDetections]`, one per image.

    `pre_process` brings each image to the detector (images keep their own sizes, so
    `PreparedBatch.tensor` is an object array of per-image tensors and `meta` the per-image
    geometry); `forward` runs the detector, then crops the lines and runs the classifier and
    the recogniser on them; `post_process` drops low scores and maps corners back.
    """

    def __init__(
        self, model: ModelMetadata, package: PackageMetadata, folder: Path, sessions: dict[str, Any], characters: list[str]
    ) -> None:
        super().__init__(model, package, folder, sessions)
        self.class_names = model.class_names
        self._characters = characters
        try:
            self._lines = rec.LineSettings.from_parameters(model.parameters)
        except (TypeError, ValueError) as exc:
            raise ModelLoadError(f"model '{model.model_id}': unreadable PP-OCR parameters in model.json ({exc})") from exc

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
        sessions = open_sessions(package, folder, backend, _ROLES)
        characters = rec.character_list(sessions["rec"].get_modelmeta().custom_metadata_map)
        if characters is None:
            raise ModelLoadError(
                f"model '{folder / 'rec.onnx'}': no 'character' dictionary in its metadata; "
                "import the recogniser from rapidocr-onnxruntime"
            )
        return cls(model, package, folder, sessions, characters)

    def forward(self, batch: PreparedBatch) -> list[ImageLines]:
        return [self._read_image(tensor, plan) for tensor, plan in zip(batch.tensor, batch.meta)]

    def _read_image(self, tensor: np.ndarray | None, plan: det.DetectorPlan) -> ImageLines:
        quads, _ = self._detect_lines(tensor, plan)
        if not quads:
            return ImageLines([], [], [])
        crops = [rec.crop_line(plan.image, quad) for quad in quads]
        crops = rec.turn_upside_down_lines(crops, lambda x: self._run("cls", x), self._lines)
        reads = rec.read_lines(crops, lambda x: self._run("rec", x), self._characters, self._lines)
        return ImageLines(quads, [text for text, _ in reads], [score for _, score in reads])

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
