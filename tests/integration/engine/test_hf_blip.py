"""BLIP question answering and captioning through an `hf` package equal the processor +
transformers' `generate` + the processor's decoding, on real photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
from PIL import Image

from tests.conftest import photo
from tests.support.tiny_hf import build_blip
from vigil.engine import AutoModel, VisionLanguageModel
from vigil.errors import ModelInputError

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
CLASSES = {"vqa": transformers.BlipForQuestionAnswering, "caption": transformers.BlipForConditionalGeneration}
TEXT = {"vqa": "what is in the image?", "caption": "a photo of"}


@pytest.fixture(scope="module", params=["vqa", "caption"])
def blip(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    folder = tmp_path_factory.mktemp("blip") / f"tiny-blip-{request.param}"
    return request.param, build_blip(folder, captioning=request.param == "caption")


def reference(kind: str, folder: Path, image: np.ndarray, text: str, max_new_tokens: int) -> str:
    processor = transformers.BlipProcessor.from_pretrained(folder)
    model = CLASSES[kind].from_pretrained(folder).eval()
    inputs = processor(images=Image.fromarray(np.ascontiguousarray(image[:, :, ::-1])), text=text, return_tensors="pt")
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=max_new_tokens)
    return processor.decode(output[0], skip_special_tokens=True).strip()


def test_blip_prompt_equals_generate_and_decode(blip: tuple[str, Path]) -> None:
    kind, folder = blip
    model = AutoModel.from_pretrained(folder)
    assert isinstance(model, VisionLanguageModel)
    answers = {}
    for name in PHOTOS:
        image = photo(name)
        answers[name] = model.prompt(image, TEXT[kind], max_new_tokens=8)
        assert answers[name] == reference(kind, folder, image, TEXT[kind], 8)
        assert answers[name]
    assert len(set(answers.values())) > 1  # the answer depends on the image
    image = photo("coffee")
    assert model.prompt(image, "what is the man", max_new_tokens=8) == reference(kind, folder, image, "what is the man", 8)


def test_blip_prompt_refuses_an_empty_question(blip: tuple[str, Path]) -> None:
    model = AutoModel.from_pretrained(blip[1])
    with pytest.raises(ModelInputError, match="non-empty string"):
        model.prompt(photo("coffee"), "  ")
