"""OWLv2 (Owlv2ForObjectDetection + Owlv2Processor): detection from text prompts.

Boxes come from the processor's own `post_process_grounded_object_detection`; OWLv2 pads
every image to a square, which that function accounts for, and vigil then clips the boxes to
the image (a box may reach into the padding).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vigil.engine._private.hf_runtime import load_hf, rgb_images
from vigil.engine._private.package_format import ModelMetadata, PackageMetadata
from vigil.engine.base import PreparedBatch
from vigil.engine.behaviours import PromptedDetector, ZeroShotDetectionModel
from vigil.engine.detections import Detections
from vigil.engine.models.hf._hf_base import HFModelBase
from vigil.engine.options import BackendOptions, DetectionOptions
from vigil.errors import ModelLoadError


class Owlv2ZeroShotHF(HFModelBase, ZeroShotDetectionModel):
    """`detect(images, prompts, threshold)`; loaded with `prompts=[...]` it is a `PromptedDetector`."""

    @classmethod
    def from_package(
        cls, model: ModelMetadata, package: PackageMetadata, folder: Path, options: DetectionOptions, backend: BackendOptions
    ) -> Any:
        zero_shot = cls(model, package, folder, load_hf(model, package, folder, backend), options)
        if options.prompts:
            return PromptedDetector(zero_shot, options.prompts, options.confidence)
        return zero_shot

    def pre_process(self, images: Sequence[np.ndarray], prompts: tuple[str, ...]) -> PreparedBatch:
        inputs = self.processor(text=[list(prompts)] * len(images), images=rgb_images(images), return_tensors="pt")
        return PreparedBatch(inputs, ([image.shape[:2] for image in images], prompts))

    def forward(self, batch: PreparedBatch) -> Any:
        with self.torch.inference_mode():
            return self.net(**self._to_device(batch.tensor))

    def post_process(self, raw: Any, batch: PreparedBatch, threshold: float) -> list[Detections]:
        sizes, prompts = batch.meta
        results = self.processor.post_process_grounded_object_detection(
            raw,
            threshold=threshold,
            target_sizes=[tuple(size) for size in sizes],
            text_labels=[list(prompts)] * len(sizes),
        )
        return [_detections(result, size, prompts) for result, size in zip(results, sizes)]


def _detections(result: dict[str, Any], size: tuple[int, int], prompts: tuple[str, ...]) -> Detections:
    boxes = result["boxes"].float().cpu().numpy().reshape(-1, 4)
    height, width = size
    boxes = np.clip(boxes, 0, [width, height, width, height]).astype(np.float32)
    labels = result["labels"].cpu().numpy().astype(np.int64)
    return Detections(
        xyxy=boxes,
        confidence=result["scores"].float().cpu().numpy(),
        class_id=labels,
        data={"class_name": np.array([prompts[i] for i in labels], dtype=str)},
    )


class Owlv2DetectorHF(Owlv2ZeroShotHF):
    """OWLv2 loaded as task "detect": a `PromptedDetector`, which needs the `prompts` option."""

    @classmethod
    def from_package(
        cls, model: ModelMetadata, package: PackageMetadata, folder: Path, options: DetectionOptions, backend: BackendOptions
    ) -> Any:
        if not options.prompts:
            raise ModelLoadError(
                f"model '{model.model_id}' is a zero-shot detector: as task 'detect' it needs its prompts "
                "(AutoModel.from_pretrained(..., prompts=['a person', 'a car']))"
            )
        return super().from_package(model, package, folder, options, backend)
