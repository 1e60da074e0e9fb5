"""BLIP as a `VisionLanguageModel`: `prompt(image, text)` is transformers' own `generate`
(greedy, deterministic) decoded by the processor. For question answering
(BlipForQuestionAnswering) the text is the question; for captioning
(BlipForConditionalGeneration) it is the start of the caption, which the answer continues."""

from __future__ import annotations

import numpy as np

from vigil.engine._private.hf_runtime import rgb_images
from vigil.engine.base import as_bgr8
from vigil.engine.behaviours import VisionLanguageModel
from vigil.engine.models.hf._hf_base import HFModelBase
from vigil.errors import ModelInputError

DEFAULT_MAX_NEW_TOKENS = 32


class BlipVQAHF(HFModelBase, VisionLanguageModel):
    def prompt(self, image: np.ndarray, text: str, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS) -> str:
        if not isinstance(text, str) or not text.strip():
            raise ModelInputError(f"prompt text must be a non-empty string, got {text!r}")
        if max_new_tokens < 1:
            raise ModelInputError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        inputs = self.processor(images=rgb_images([as_bgr8(image)]), text=text, return_tensors="pt")
        # Never past the text decoder's positions (an IndexError deep in torch otherwise).
        room = int(self.net.config.text_config.max_position_embeddings) - int(inputs["input_ids"].shape[1])
        if room < 1:
            raise ModelInputError(f"prompt text is too long for this model ({inputs['input_ids'].shape[1]} tokens); shorten it")
        max_new_tokens = min(max_new_tokens, room)
        with self.torch.inference_mode():
            output = self.net.generate(**self._to_device(inputs), max_new_tokens=max_new_tokens, do_sample=False)
        return str(self.processor.decode(output[0], skip_special_tokens=True)).strip()
