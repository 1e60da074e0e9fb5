"""Per-line stages of PP-OCR: crop each detected line, turn upside-down lines, read them (CTC).

The arithmetic follows rapidocr-onnxruntime 1.4.4 exactly: lines are batched in order of their
aspect ratio (the same `np.argsort` call, so ties fall the same way), and a recogniser batch is
padded to the widest line in it. Batch composition changes the padding and so the scores, which
is why it is reproduced rather than simplified.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

# Classifier label index that means "rotated by 180 degrees" (rapidocr's label_list ['0', '180']).
_UPSIDE_DOWN = 1
# A crop at least this much taller than wide is a vertical line: read it turned 90 degrees.
_VERTICAL_RATIO = 1.5
# CTC blank: the recogniser's class 0.
_BLANK = 0

Runner = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True, slots=True)
class LineSettings:
    """model.json `parameters` of the classifier and the recogniser."""

    cls_shape: tuple[int, int, int] = (3, 48, 192)
    cls_batch: int = 6
    cls_thresh: float = 0.9
    rec_shape: tuple[int, int, int] = (3, 48, 320)
    rec_batch: int = 6
    text_score: float = 0.5

    @classmethod
    def from_parameters(cls, params: dict[str, Any]) -> LineSettings:
        cls_c, cls_h, cls_w = (int(v) for v in params.get("cls_image_shape", (3, 48, 192)))
        rec_c, rec_h, rec_w = (int(v) for v in params.get("rec_image_shape", (3, 48, 320)))
        return cls(
            cls_shape=(cls_c, cls_h, cls_w),
            cls_batch=int(params.get("cls_batch", 6)),
            cls_thresh=float(params.get("cls_thresh", 0.9)),
            rec_shape=(rec_c, rec_h, rec_w),
            rec_batch=int(params.get("rec_batch", 6)),
            text_score=float(params.get("text_score", 0.5)),
        )


# uint8 level -> network input, computed in float32 as rapidocr does ((x / 255 - 0.5) / 0.5).
_LINE_TABLE = (np.arange(256, dtype=np.float32) / 255 - 0.5) / 0.5


def crop_line(image: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The line under `quad` (float32 TL, TR, BR, BL) warped upright to its longer edge lengths."""
    width = int(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3])))
    height = int(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2])))
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(quad, target)
    crop = cv2.warpPerspective(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
    if crop.shape[0] * 1.0 / crop.shape[1] >= _VERTICAL_RATIO:
        crop = np.rot90(crop)
    return crop


def _aspect_batches(crops: list[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """Indices of `crops` in batches of `size`, narrowest (width / height) first."""
    order = np.argsort(np.array([c.shape[1] / float(c.shape[0]) for c in crops]))
    for start in range(0, len(crops), size):
        yield order[start : start + size]


def _fit_height(crop: np.ndarray, height: int, max_width: int) -> np.ndarray:
    """(3, height, w) float32: resized to `height` keeping the aspect ratio, w <= max_width."""
    wanted = math.ceil(height * (crop.shape[1] / float(crop.shape[0])))
    width = max_width if wanted > max_width else int(wanted)
    resized = cv2.resize(crop, (width, height))
    return _LINE_TABLE[resized].transpose(2, 0, 1)


def _padded_batch(crops: list[np.ndarray], shape: tuple[int, int, int]) -> np.ndarray:
    channels, height, width = shape
    batch = np.zeros((len(crops), channels, height, width), np.float32)
    for row, crop in zip(batch, crops):
        line = _fit_height(crop, height, width)
        row[:, :, : line.shape[2]] = line
    return batch


def turn_upside_down_lines(crops: list[np.ndarray], run: Runner, settings: LineSettings) -> list[np.ndarray]:
    """The crops with each line the classifier finds upside down (confidently) rotated 180."""
    out = list(crops)
    for indices in _aspect_batches(crops, settings.cls_batch):
        probs = run(_padded_batch([crops[i] for i in indices], settings.cls_shape))
        labels = probs.argmax(axis=1)
        for i, label, row in zip(indices, labels, probs):
            if label == _UPSIDE_DOWN and row[label] > settings.cls_thresh:
                out[i] = cv2.rotate(crops[i], cv2.ROTATE_180)
    return out


def read_lines(crops: list[np.ndarray], run: Runner, characters: list[str], settings: LineSettings) -> list[tuple[str, float]]:
    """(text, score) per crop, in the crops' order."""
    channels, height, base_width = settings.rec_shape
    reads: list[tuple[str, float]] = [("", 0.0)] * len(crops)
    for indices in _aspect_batches(crops, settings.rec_batch):
        batch = [crops[i] for i in indices]
        widest = max([base_width / height] + [c.shape[1] * 1.0 / c.shape[0] for c in batch])
        tensor = _padded_batch(batch, (channels, height, int(height * widest)))
        for i, read in zip(indices, ctc_greedy_decode(run(tensor), characters)):
            reads[i] = read
    return reads


def ctc_greedy_decode(probs: np.ndarray, characters: list[str]) -> list[tuple[str, float]]:
    """Best class per time step; repeats collapsed, blanks dropped. The score is the mean
    probability of the kept steps (0 when none is kept)."""
    best = probs.argmax(axis=2)
    best_prob = probs.max(axis=2)
    keep = best != _BLANK
    keep[:, 1:] &= best[:, 1:] != best[:, :-1]
    out = []
    for steps, step_probs, kept in zip(best, best_prob, keep):
        text = "".join(characters[k] for k in steps[kept])
        kept_probs = step_probs[kept].astype(np.float64)
        out.append((text, float(kept_probs.mean()) if len(kept_probs) else 0.0))
    return out


def character_list(metadata: dict[str, str]) -> list[str] | None:
    """The recogniser's classes: blank, the dictionary in rec.onnx's `character` metadata (split
    with `str.splitlines`, as rapidocr does), then a space."""
    if "character" not in metadata:
        return None
    return ["blank", *metadata["character"].splitlines(), " "]
