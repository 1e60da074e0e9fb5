"""The figures of `vigil eval` and bench/accuracy.py: HOTA, IDF1 and ID switches from TrackEval
(the MOTChallenge kit's own metric classes, on the boxes' IoU as its MOTChallenge dataset
computes them), line-count errors and speed errors. TrackEval is the `eval` extra's: imported
here only when the tracking scores are asked for."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np

from vigil.cli.eval_truth import Frames
from vigil.errors import VigilError

MIN_TRUE_KMH = 1.0  # a slower true speed has no meaningful relative error (an object standing)
MATCH_IOU = 0.5  # a detection is the labelled object it overlaps this much (TrackEval's CLEAR and Identity threshold)


class MissingExtra(VigilError):
    """TrackEval (or SciPy) is not installed."""


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of `a` (N, 4 xyxy) with every box of `b` (M, 4)."""
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return np.asarray(inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12))


def _sequence(truth: Frames, found: Frames, frames: int) -> dict[str, Any]:
    """TrackEval's per-sequence data: ids renumbered from 0, one similarity matrix a frame."""
    gt_map = {i: k for k, i in enumerate(sorted({i for rows in truth.values() for i, _ in rows}))}
    tr_map = {i: k for k, i in enumerate(sorted({i for rows in found.values() for i, _ in rows}))}
    data: dict[str, Any] = {"gt_ids": [], "tracker_ids": [], "similarity_scores": []}
    for frame in range(1, frames + 1):
        gt, tr = truth.get(frame, []), found.get(frame, [])
        data["gt_ids"].append(np.array([gt_map[i] for i, _ in gt], int))
        data["tracker_ids"].append(np.array([tr_map[i] for i, _ in tr], int))
        boxes = [np.array([b for _, b in rows], float).reshape(-1, 4) for rows in (gt, tr)]
        data["similarity_scores"].append(_iou(*boxes))
    data.update(
        num_timesteps=frames,
        num_gt_ids=len(gt_map),
        num_tracker_ids=len(tr_map),
        num_gt_dets=sum(len(r) for r in data["gt_ids"]),
        num_tracker_dets=sum(len(r) for r in data["tracker_ids"]),
    )
    return data


def tracking_scores(truth: Frames, found: Frames) -> dict[str, float]:
    """HOTA, DetA, AssA (averaged over TrackEval's IoU thresholds), IDF1, ID switches and MOTA."""
    try:
        from trackeval.metrics import CLEAR, HOTA, Identity
    except ImportError as exc:
        raise MissingExtra(
            f"vigil eval needs TrackEval for HOTA/IDF1/ID switches ({exc.name} is not installed): pip install 'vigil-analytics[eval]'"
        ) from exc
    frames = max([*truth, *found, 1])
    data = _sequence(truth, found, frames)
    with contextlib.redirect_stdout(io.StringIO()):  # the metric classes print their configuration
        hota = HOTA().eval_sequence(data)
        clear = CLEAR({"PRINT_CONFIG": False}).eval_sequence(data)
        identity = Identity({"PRINT_CONFIG": False}).eval_sequence(data)
    return {
        "hota": round(float(np.mean(hota["HOTA"])), 6),
        "deta": round(float(np.mean(hota["DetA"])), 6),
        "assa": round(float(np.mean(hota["AssA"])), 6),
        "idf1": round(float(identity["IDF1"]), 6),
        "id_switches": int(clear["IDSW"]),
        "mota": round(float(clear["MOTA"]), 6),
    }


def count_errors(truth: dict[str, dict[str, int]], found: dict[str, dict[str, int]]) -> dict[str, Any]:
    """Per line |in error| + |out error|, and their sum as a share of the true crossings (%)."""
    lines: dict[str, Any] = {}
    for name, true in truth.items():
        got = found.get(name, {})
        error = abs(got.get("in", 0) - true["in"]) + abs(got.get("out", 0) - true["out"])
        lines[name] = {"true": dict(true), "found": {"in": got.get("in", 0), "out": got.get("out", 0)}, "error": error}
    crossings = sum(t["in"] + t["out"] for t in truth.values())
    errors = sum(line["error"] for line in lines.values())
    percent = round(100.0 * errors / crossings, 3) if crossings else (0.0 if not errors else None)
    return {"lines": lines, "true_crossings": crossings, "error": errors, "error_percent": percent}


def matches(truth: Frames, found: Frames) -> dict[tuple[int, int], int]:
    """{(frame, found id): true id}: each frame's detections paired with labelled boxes (IoU >= MATCH_IOU, best total)."""
    try:
        from scipy.optimize import linear_sum_assignment
    except ImportError as exc:
        raise MissingExtra(f"vigil eval needs SciPy ({exc.name} is not installed): pip install 'vigil-analytics[eval]'") from exc
    out: dict[tuple[int, int], int] = {}
    for frame, rows in found.items():
        gt = truth.get(frame, [])
        if not gt or not rows:
            continue
        iou = _iou(np.array([b for _, b in rows], float), np.array([b for _, b in gt], float))
        for r, c in zip(*linear_sum_assignment(-iou)):
            if iou[r, c] >= MATCH_IOU:
                out[(frame, rows[r][0])] = gt[c][0]
    return out


def relative_errors(
    true_kmh: dict[tuple[int, int], float], found_kmh: dict[tuple[int, int], float], paired: dict[tuple[int, int], int]
) -> list[float]:
    """Relative errors (%) of the measured speeds of detections matched to a labelled box with a true speed."""
    errors = []
    for (frame, found_id), kmh in found_kmh.items():
        true_id = paired.get((frame, found_id))
        true = true_kmh.get((frame, true_id)) if true_id is not None else None
        if true is not None and true >= MIN_TRUE_KMH:
            errors.append(100.0 * abs(kmh - true) / true)
    return errors


def error_summary(errors: list[float]) -> dict[str, Any]:
    """How many, their median and 95th percentile (%)."""
    if not errors:
        return {"measured": 0, "median_percent": None, "p95_percent": None}
    return {
        "measured": len(errors),
        "median_percent": round(float(np.median(errors)), 3),
        "p95_percent": round(float(np.percentile(errors, 95)), 3),
    }


def speed_errors(
    true_kmh: dict[tuple[int, int], float], found_kmh: dict[tuple[int, int], float], paired: dict[tuple[int, int], int]
) -> dict[str, Any]:
    """The summary of `relative_errors`."""
    return error_summary(relative_errors(true_kmh, found_kmh, paired))
