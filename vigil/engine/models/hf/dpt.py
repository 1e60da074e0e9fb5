"""DPT-headed depth models (DPTForDepthEstimation, DepthAnythingForDepthEstimation) as a
`DepthModel`: a depth map per image at the image's own size, through the processor's
`post_process_depth_estimation`.

A processor that keeps the aspect ratio (Depth Anything's) gives images of other shapes
tensors of other shapes, so a batch runs as one forward per input shape: frames of one camera
still batch together.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from vigil.engine._private.hf_runtime import rgb_images
from vigil.engine.base import PreparedBatch
from vigil.engine.behaviours import DepthModel
from vigil.engine.models.hf._hf_base import HFModelBase


class DPTDepthHF(HFModelBase, DepthModel):
    def pre_process(self, images: Sequence[np.ndarray]) -> PreparedBatch:
        pixels = [self.processor(images=[image], return_tensors="pt")["pixel_values"] for image in rgb_images(images)]
        groups: dict[tuple[int, ...], list[int]] = {}
        for index, tensor in enumerate(pixels):
            groups.setdefault(tuple(tensor.shape), []).append(index)
        stacked = [(indices, self.torch.cat([pixels[i] for i in indices])) for indices in groups.values()]
        return PreparedBatch(stacked, [image.shape[:2] for image in images])  # type: ignore[arg-type]

    def forward(self, batch: PreparedBatch) -> Any:
        with self.torch.inference_mode():
            return [(indices, self.net(pixel_values=self._tensor(tensor))) for indices, tensor in batch.tensor]

    def post_process(self, raw: Any, batch: PreparedBatch) -> list[np.ndarray]:
        sizes = batch.meta
        maps: list[np.ndarray] = [np.empty(0, np.float32)] * len(sizes)
        with self.torch.inference_mode():
            for indices, outputs in raw:
                targets = [tuple(sizes[i]) for i in indices]
                results = self.processor.post_process_depth_estimation(outputs, target_sizes=targets)
                for i, result in zip(indices, results):
                    maps[i] = result["predicted_depth"].float().cpu().numpy().reshape(sizes[i])
        return maps
