"""A deliberately plain, loop-based reading of Ultralytics 8.4's predictor, written from the steps in
shared/golden/README.md, used to check vigil's vectorised implementation on inputs the golden set
does not cover. It shares no code with vigil: letterbox via cv2.copyMakeBorder on uint8 as
Ultralytics does, NMS one box pair at a time as torchvision's CPU kernel does.
"""

from __future__ import annotations

import cv2
import numpy as np


def letterbox(img: np.ndarray, size: tuple[int, int], auto: bool, stride: int = 32) -> np.ndarray:
    h, w = img.shape[:2]
    r = min(size[0] / h, size[1] / w)
    new_unpad = (int(round(w * r)), int(round(h * r)))
    new_unpad = (max(new_unpad[0], 1), max(new_unpad[1], 1))
    dw, dh = size[1] - new_unpad[0], size[0] - new_unpad[1]
    if auto:
        dw, dh = np.mod(dw, stride), np.mod(dh, stride)
    dw /= 2
    dh /= 2
    if (w, h) != new_unpad:
        img = cv2.resize(img, new_unpad, interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    return cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))


def to_tensor(images: list[np.ndarray]) -> np.ndarray:
    batch = np.stack(images)[..., ::-1].transpose(0, 3, 1, 2)
    return np.ascontiguousarray(batch).astype(np.float32) / 255.0


def nms_loop(boxes: np.ndarray, scores: np.ndarray, thr: float) -> list[int]:
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    suppressed = [False] * len(scores)
    keep = []
    for a, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(i)
        for j in order[a + 1 :]:
            if suppressed[j]:
                continue
            xx1, yy1 = max(boxes[i][0], boxes[j][0]), max(boxes[i][1], boxes[j][1])
            xx2, yy2 = min(boxes[i][2], boxes[j][2]), min(boxes[i][3], boxes[j][3])
            inter = max(0.0, xx2 - xx1) * max(0.0, yy2 - yy1)
            area_i = (boxes[i][2] - boxes[i][0]) * (boxes[i][3] - boxes[i][1])
            area_j = (boxes[j][2] - boxes[j][0]) * (boxes[j][3] - boxes[j][1])
            if inter / (area_i + area_j - inter) > thr:
                suppressed[j] = True
    return keep


def postprocess(pred: np.ndarray, nc: int, conf: float, iou: float, in_shape, orig_shape, max_det: int = 300):
    kept = select(pred, nc, conf, iou, max_det)
    if not kept:
        return np.zeros((0, 4)), np.zeros(0), np.zeros(0, int)
    boxes = []
    for _, _, _, (x1, y1, x2, y2) in kept:
        (a, b), (c, d) = to_original(x1, y1, in_shape, orig_shape), to_original(x2, y2, in_shape, orig_shape)
        boxes.append((a, b, c, d))
    return np.array(boxes, np.float64), np.array([k[1] for k in kept]), np.array([k[2] for k in kept])


def select(pred: np.ndarray, nc: int, conf: float, iou: float, max_det: int = 300) -> list[tuple[int, float, int, list]]:
    """Kept detections as (anchor index, score, class, [x1, y1, x2, y2] in input pixels), one
    candidate at a time."""
    rows = []
    for a in range(pred.shape[1]):
        scores = pred[4 : 4 + nc, a]
        c = int(np.argmax(scores))
        if scores[c] > conf:
            cx, cy, w, h = pred[0:4, a]
            box = [np.float32(cx - w / 2), np.float32(cy - h / 2), np.float32(cx + w / 2), np.float32(cy + h / 2)]
            rows.append((a, float(scores[c]), c, box))
    offset = [[np.float32(v) + np.float32(r[2] * 7680.0) for v in r[3]] for r in rows]
    keep = nms_loop(offset, [r[1] for r in rows], iou)[:max_det]
    return [rows[k] for k in keep]


def to_original(x: float, y: float, in_shape, orig_shape) -> tuple[float, float]:
    h0, w0 = orig_shape
    gain = min(in_shape[0] / h0, in_shape[1] / w0)
    new_h, new_w = round(h0 * gain), round(w0 * gain)
    pad_x, pad_y = round((in_shape[1] - new_w) / 2 - 0.1), round((in_shape[0] - new_h) / 2 - 0.1)
    return min(max((x - pad_x) / (new_w / w0), 0), w0), min(max((y - pad_y) / (new_h / h0), 0), h0)


def segment(pred, protos, nc, conf, iou, in_shape, orig_shape):
    """Boxes, scores, classes and original-size masks, one mask at a time."""
    kept = select(pred, nc, conf, iou)
    in_h, in_w = in_shape
    h0, w0 = orig_shape
    gain = min(in_h / h0, in_w / w0)
    pad_w, pad_h = (in_w - round(w0 * gain)) / 2, (in_h - round(h0 * gain)) / 2
    top, left = round(pad_h - 0.1), round(pad_w - 0.1)
    bottom, right = in_h - round(pad_h + 0.1), in_w - round(pad_w + 0.1)
    out = []
    for anchor, score, cls, box in kept:
        coefs = pred[4 + nc :, anchor]
        logits = np.tensordot(coefs, protos, axes=1)
        mask = cv2.resize(logits, (in_w, in_h), interpolation=cv2.INTER_LINEAR) > 0
        for r in range(in_h):
            if not box[1] <= r < box[3]:
                mask[r, :] = False
        for c in range(in_w):
            if not box[0] <= c < box[2]:
                mask[:, c] = False
        if not mask.any():
            continue
        orig = cv2.resize(mask[top:bottom, left:right].astype(np.float32), (w0, h0), interpolation=cv2.INTER_LINEAR) > 0.5
        (x1, y1), (x2, y2) = to_original(box[0], box[1], in_shape, orig_shape), to_original(box[2], box[3], in_shape, orig_shape)
        out.append(((x1, y1, x2, y2), score, cls, orig))
    return out


def pose(pred, nc, kpt_shape, conf, iou, in_shape, orig_shape):
    out = []
    k, d = kpt_shape
    for anchor, score, cls, box in select(pred, nc, conf, iou):
        values = pred[4 + nc :, anchor]
        points = [to_original(values[i * d], values[i * d + 1], in_shape, orig_shape) for i in range(k)]
        vis = [values[i * d + 2] for i in range(k)] if d == 3 else [1.0] * k
        (x1, y1), (x2, y2) = to_original(box[0], box[1], in_shape, orig_shape), to_original(box[2], box[3], in_shape, orig_shape)
        out.append(((x1, y1, x2, y2), score, cls, points, vis))
    return out


def classify_tensor(img: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    h, w = img.shape[:2]
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    pil = Image.fromarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB)).resize((new_w, new_h), Image.Resampling.BILINEAR)
    top, left = int(round((new_h - size) / 2.0)), int(round((new_w - size) / 2.0))
    crop = pil.crop((left, top, left + size, top + size))
    return (np.asarray(crop, np.float32) / 255.0).transpose(2, 0, 1)[None]
