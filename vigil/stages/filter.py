"""The `filter` stage, and `ResultFilter`, which the per-sink `filter:` uses as well: which
detections, and which frames, go on."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime

import numpy as np
from pydantic import PrivateAttr

from vigil.config.sinks import FilterSettings
from vigil.engine import ClassificationPrediction, Detections, TextDetections, attached
from vigil.result import InferenceResult
from vigil.stages.base import Stage, StageContext

__all__ = ["FilterStage", "FilterStageConfig", "ResultFilter"]


class ResultFilter(FilterSettings):
    """Keeps the detections a sink (or a stage) cares about and drops the results it does not.

    Detections are filtered first (classes, confidence); then a result is dropped when
    `only_with_detections` is set and none is left, or when its source published less than
    `cooldown_s` ago. The cooldown runs on the frames' capture time, so a file read faster than
    real time is throttled as its camera would be.

        faces = ResultFilter(classes={"FACE_FEMALE", "FACE_MALE"}, min_confidence=0.5,
                             only_with_detections=True, cooldown_s=10)
        result = faces.apply(result)  # None: do not publish
    """

    @classmethod
    def from_settings(cls, settings: FilterSettings | None) -> ResultFilter | None:
        return None if settings is None else cls(**settings.model_dump())

    # Capture time of the last published result per source; the model's fields stay frozen.
    _last_published: dict[str, datetime] = PrivateAttr(default_factory=dict)

    def apply(self, result: InferenceResult) -> InferenceResult | None:
        """The result with only the kept detections, or None when it should not be published.
        A whole-frame classification is kept or dropped whole (its top class and score)."""
        if isinstance(result.detections, ClassificationPrediction):
            if not self._class_kept(result.detections):
                return None
            return None if self.cooldown_s > 0 and self._cooling_down(result) else result
        dets = self._kept(result.detections)
        if self.only_with_detections and len(dets) == 0:
            return None
        if self.cooldown_s > 0 and self._cooling_down(result):
            return None
        return result if dets is result.detections else replace(result, detections=dets)

    def _class_kept(self, prediction: ClassificationPrediction) -> bool:
        wanted = self.classes is None or prediction.class_id in self.classes or prediction.class_name in self.classes
        return wanted and prediction.confidence >= self.min_confidence

    def _kept(self, dets: Detections | TextDetections) -> Detections | TextDetections:
        keep = dets.confidence >= self.min_confidence
        if isinstance(dets, TextDetections):  # text lines have no classes: confidence only
            return dets if keep.all() else dets[keep]
        if self.classes is not None:
            ids = [c for c in self.classes if isinstance(c, int)]
            names = [c for c in self.classes if isinstance(c, str)]
            class_names = dets.class_name if dets.class_name is not None else dets.class_id.astype(str)
            keep &= np.isin(dets.class_id, ids) | np.isin(class_names.astype(str), names)
        if self.attached:
            outputs = attached(dets)
            for name, pattern in self.attached.items():
                wanted = re.compile(pattern)
                keep &= np.array([name in o and wanted.search(o[name].label) is not None for o in outputs], dtype=bool)
        return dets if keep.all() else dets[keep]

    def _cooling_down(self, result: InferenceResult) -> bool:
        source, now = result.frame.source_id, result.frame.capture_time
        last = self._last_published.get(source)
        # A clock that jumped back (a camera reconnected) ends the cooldown instead of extending it.
        if last is not None and 0 <= (now - last).total_seconds() < self.cooldown_s:
            return True
        self._last_published[source] = now
        return False


class FilterStageConfig(FilterSettings):
    """`{kind: filter, classes: [...], min_confidence: ..., only_with_detections: ..., cooldown_s: ...}`:
    what goes on from this source to every sink (a sink's own `filter:` narrows further)."""


class FilterStage(Stage):
    """Keeps only some classes or confident detections, drops empty results or throttles them
    (see `ResultFilter`), for every sink of the source at once."""

    def __init__(self, config: FilterSettings, context: StageContext) -> None:
        self.filter = ResultFilter(**config.model_dump())

    def process(self, result: InferenceResult) -> InferenceResult | None:
        return self.filter.apply(result)
