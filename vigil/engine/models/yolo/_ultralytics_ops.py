"""Ultralytics' predictor arithmetic (letterbox, NMS, box scaling) in vectorised numpy.

Each function reproduces one step of Ultralytics 8.4's pipeline to the rounding rule, because
parity with its predictions is the contract: Python's `round()` (half to even) for sizes and
pads, odd pad pixels to the bottom/right, class-aware NMS by offsetting boxes in float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114
_255 = np.float32(255.0)
PAD = np.float32(PAD_VALUE) / _255  # the pad colour as the model sees it
# Ultralytics' `max_wh`: the per-class offset that keeps boxes of different classes apart in NMS.
CLASS_OFFSET = 7680.0
MAX_NMS = 30000


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How one image was placed in the model input (all in pixels)."""

    orig_h: int
    orig_w: int
    new_h: int
    new_w: int
    top: int
    left: int
    in_h: int
    in_w: int


def plan_letterbox(h: int, w: int, target_h: int, target_w: int, auto: bool, stride: int = 32) -> Letterbox:
    """Ultralytics' `LetterBox` geometry with `center=True`, scale-up allowed."""
    r = min(target_h / h, target_w / w)
    new_w, new_h = max(round(w * r), 1), max(round(h * r), 1)
    dw, dh = target_w - new_w, target_h - new_h
    if auto:
        dw, dh = dw % stride, dh % stride
    half_w, half_h = dw / 2, dh / 2
    top, bottom = round(half_h - 0.1), round(half_h + 0.1)
    left, right = round(half_w - 0.1), round(half_w + 0.1)
    return Letterbox(h, w, new_h, new_w, top, left, new_h + top + bottom, new_w + left + right)


def letterbox_into(image: np.ndarray, box: Letterbox, out: np.ndarray) -> None:
    """Write `image` letterboxed as RGB float32 /255 CHW into `out` (3, in_h, in_w).

    Bit-identical to Ultralytics (uint8 letterbox, then float32 division by 255), in one pass per
    channel straight into the batch tensor; only the pad strips are filled, not the whole tensor.
    """
    if (box.orig_h, box.orig_w) != (box.new_h, box.new_w):
        image = cv2.resize(image, (box.new_w, box.new_h), interpolation=cv2.INTER_LINEAR)
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    bottom, right = box.top + box.new_h, box.left + box.new_w
    for c in range(3):
        np.divide(rgb[:, :, c], _255, out=out[c, box.top : bottom, box.left : right], casting="unsafe")
    out[:, : box.top] = PAD
    out[:, bottom:] = PAD
    out[:, box.top : bottom, : box.left] = PAD
    out[:, box.top : bottom, right:] = PAD


def xywh_to_xyxy(xywh: np.ndarray) -> np.ndarray:
    xy, half = xywh[:, :2], xywh[:, 2:4] / 2
    return np.concatenate([xy - half, xy + half], axis=1)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, max_keep: int | None = None) -> np.ndarray:
    """Greedy NMS with torchvision's rule: drop a box whose IoU with a kept one is > threshold.

    Vectorised per kept box (not per candidate); returns kept indices by descending score.
    Greedy NMS keeps boxes in score order, so stopping at `max_keep` gives the same first
    `max_keep` boxes as running to the end (Ultralytics truncates to max_det afterwards).
    """
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1) * (y2 - y1)
    keep: list[int] = []
    limit = len(order) if max_keep is None else max_keep
    while order.size and len(keep) < limit:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        w = np.maximum(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0)
        h = np.maximum(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0)
        inter = w * h
        iou = inter / (areas[i] + areas[rest] - inter)
        order = rest[~(iou > iou_threshold)]
    return np.asarray(keep, dtype=np.int64)


def select_detections(
    pred: np.ndarray, num_classes: int, conf: float, iou: float, max_det: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ultralytics' `non_max_suppression` for one image of a `[4+nc(+extra), anchors]` output.

    Returns (xyxy in input pixels, confidence, class_id, kept anchor indices).
    """
    scores = pred[4 : 4 + num_classes]
    best = scores.max(axis=0)
    candidates = np.flatnonzero(best > conf)
    if candidates.size > MAX_NMS:
        candidates = candidates[np.argsort(-best[candidates], kind="stable")[:MAX_NMS]]
    if candidates.size == 0:
        return np.empty((0, 4), np.float32), np.empty(0, np.float32), np.empty(0, np.int64), candidates
    boxes = xywh_to_xyxy(pred[:4, candidates].T)
    confidence = best[candidates]
    class_id = scores[:, candidates].argmax(axis=0)
    offset = (class_id.astype(np.float32) * np.float32(CLASS_OFFSET))[:, None]
    keep = nms(boxes + offset, confidence, iou, max_det)
    return boxes[keep], confidence[keep], class_id[keep].astype(np.int64), candidates[keep]


def scale_boxes(xyxy: np.ndarray, box: Letterbox) -> np.ndarray:
    """Ultralytics 8.4's `scale_boxes`: separate x/y gains, pads re-derived, clipped to the image."""
    h, w = box.orig_h, box.orig_w
    gain = min(box.in_h / h, box.in_w / w)
    new_h, new_w = round(h * gain), round(w * gain)
    gain_x, gain_y = new_w / w, new_h / h
    pad_x = round((box.in_w - new_w) / 2 - 0.1)
    pad_y = round((box.in_h - new_h) / 2 - 0.1)
    out = xyxy.astype(np.float32, copy=True)
    out[:, [0, 2]] = (out[:, [0, 2]] - np.float32(pad_x)) / np.float32(gain_x)
    out[:, [1, 3]] = (out[:, [1, 3]] - np.float32(pad_y)) / np.float32(gain_y)
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, w)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, h)
    return out


