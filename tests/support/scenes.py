"""Photographs with people in them, made from scikit-image's photos: the astronaut and the
cameraman pasted at random sizes and places over the other photos. Enough detections for a
quantized model to be compared with its float one (calibration and held-out images)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from tests.conftest import photo

BACKGROUNDS = (
    "coffee",
    "chelsea",
    "rocket",
    "cat",
    "hubble_deep_field",
    "coins",
    "brick",
    "grass",
    "gravel",
    "horse",
    "clock",
    "immunohistochemistry",
    "page",
    "moon",
    "colorwheel",
    "retina",
)


def _people() -> list[np.ndarray]:
    astronaut, cameraman = photo("astronaut"), photo("camera")
    return [astronaut, astronaut[0:260, 90:330], cameraman, cameraman[40:330, 120:400]]


def scene(index: int, size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """Scene `index` (deterministic): a background and one to three people, BGR uint8."""
    rng = np.random.default_rng(index)
    width, height = size
    image = cv2.resize(photo(BACKGROUNDS[index % len(BACKGROUNDS)]), size, interpolation=cv2.INTER_AREA)
    people = _people()
    for _ in range(int(rng.integers(1, 4))):
        person = people[int(rng.integers(len(people)))]
        scale = rng.uniform(0.25, 0.8) * height / person.shape[0]
        person = cv2.resize(person, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        if rng.random() < 0.5:
            person = person[:, ::-1]
        h, w = person.shape[:2]
        y, x = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
        image[y : y + h, x : x + w] = person
    gain = rng.uniform(0.7, 1.2)
    return np.clip(image.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def write_scenes(folder: Path, count: int, start: int = 0) -> Path:
    """`count` scenes as JPEG files in `folder` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + count):
        cv2.imwrite(str(folder / f"scene-{i:03d}.jpg"), scene(i))
    return folder
