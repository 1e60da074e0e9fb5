"""The documented JSON record of one result (docs/OUTPUT.md), shared by every sink that writes it.

Building a record is split in two so sinks can keep CPU off the event loop: `record_header` is
cheap and reads the frame on the loop (the frame, image included, can then be released), and
`header_to_record` turns the detections (masks included) into JSON on a worker thread.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vigil.engine import ClassificationPrediction, TextDetections, attached
from vigil.result import InferenceResult, Predictions

__all__ = ["detections_to_json", "header_to_record", "mask_rle", "record_header", "result_to_record"]


def text_to_json(lines: TextDetections) -> list[dict[str, Any]]:
    """OCR results: each text line with its recognition score and its quadrilateral."""
    return [
        {
            "text": str(lines.text[i]),
            "confidence": round(float(lines.confidence[i]), 6),
            "quad": [[round(float(x), 3), round(float(y), 3)] for x, y in lines.quads[i]],
        }
        for i in range(len(lines))
    ]


def mask_rle(mask: np.ndarray) -> dict[str, Any]:
    """COCO-style uncompressed RLE: run lengths of a column-major scan, starting with zeros."""
    flat = mask.flatten(order="F")
    if flat.size == 0:
        return {"size": list(mask.shape), "counts": []}
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    counts = np.diff(np.concatenate([[0], edges, [flat.size]]))
    if flat[0]:
        counts = np.concatenate([[0], counts])
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts.tolist()}


def classification_to_json(prediction: ClassificationPrediction) -> dict[str, Any]:
    """A whole-frame classification: the top class and the top-k classes with their scores."""
    names = prediction.class_names
    return {
        "class_id": prediction.class_id,
        "class_name": prediction.class_name,
        "confidence": round(prediction.confidence, 6),
        "top_k": [
            {"class_id": int(i), "class_name": names[int(i)] if names else str(int(i)), "confidence": round(float(c), 6)}
            for i, c in zip(prediction.top_k, prediction.top_k_confidence)
        ],
    }


def detections_to_json(dets: Predictions) -> list[dict[str, Any]]:
    if isinstance(dets, TextDetections):
        return text_to_json(dets)
    if isinstance(dets, ClassificationPrediction):
        return []  # no objects: the record's `classification` holds it
    names = dets.class_name
    extras = attached(dets) if "attached" in dets.data else None
    speeds = dets.data.get("speed_kmh")
    out = []
    for i in range(len(dets)):
        item: dict[str, Any] = {
            "class_id": int(dets.class_id[i]),
            "class_name": str(names[i]) if names is not None else str(dets.class_id[i]),
            "confidence": round(float(dets.confidence[i]), 6),
            "xyxy": [round(float(v), 3) for v in dets.xyxy[i]],
        }
        if dets.tracker_id is not None:
            item["tracker_id"] = int(dets.tracker_id[i])
        if speeds is not None and np.isfinite(speeds[i]):
            item["speed_kmh"] = round(float(speeds[i]), 2)  # on a camera with speed: (vigil.stages._speed)
        if dets.keypoints is not None and dets.keypoint_confidence is not None:
            item["keypoints"] = [
                [round(float(x), 3), round(float(y), 3), round(float(c), 6)]
                for (x, y), c in zip(dets.keypoints[i], dets.keypoint_confidence[i])
            ]
        if dets.mask is not None:
            item["mask"] = mask_rle(dets.mask[i])
        if extras and extras[i]:
            item["attached"] = {name: output.to_json() for name, output in extras[i].items()}
        out.append(item)
    return out


def record_header(result: InferenceResult) -> dict[str, Any]:
    """Every key of the record except `detections`: the frame's identity, the model, timings."""
    frame, t = result.frame, result.timings
    return {
        "source": frame.source_id,
        "seq": frame.seq,
        "pts": round(frame.pts, 6),
        "capture_time": frame.capture_time.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "model": result.model_id,
        "timing_ms": {
            "queue": round(t.queue, 3),
            "pre_process": round(t.pre_process, 3),
            "infer": round(t.infer, 3),
            "post_process": round(t.post_process, 3),
            "total": round(t.total, 3),
            **({"since_capture": round(t.since_capture, 3)} if t.since_capture is not None else {}),
        },
    }


def header_to_record(header: dict[str, Any], dets: Predictions) -> dict[str, Any]:
    """The full record, keys in the documented order (`detections` before `timing_ms`)."""
    record = {key: value for key, value in header.items() if key != "timing_ms"}
    if isinstance(dets, ClassificationPrediction):
        record["classification"] = classification_to_json(dets)
    return {**record, "detections": detections_to_json(dets), "timing_ms": header["timing_ms"]}


def result_to_record(result: InferenceResult) -> dict[str, Any]:
    """The documented JSON record of one result (docs/OUTPUT.md)."""
    return header_to_record(record_header(result), result.detections)
