"""CLIP (CLIPModel + CLIPProcessor) as an `EmbeddingModel`: images and texts in one space."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from vigil.engine._private.hf_runtime import rgb_images
from vigil.engine.base import PreparedBatch
from vigil.engine.behaviours import EmbeddingModel
from vigil.engine.models.hf._hf_base import HFModelBase
from vigil.errors import ModelInputError


def features(output: Any) -> Any:
    """`get_*_features` returns a tensor in transformers 4 and a pooled output in 5."""
    return output if hasattr(output, "norm") else output.pooler_output


class CLIPEmbeddingHF(HFModelBase, EmbeddingModel):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.dimension = int(self.net.config.projection_dim)

    def pre_process(self, images: Sequence[np.ndarray]) -> PreparedBatch:
        inputs = self.processor(images=rgb_images(images), return_tensors="pt")
        return PreparedBatch(inputs["pixel_values"], None)

    def forward(self, batch: PreparedBatch) -> Any:
        with self.torch.inference_mode():
            return features(self.net.get_image_features(pixel_values=self._tensor(batch.tensor)))

    def post_process(self, raw: Any, batch: PreparedBatch) -> list[np.ndarray]:
        return list(self._normalised(raw))

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise ModelInputError(f"texts must be a list of strings, got {texts!r}")
        if not texts:
            return np.empty((0, self.dimension), np.float32)
        max_length = int(self.net.config.text_config.max_position_embeddings)
        inputs = self.processor(text=list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        with self.torch.inference_mode():
            raw = features(self.net.get_text_features(**self._to_device(inputs)))
        return self._normalised(raw)

    def _normalised(self, raw: Any) -> np.ndarray:
        rows = raw.float().cpu().numpy()
        return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)
