"""`FakeDetector`: a stand-in object detector for the runner's own tests. No weights, no backend:
each frame gets one box, derived from the frame itself, so a test can tell which frame a result
came from and that it went through all three stages.

The frames carry their sequence number in their pixels (`frame_image(seq)`, which
`MemorySource` uses): the detector reads it back and answers one box over the whole image,
class 0, confidence `confidence_of(seq)`, the seq in `data["seq"]`. Each stage can be slowed
(`pre_delay_s`, `infer_delay_s`, `post_delay_s`) and inference made to fail on demand
(`fail_seqs`: a batch holding one of these frames raises).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vigil.engine import BatchSpec, Detections, ObjectDetectionModel
from vigil.engine.developer_tools import PreparedBatch

__all__ = ["FakeDetector", "confidence_of", "frame_image", "seq_of"]

HEIGHT, WIDTH = 24, 32


def frame_image(seq: int, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """A BGR image whose first pixel holds `seq` (base 256, three channels)."""
    image = np.zeros((height, width, 3), np.uint8)
    image[0, 0] = (seq & 0xFF, (seq >> 8) & 0xFF, (seq >> 16) & 0xFF)
    return image


def seq_of(image: np.ndarray) -> int:
    b, g, r = (int(v) for v in image[0, 0])
    return b | g << 8 | r << 16


def confidence_of(seq: int) -> float:
    """1.0, 0.99, ..., 0.01, then again: what the fake detector answers for frame `seq`."""
    return float(np.float32(1.0 - (seq % 100) / 100))


class FakeDetectorFailure(RuntimeError):
    pass


class FakeDetector(ObjectDetectionModel):
    """One box per frame, from the frame; see the module's docstring.

    model = FakeDetector(infer_delay_s=0.01, fail_seqs={5})
    """

    def __init__(
        self,
        *,
        model_id: str = "fake-detector",
        batch: BatchSpec | None = None,
        pre_delay_s: float = 0.0,
        infer_delay_s: float = 0.0,
        post_delay_s: float = 0.0,
        fail_seqs: Collection[int] = (),
    ) -> None:
        self.model_id = model_id
        self.package_id = "fake"
        self.package_dir = Path(".")
        self.class_names = ("thing",)
        self.batch = batch or BatchSpec(min=1, max=None)
        self.pre_delay_s, self.infer_delay_s, self.post_delay_s = pre_delay_s, infer_delay_s, post_delay_s
        self.fail_seqs = set(fail_seqs)
        self.batches: list[list[int]] = []  # the seqs of every batch inferred, in order
        self.closed = False
        self._lock = threading.Lock()

    def pre_process(self, images: Sequence[np.ndarray]) -> PreparedBatch:
        time.sleep(self.pre_delay_s)
        seqs = np.array([seq_of(image) for image in images], np.int64)
        sizes = [image.shape[:2] for image in images]
        return PreparedBatch(tensor=seqs, meta=sizes)

    def forward(self, batch: PreparedBatch) -> Any:
        time.sleep(self.infer_delay_s)
        seqs = [int(s) for s in batch.tensor]
        with self._lock:
            self.batches.append(seqs)
        failing = self.fail_seqs.intersection(seqs)
        if failing:
            raise FakeDetectorFailure(f"fake failure on frame(s) {sorted(failing)}")
        return batch.tensor.copy()

    def post_process(self, raw: Any, batch: PreparedBatch) -> list[Detections]:
        time.sleep(self.post_delay_s)
        out = []
        for seq, (height, width) in zip(raw, batch.meta):
            out.append(
                Detections(
                    xyxy=np.array([[0, 0, width, height]], np.float32),
                    confidence=np.array([confidence_of(int(seq))], np.float32),
                    class_id=np.array([0], np.int64),
                    data={"seq": np.array([int(seq)], np.int64)},
                )
            )
        return out

    def close(self) -> None:
        self.closed = True
