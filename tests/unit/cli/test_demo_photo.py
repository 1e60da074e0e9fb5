"""The demo's photo without scikit-image (the container image has none): the same astronaut,
kept in vigil's package data, close to scikit-image's own."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import skimage.data

from vigil.cli import demo


def test_without_scikit_image_the_demo_films_the_same_astronaut(monkeypatch: pytest.MonkeyPatch) -> None:
    reference = np.ascontiguousarray(skimage.data.astronaut()[:, :, ::-1]).astype(np.int16)
    monkeypatch.setitem(sys.modules, "skimage.data", None)  # `import skimage.data` raises ImportError
    photo = demo._demo_photo()
    assert photo.shape == reference.shape and photo.dtype == np.uint8
    assert np.abs(photo.astype(np.int16) - reference).mean() < 3.0  # a JPEG of it: a few levels apart
