"""numpy versions of what transformers' DETR-family image processors do, for ONNX exports.

Pre-processing as the processors' PIL path does it: RGB, a PIL resize (bilinear by default) to
the processor's size (RT-DETR, D-FINE: one fixed height x width; DETR: the shorter side to
`shortest_edge` unless the longer would pass `longest_edge`), then `pixel * rescale_factor`,
then `(x - mean) / std` when the processor normalizes. Post-processing as
`post_process_object_detection`: boxes from normalised cxcywh to xyxy in the image's pixels;
scores either sigmoid + top-k over queries x classes (RT-DETR, D-FINE) or softmax without the
last, "no object", class (DETR).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from PIL import Image

from vigil.errors import ModelLoadError

__all__ = ["Recipe", "keep_aspect_size", "prepare", "sigmoid_top_k", "softmax_scores", "to_pixels"]

ScoreRule = Literal["sigmoid-top-k", "softmax"]


@dataclass(frozen=True)
class Recipe:
    """How a family's processor prepares an image and reads the outputs (model.json `parameters`)."""

    scores: ScoreRule
    resample: int  # a PIL filter (2: bilinear, as the processors default)
    size: tuple[int, int] | None = None  # (height, width): a fixed size
    shortest_edge: int | None = None  # or the aspect-keeping rule
    longest_edge: int | None = None
    top_k: int | None = None  # sigmoid-top-k: pairs read (None: as many as queries; Conditional/Deformable DETR: 100)

    @classmethod
    def from_parameters(cls, parameters: dict[str, Any], what: str) -> Recipe:
        try:
            resize = parameters["resize"]
            recipe = cls(
                scores=parameters["scores"],
                resample=int(parameters.get("resample", 2)),
                size=(int(resize["height"]), int(resize["width"])) if "height" in resize else None,
                shortest_edge=int(resize["shortest_edge"]) if "shortest_edge" in resize else None,
                longest_edge=int(resize["longest_edge"]) if resize.get("longest_edge") is not None else None,
                top_k=int(parameters["top_k"]) if parameters.get("top_k") is not None else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelLoadError(
                f"{what}: model.json parameters {parameters} lack the processor's recipe ({exc!r}); "
                "export the model again with `vigil models export DIR --to onnx`"
            ) from None
        if recipe.scores not in ("sigmoid-top-k", "softmax") or (recipe.size is None) == (recipe.shortest_edge is None):
            raise ModelLoadError(
                f"{what}: model.json parameters {parameters}: 'scores' must be sigmoid-top-k or softmax and 'resize' "
                "either {height, width} or {shortest_edge, longest_edge}"
            )
        if recipe.resample not in {int(f) for f in Image.Resampling}:
            raise ModelLoadError(f"{what}: model.json parameters: resample {recipe.resample} is not a PIL filter")
        return recipe

    @staticmethod
    def check_scores(scores: str) -> ScoreRule:
        if scores not in ("sigmoid-top-k", "softmax"):
            raise ValueError(f"unknown score rule {scores!r}")
        return scores  # type: ignore[return-value]

    def parameters(self) -> dict[str, Any]:
        if self.size is not None:
            resize: dict[str, int | None] = {"height": self.size[0], "width": self.size[1]}
        else:
            resize = {"shortest_edge": self.shortest_edge, "longest_edge": self.longest_edge}
        extra = {"top_k": self.top_k} if self.top_k is not None else {}
        return {"resize": resize, "resample": self.resample, "scores": self.scores, **extra}

    def target_size(self, height: int, width: int) -> tuple[int, int]:
        if self.size is not None:
            return self.size
        assert self.shortest_edge is not None
        return keep_aspect_size(height, width, self.shortest_edge, self.longest_edge)


def keep_aspect_size(height: int, width: int, shortest: int, longest: int | None) -> tuple[int, int]:
    """(height, width) with the shorter side at `shortest`, unless the longer side would pass
    `longest`: then the longer side at `longest` (DETR's processor's rule, truncating as it does)."""
    short_side, long_side = float(min(height, width)), float(max(height, width))
    exact: float | None = None
    if longest is not None and long_side / short_side * shortest > longest:
        exact = longest * short_side / long_side
        shortest = int(round(exact))
    if min(height, width) == shortest:
        return height, width
    scale = exact if exact is not None else shortest
    if width < height:
        return int(scale * height / width), shortest
    return shortest, int(scale * width / height)


def prepare(bgr: np.ndarray, size: tuple[int, int], resample: int, scale: float, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """One BGR frame as a (3, H, W) float32 tensor the way the processor makes it."""
    rgb = Image.fromarray(np.ascontiguousarray(bgr[:, :, ::-1]))
    if (rgb.height, rgb.width) != size:
        rgb = rgb.resize((size[1], size[0]), resample=Image.Resampling(resample))
    pixels = np.asarray(rgb, dtype=np.float64) * scale
    pixels = ((pixels - mean) / std).astype(np.float32)
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


def to_pixels(cxcywh: np.ndarray, height: int, width: int) -> np.ndarray:
    """Normalised (cx, cy, w, h) rows as (x1, y1, x2, y2) in an image of that size, clipped to it."""
    cx, cy, w, h = cxcywh[:, 0], cxcywh[:, 1], cxcywh[:, 2], cxcywh[:, 3]
    xyxy = np.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], axis=1)
    xyxy *= np.array([width, height, width, height], dtype=np.float32)
    return np.clip(xyxy, 0.0, np.array([width, height, width, height], dtype=np.float32)).astype(np.float32)


def sigmoid_top_k(logits: np.ndarray, threshold: float, top_k: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(query index, class, score) of the `top_k` (default: as many as queries) best (query,
    class) pairs above `threshold`, best first: the focal-loss reading of RT-DETR, D-FINE and
    Conditional / Deformable DETR (a query may give several classes)."""
    queries, classes = logits.shape
    scores = 1.0 / (1.0 + np.exp(-logits.astype(np.float32).ravel()))
    best = np.argsort(-scores, kind="stable")[: top_k or queries]
    best = best[scores[best] > threshold]
    return best // classes, best % classes, scores[best]


def softmax_scores(logits: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(query index, class, score) of the queries whose best real class beats `threshold`, best
    first: DETR's reading (softmax over the classes and "no object", which is then left out)."""
    shifted = logits.astype(np.float32) - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted)
    probs /= probs.sum(axis=1, keepdims=True)
    real = probs[:, :-1]
    labels, scores = real.argmax(axis=1), real.max(axis=1)
    keep = np.flatnonzero(scores > threshold)
    keep = keep[np.argsort(-scores[keep], kind="stable")]
    return keep, labels[keep], scores[keep]
