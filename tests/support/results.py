"""Real `InferenceResult`s for sink tests: real Frames and Detections, no pipeline needed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

import numpy as np

from vigil import Frame
from vigil.engine import Detections
from vigil.result import InferenceResult, Timings
from vigil.sinks.base import Sink

T0 = datetime(2026, 11, 24, 0, 31, 12, tzinfo=timezone.utc)
NAMES = ["FACE_FEMALE", "FACE_MALE", "BELLY_EXPOSED"]
IMAGE = np.zeros((48, 64, 3), np.uint8)


def make_result(
    source: str,
    seq: int,
    class_ids: Sequence[int] = (0, 2),
    confidences: Sequence[float] = (0.9, 0.3),
    fps: float = 30.0,
) -> InferenceResult:
    """Frame `seq` of `source` at `fps` with one detection per class id (names from NAMES)."""
    n = len(class_ids)
    dets = Detections(
        xyxy=np.array([[10 + i, 20, 30 + i, 40] for i in range(n)], np.float32).reshape(n, 4),
        confidence=np.array(confidences, np.float32),
        class_id=np.array(class_ids, np.int64),
        data={"class_name": np.array([NAMES[c] for c in class_ids], dtype=str)},
    )
    frame = Frame(source, seq, seq / fps, T0 + timedelta(seconds=seq / fps), IMAGE)
    return InferenceResult(frame, "320n", dets, Timings(queue=1.0, pre_process=2.0, infer=3.0, post_process=0.5, total=7.0))


class ListSink(Sink):
    """A real sink that keeps every result in memory, for tests that inspect what was published."""

    name = "list"

    def __init__(self) -> None:
        self.results: list[InferenceResult] = []

    async def publish(self, result: InferenceResult) -> None:
        self.results.append(result)

    async def flush(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def seqs(self, source_id: str) -> list[int]:
        return [r.frame.seq for r in self.results if r.frame.source_id == source_id]
