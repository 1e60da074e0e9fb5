"""Text-line detection (DBNet) around the network: input geometry and the box post-process.

Parity with rapidocr-onnxruntime 1.4.4 is the contract, so every step keeps its rounding rules
and dtypes: Python's `round()` (half to even) for sizes, float32 box arithmetic where it works in
float32, the same `np.argsort` calls where ties could reorder points, and GEOS' formulas for the
polygon area and perimeter that set the unclip distance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import pyclipper

from vigil.errors import ModelInputError

_STRIDE = 32
# The detector's own minimum box side (pixels of the probability map), before and after unclip.
_MIN_SIDE = 3
# Boxes whose first corners are closer than this vertically count as one row when ordering.
_ROW_TOLERANCE = 10


@dataclass(frozen=True, slots=True)
class DetectionSettings:
    """model.json `parameters` of the detector plus rapidocr's global image limits."""

    limit_side_len: int = 736
    limit_type: str = "min"
    thresh: float = 0.3
    box_thresh: float = 0.5
    max_candidates: int = 1000
    unclip_ratio: float = 1.6
    use_dilation: bool = True
    max_side_len: int = 2000
    min_side_len: int = 30
    min_height: int = 30
    width_height_ratio: float = 8

    @classmethod
    def from_parameters(cls, params: dict[str, Any]) -> DetectionSettings:
        return cls(
            limit_side_len=int(params.get("det_limit_side_len", 736)),
            limit_type=str(params.get("det_limit_type", "min")),
            thresh=float(params.get("det_thresh", 0.3)),
            box_thresh=float(params.get("det_box_thresh", 0.5)),
            max_candidates=int(params.get("det_max_candidates", 1000)),
            unclip_ratio=float(params.get("det_unclip_ratio", 1.6)),
            use_dilation=bool(params.get("det_use_dilation", True)),
            max_side_len=int(params.get("max_side_len", 2000)),
            min_side_len=int(params.get("min_side_len", 30)),
            min_height=int(params.get("min_height", 30)),
            width_height_ratio=float(params.get("width_height_ratio", 8)),
        )


@dataclass(frozen=True, slots=True)
class DetectorPlan:
    """How one image reached the detector. `image` is the resized and padded BGR image that the
    detector's boxes refer to; the line crops are cut from it."""

    raw_h: int
    raw_w: int
    ratio_h: float
    ratio_w: float
    pad_top: int
    image: np.ndarray