def _torch_axis(in_size: int, out_size: int, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weights of PyTorch's bilinear kernel (align_corners=False), float32,
    for output positions start..stop-1."""
    scale = np.float32(in_size) / np.float32(out_size)
    src = scale * (np.arange(start, stop, dtype=np.float32) + np.float32(0.5)) - np.float32(0.5)
    src = np.maximum(src, np.float32(0))
    i0 = src.astype(np.int64)
    i1 = np.where(i0 < in_size - 1, i0 + 1, i0)
    l1 = np.clip(src - i0.astype(np.float32), np.float32(0), np.float32(1))
    return i0, i1, np.float32(1) - l1, l1


def bilinear_region(plane: np.ndarray, out_h: int, out_w: int, rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
    """The window rows x cols of `F.interpolate(plane, (out_h, out_w), "bilinear")`, computed with
    PyTorch's float32 arithmetic (width first, then height) without the rest of the output."""
    h0, h1, hl0, hl1 = _torch_axis(plane.shape[0], out_h, *rows)
    w0, w1, wl0, wl1 = _torch_axis(plane.shape[1], out_w, *cols)
    top, bottom = plane[h0], plane[h1]
    upper = top[:, w0] * wl0 + top[:, w1] * wl1
    lower = bottom[:, w0] * wl0 + bottom[:, w1] * wl1
    return upper * hl0[:, None] + lower * hl1[:, None]


def _span(lo: float, hi: float, limit: int) -> tuple[int, int]:
    """Integer positions p with lo <= p < hi, clipped to 0..limit."""
    return max(0, min(limit, int(np.ceil(lo)))), max(0, min(limit, int(np.ceil(hi))))


def segment_masks(protos: np.ndarray, coefs: np.ndarray, xyxy: np.ndarray, box: Letterbox) -> tuple[np.ndarray, np.ndarray]:
    """Ultralytics' masks, in original-image pixels: logits = coefs @ protos, upsampled to the
    input size, > 0, cropped to the box (input space); then the letterbox content scaled to the
    original size, > 0.5 (`scale_masks`). Only each box's window is computed, which keeps the
    cost proportional to the objects' area instead of n x image size.

    Returns (kept: (n,) bool, masks: (kept, H, W) bool); a detection whose cropped mask is empty
    is not kept, as in Ultralytics."""
    n, (c, mh, mw) = len(coefs), protos.shape
    h, w = box.orig_h, box.orig_w
    kept = np.zeros(n, bool)
    if n == 0:
        return kept, np.zeros((0, h, w), bool)
    logits = (coefs @ protos.reshape(c, -1)).reshape(n, mh, mw)
    gain = min(box.in_h / h, box.in_w / w)  # 8.4 derives the pads from the rounded content size
    pad_w, pad_h = (box.in_w - round(w * gain)) / 2, (box.in_h - round(h * gain)) / 2
    top, left = round(pad_h - 0.1), round(pad_w - 0.1)
    content_h, content_w = box.in_h - round(pad_h + 0.1) - top, box.in_w - round(pad_w + 0.1) - left
    sy, sx = content_h / h, content_w / w
    out = []
    for i in range(n):
        rows = _span(xyxy[i, 1], xyxy[i, 3], box.in_h)
        cols = _span(xyxy[i, 0], xyxy[i, 2], box.in_w)
        window = bilinear_region(logits[i], box.in_h, box.in_w, rows, cols) > 0
        if not window.any():
            continue
        kept[i] = True
        content = np.zeros((content_h, content_w), np.float32)
        r0, r1 = max(rows[0] - top, 0), max(min(rows[1] - top, content_h), 0)
        c0, c1 = max(cols[0] - left, 0), max(min(cols[1] - left, content_w), 0)
        content[r0:r1, c0:c1] = window[r0 + top - rows[0] : r1 + top - rows[0], c0 + left - cols[0] : c1 + left - cols[0]]
        # output pixels whose bilinear footprint can reach the window (1 px margin each side)
        oy = _span((r0 - 1.5) / sy - 0.5, (r1 + 1.5) / sy + 0.5, h)
        ox = _span((c0 - 1.5) / sx - 0.5, (c1 + 1.5) / sx + 0.5, w)
        mask = np.zeros((h, w), bool)
        mask[oy[0] : oy[1], ox[0] : ox[1]] = bilinear_region(content, h, w, oy, ox) > 0.5
        out.append(mask)
    return kept, np.stack(out) if out else np.zeros((0, h, w), bool)


def scale_points(xy: np.ndarray, box: Letterbox) -> np.ndarray:
    """Keypoints (..., 2) from input pixels to original pixels, as `scale_boxes`, clipped."""
    h, w = box.orig_h, box.orig_w
    gain = min(box.in_h / h, box.in_w / w)
    new_h, new_w = round(h * gain), round(w * gain)
    pad_x = round((box.in_w - new_w) / 2 - 0.1)
    pad_y = round((box.in_h - new_h) / 2 - 0.1)
    out = np.empty_like(xy, dtype=np.float32)
    out[..., 0] = np.clip((xy[..., 0] - np.float32(pad_x)) / np.float32(new_w / w), 0, w)
    out[..., 1] = np.clip((xy[..., 1] - np.float32(pad_y)) / np.float32(new_h / h), 0, h)
    return out
