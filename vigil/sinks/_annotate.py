"""Detections drawn on a frame with supervision's annotators, for the sinks that save pictures.

supervision is an optional extra (it pulls matplotlib and scipy, ~0.5 s to import): it is
imported when a sink that draws starts, never when vigil is imported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import cv2
import numpy as np

from vigil.engine import ClassificationPrediction, Detections, TextDetections, attached
from vigil.errors import MissingDependencyError
from vigil.result import Overlay, Predictions
from vigil.sinks._overlays import OverlayPainter

__all__ = ["Annotator"]

# Pose models report a score per keypoint; below this the point is usually hidden or outside
# the picture, and drawing it (and the limbs ending there) would put bones in the wrong place.
KEYPOINT_MIN_CONFIDENCE = 0.25


class Annotator:
    """Draws boxes with labels (class name and confidence), masks when there are masks and
    skeletons when there are keypoints, on a copy of a BGR image; under them the overlays stages
    added (a source's zones and lines, `vigil.sinks._overlays`).

    Built once per sink, on a thread (the import is slow), and used from the sink's thread."""

    def __init__(self, sink: str) -> None:
        try:
            import supervision as sv
        except ImportError as exc:
            raise MissingDependencyError(
                f"sink '{sink}' draws detections with supervision, which is not installed: "
                "pip install 'vigil-analytics[supervision]'"
            ) from exc
        self._masks = sv.MaskAnnotator()
        self._boxes = sv.BoxAnnotator()
        self._edges = sv.EdgeAnnotator()
        self._vertices = sv.VertexAnnotator()
        self._labels = sv.LabelAnnotator()
        self._overlays = OverlayPainter()

    def draw(self, image: np.ndarray, dets: Predictions, overlays: Sequence[Overlay] = ()) -> np.ndarray:
        scene = image.copy()
        if overlays:  # a source's zones and lines, under the boxes so the labels stay readable
            scene = self._overlays.draw(scene, overlays)
        if isinstance(dets, ClassificationPrediction):
            return _draw_class(scene, f"{dets.class_name} {dets.confidence:.2f}")
        if len(dets) == 0:
            return scene
        if isinstance(dets, TextDetections):
            return _draw_text_lines(scene, dets)
        boxes = dets.to_supervision()
        if dets.mask is not None:  # first, so the boxes and labels stay readable over it
            scene = self._masks.annotate(scene, boxes)
        scene = self._boxes.annotate(scene, boxes)
        if dets.keypoints is not None:
            points = _visible_keypoints(dets).to_supervision_keypoints()
            scene = self._edges.annotate(scene, points)
            scene = self._vertices.annotate(scene, points)
        return self._labels.annotate(scene, boxes, labels=_labels(dets))

    def draw_box(self, image: np.ndarray, box: tuple[float, float, float, float], class_id: int, label: str) -> np.ndarray:
        """One box (xyxy) with its `label` on a copy of `image`, in the colour `draw` gives
        `class_id`: an event's object in its frame (the snapshot sink)."""
        import supervision as sv  # imported by __init__ already

        one = sv.Detections(xyxy=np.asarray([box], dtype=np.float32), class_id=np.asarray([class_id]))
        scene = self._boxes.annotate(image.copy(), one)
        return self._labels.annotate(scene, one, labels=[label])


def _draw_text_lines(scene: np.ndarray, lines: TextDetections) -> np.ndarray:
    """OCR lines: each quadrilateral outlined, the text read written above it."""
    for quad, text in zip(lines.quads, lines.text):
        points = np.round(quad).astype(np.int32)
        cv2.polylines(scene, [points], isClosed=True, color=(0, 200, 255), thickness=2)
        x, y = int(points[:, 0].min()), int(points[:, 1].min())
        cv2.putText(scene, str(text), (x, max(y - 6, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 200, 255), 2, cv2.LINE_AA)
    return scene


def _draw_class(scene: np.ndarray, label: str) -> np.ndarray:
    """A whole-frame class, written in the top-left corner on a dark band."""
    scale = max(0.5, scene.shape[0] / 720)
    (w, h), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    cv2.rectangle(scene, (0, 0), (w + 12, h + base + 12), (0, 0, 0), -1)
    cv2.putText(scene, label, (6, h + 6), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 2, cv2.LINE_AA)
    return scene


def _labels(dets: Detections) -> list[str]:
    """The track id (when tracked), class and confidence, then what cascades attached (a plate's
    text, a face's class)."""
    names = dets.class_name if dets.class_name is not None else dets.class_id.astype(str)
    labels = [f"{name} {conf:.2f}" for name, conf in zip(names, dets.confidence)]
    if dets.tracker_id is not None:
        labels = [f"#{t} {label}" if t >= 0 else label for t, label in zip(dets.tracker_id, labels)]
    if "attached" not in dets.data:
        return labels
    return [
        " | ".join([label, *(a.label for a in outputs.values() if a.label)]) for label, outputs in zip(labels, attached(dets))
    ]


def _visible_keypoints(dets: Detections) -> Detections:
    # supervision's vertex and edge annotators skip points at (0, 0), so hidden points go
    # there (its `KeyPoints.visible` flag would do it too, but older releases lack it).
    assert dets.keypoints is not None and dets.keypoint_confidence is not None
    shown = dets.keypoint_confidence[..., None] >= KEYPOINT_MIN_CONFIDENCE
    return replace(dets, keypoints=np.where(shown, dets.keypoints, 0.0))
