"""Comparison of vigil detections with reference detections, with shared/golden's tolerances:
same number of boxes, each box's best match has IoU >= 0.99, |confidence diff| <= 1e-3 and the
same class. Entries flagged unstable may gain or lose one box; their matched boxes must agree."""

from __future__ import annotations

import numpy as np

from vigil.engine import Detections

STABILITY_FLAGS = ("stable_under_conf_pm_1e-3", "stable_under_iou_pm_5e-3", "stable_under_score_tie_noise")


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / (area_a[:, None] + area_b[None, :] - inter + 1e-12)


def assert_detections_match(ours: Detections, boxes, confidence, class_id, *, stable: bool = True, label: str = "") -> None:
    ref_boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    ref_conf = np.asarray(confidence, np.float64)
    ref_cls = np.asarray(class_id, np.int64)
    if stable:
        assert len(ours) == len(ref_boxes), f"{label}: {len(ours)} boxes, reference has {len(ref_boxes)}"
    else:
        assert abs(len(ours) - len(ref_boxes)) <= 1, f"{label}: {len(ours)} boxes vs {len(ref_boxes)} (unstable entry)"
    if len(ours) == 0 or len(ref_boxes) == 0:
        return
    ious = iou_matrix(ours.xyxy, ref_boxes)
    unmatched = 0
    for i in range(len(ours)):
        j = int(np.argmax(ious[i]))
        ok = ious[i, j] >= 0.99 and abs(float(ours.confidence[i]) - ref_conf[j]) <= 1e-3 and ours.class_id[i] == ref_cls[j]
        if not ok:
            assert not stable, (
                f"{label}: box {i} {ours.xyxy[i].tolist()} conf {ours.confidence[i]:.5f} class {ours.class_id[i]} "
                f"best match {ref_boxes[j].tolist()} IoU {ious[i, j]:.4f} conf {ref_conf[j]:.5f} class {ref_cls[j]}"
            )
            unmatched += 1
    assert unmatched <= 1, f"{label}: {unmatched} boxes unmatched (unstable entry allows 1)"


def is_stable(entry: dict) -> bool:
    return all(entry.get(flag, True) for flag in STABILITY_FLAGS)