def normalization_table(scale: float, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """(3, 256) float32: each channel's normalised value of every uint8 level.

    rapidocr scales in float32 and then subtracts and divides by float64 arrays before casting
    back; a table built the same way is bit-identical and replaces that per-pixel float64 pass.
    """
    levels = np.arange(256, dtype=np.float32) * scale
    table = (levels[None, :] - np.asarray(mean, np.float64)[:, None]) / np.asarray(std, np.float64)[:, None]
    return table.astype(np.float32)


def _stride_size(h: int, w: int, ratio: float) -> tuple[int, int]:
    return int(round(int(h * ratio) / _STRIDE) * _STRIDE), int(round(int(w * ratio) / _STRIDE) * _STRIDE)


def _rescale(image: np.ndarray, ratio: float) -> tuple[np.ndarray, float, float]:
    h, w = image.shape[:2]
    new_h, new_w = _stride_size(h, w, ratio)
    if new_h <= 0 or new_w <= 0:
        raise ModelInputError(f"a {h}x{w} image is too thin to read text from: it would be resized to {new_h}x{new_w} pixels")
    return cv2.resize(image, (new_w, new_h)), h / new_h, w / new_w


def plan_image(image: np.ndarray, settings: DetectionSettings) -> DetectorPlan:
    """rapidocr's global steps: shrink sides above `max_side_len`, grow sides below
    `min_side_len`, then pad short or very wide images with black bands above and below."""
    raw_h, raw_w = image.shape[:2]
    ratio_h = ratio_w = 1.0
    if max(raw_h, raw_w) > settings.max_side_len:
        image, ratio_h, ratio_w = _rescale(image, settings.max_side_len / max(raw_h, raw_w))
    h, w = image.shape[:2]
    if min(h, w) < settings.min_side_len:
        # rapidocr keeps only this step's ratios when both steps fire (sides beyond ~66:1),
        # so its boxes then map back with the wrong scale; kept for parity.
        image, ratio_h, ratio_w = _rescale(image, settings.min_side_len / min(h, w))
    image, top = _pad_flat(image, settings.min_height, settings.width_height_ratio)
    return DetectorPlan(raw_h, raw_w, ratio_h, ratio_w, top, image)


def _pad_flat(image: np.ndarray, min_height: int, max_aspect: float) -> tuple[np.ndarray, int]:
    h, w = image.shape[:2]
    too_wide = max_aspect != -1 and w / h > max_aspect
    if h > min_height and not too_wide:
        return image, 0
    target_h = max(int(w / max_aspect), min_height) * 2
    top = int(abs(target_h - h) / 2)
    return cv2.copyMakeBorder(image, top, top, 0, 0, cv2.BORDER_CONSTANT, value=(0, 0, 0)), top


def detector_input(image: np.ndarray, settings: DetectionSettings, table: np.ndarray) -> np.ndarray | None:
    """(1, 3, H, W) float32 with both sides multiples of 32, or None when a side would be 0."""
    h, w = image.shape[:2]
    new_h, new_w = _stride_size(h, w, _detector_ratio(h, w, settings))
    if new_h <= 0 or new_w <= 0:
        return None
    resized = np.asarray(cv2.resize(image, (new_w, new_h)), np.uint8)
    tensor = np.empty((1, 3, new_h, new_w), np.float32)
    for c in range(3):
        np.take(table[c], resized[:, :, c], out=tensor[0, c])
    return tensor


def _detector_ratio(h: int, w: int, settings: DetectionSettings) -> float:
    if settings.limit_type == "min":
        limit = settings.limit_side_len
        return limit / min(h, w) if min(h, w) < limit else 1.0
    # rapidocr ignores limit_side_len for "max" and picks the limit from the image size.
    longest = max(h, w)
    limit = 960 if longest < 960 else 1500 if longest < 1500 else 2000
    return limit / longest if longest > limit else 1.0


def find_boxes(prob: np.ndarray, dest_h: int, dest_w: int, settings: DetectionSettings) -> list[np.ndarray]:
    """DB post-process of one (H, W) probability map: int32 (4, 2) boxes in `dest` pixels."""
    return [box for box, _ in find_scored_boxes(prob, dest_h, dest_w, settings)]


def find_scored_boxes(prob: np.ndarray, dest_h: int, dest_w: int, settings: DetectionSettings) -> list[tuple[np.ndarray, float]]:
    """`find_boxes` with each box's score: the mean probability inside it before unclipping,
    the value DB compares with `box_thresh`."""
    mask: np.ndarray = (prob > settings.thresh).astype(np.uint8)
    if settings.use_dilation:
        mask = cv2.dilate(mask, np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(mask * 255, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    height, width = mask.shape
    boxes = []
    for contour in contours[: settings.max_candidates]:
        quad, short_side = _min_area_quad(contour)
        if short_side < _MIN_SIDE:
            continue
        score = _mean_inside(prob, quad)
        if score < settings.box_thresh:
            continue
        quad, short_side = _min_area_quad(_unclip(quad, settings.unclip_ratio))
        if short_side < _MIN_SIDE + 2:
            continue
        quad[:, 0] = np.clip(np.round(quad[:, 0] / width * dest_w), 0, dest_w)
        quad[:, 1] = np.clip(np.round(quad[:, 1] / height * dest_h), 0, dest_h)
        boxes.append((quad.astype(np.int32), score))
    return boxes


def _min_area_quad(points: np.ndarray) -> tuple[np.ndarray, float]:
    """The minimum-area rectangle's float32 corners as top-left, top-right, bottom-right,
    bottom-left (by rapidocr's rule: two left-most by x, each pair split by y)."""
    rect = cv2.minAreaRect(points)
    corners = cv2.boxPoints(rect)
    corners = corners[np.argsort(corners[:, 0], kind="stable")]  # Python's sorted() is stable too
    left = (0, 1) if corners[1, 1] > corners[0, 1] else (1, 0)
    right = (2, 3) if corners[3, 1] > corners[2, 1] else (3, 2)
    quad = corners[[left[0], right[0], right[1], left[1]]]
    return quad, min(rect[1])


def _mean_inside(prob: np.ndarray, quad: np.ndarray) -> float:
    """Mean probability inside the quad, rasterised with integer corners in its bounding box."""
    h, w = prob.shape
    x0 = int(np.clip(math.floor(quad[:, 0].min()), 0, w - 1))
    x1 = int(np.clip(math.ceil(quad[:, 0].max()), 0, w - 1))
    y0 = int(np.clip(math.floor(quad[:, 1].min()), 0, h - 1))
    y1 = int(np.clip(math.ceil(quad[:, 1].max()), 0, h - 1))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    corners = (quad.astype(np.float64) - (x0, y0)).astype(np.int32)
    cv2.fillPoly(mask, [corners], 1)
    return float(cv2.mean(prob[y0 : y1 + 1, x0 : x1 + 1], mask)[0])


def _unclip(quad: np.ndarray, ratio: float) -> np.ndarray:
    """Grow the quad by area * ratio / perimeter with round joins (pyclipper, integer output)."""
    offset = pyclipper.PyclipperOffset()
    offset.AddPath(quad, pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    return np.array(offset.Execute(_ring_area(quad) * ratio / _ring_length(quad))).reshape(-1, 1, 2)


def _ring_area(quad: np.ndarray) -> float:
    # GEOS' shoelace variant (coordinates relative to the first x), as shapely computes it.
    pts = [(float(x), float(y)) for x, y in quad] + [(float(quad[0, 0]), float(quad[0, 1]))]
    x0 = pts[0][0]
    total = 0.0
    for i in range(1, len(pts) - 1):
        total += (pts[i][0] - x0) * (pts[i - 1][1] - pts[i + 1][1])
    return abs(total / 2.0)


def _ring_length(quad: np.ndarray) -> float:
    pts = [(float(x), float(y)) for x, y in quad]
    total = 0.0
    for (xa, ya), (xb, yb) in zip(pts, pts[1:] + pts[:1]):
        dx, dy = xb - xa, yb - ya
        total += math.sqrt(dx * dx + dy * dy)
    return total


def tidy_boxes(boxes: list[np.ndarray], h: int, w: int) -> list[np.ndarray]:
    """Corners clockwise from top-left, clipped into the image, boxes of 3 px or less dropped."""
    return [quad for quad in (tidy_box(box, h, w) for box in boxes) if quad is not None]


def tidy_box(box: np.ndarray, h: int, w: int) -> np.ndarray | None:
    """One box of `tidy_boxes`: its float32 quad, or None when it is dropped."""
    quad = _clockwise(box)
    quad[:, 0] = np.trunc(np.clip(quad[:, 0], 0, w - 1))
    quad[:, 1] = np.trunc(np.clip(quad[:, 1], 0, h - 1))
    if int(np.linalg.norm(quad[0] - quad[1])) <= 3 or int(np.linalg.norm(quad[0] - quad[3])) <= 3:
        return None
    return quad


def _clockwise(box: np.ndarray) -> np.ndarray:
    # Same argsort calls (default kind, same dtype) as rapidocr, so ties resolve alike.
    by_x = box[np.argsort(box[:, 0]), :]
    left, right = by_x[:2], by_x[2:]
    top_left, bottom_left = left[np.argsort(left[:, 1]), :]
    top_right, bottom_right = right[np.argsort(right[:, 1]), :]
    return np.array([top_left, top_right, bottom_right, bottom_left], dtype=np.float32)


def reading_order(quads: list[np.ndarray]) -> list[np.ndarray]:
    """Top to bottom by the first corner, then one bubbling pass that puts boxes whose first
    corners are within 10 px vertically in left-to-right order."""
    return [quads[i] for i in reading_order_indices(quads)]


def reading_order_indices(quads: list[np.ndarray]) -> list[int]:
    """The positions in `quads` of `reading_order(quads)`, so values paired with them follow."""
    # sorted() is stable, so sorting positions by the quads' keys ties the same way as the quads.
    ordered = sorted(range(len(quads)), key=lambda i: (quads[i][0][1], quads[i][0][0]))
    for i in range(len(ordered) - 1):
        for j in range(i, -1, -1):
            a, b = quads[ordered[j]], quads[ordered[j + 1]]
            if abs(b[0][1] - a[0][1]) < _ROW_TOLERANCE and b[0][0] < a[0][0]:
                ordered[j], ordered[j + 1] = ordered[j + 1], ordered[j]
            else:
                break
    return ordered


def detect_lines(prob: np.ndarray, h: int, w: int, settings: DetectionSettings) -> tuple[list[np.ndarray], list[float]]:
    """The text lines of one probability map as PP-OCR reads them (`find_boxes`, `tidy_boxes`,
    `reading_order`): float32 quads in `h` x `w` detector-image pixels, and each one's box score."""
    scored = [
        (quad, score) for box, score in find_scored_boxes(prob, h, w, settings) if (quad := tidy_box(box, h, w)) is not None
    ]
    order = reading_order_indices([quad for quad, _ in scored])
    return [scored[i][0] for i in order], [scored[i][1] for i in order]


def to_original(quads: np.ndarray, plan: DetectorPlan) -> np.ndarray:
    """(N, 4, 2) float32 detector-image corners mapped back into the caller's image."""
    out = np.array(quads, dtype=np.float32).reshape(-1, 4, 2)
    out[:, :, 1] -= plan.pad_top
    out[:, :, 0] *= plan.ratio_w
    out[:, :, 1] *= plan.ratio_h
    out = np.maximum(out, 0)
    out[..., 0] = np.minimum(out[..., 0], plan.raw_w)
    out[..., 1] = np.minimum(out[..., 1], plan.raw_h)
    return out
