"""The daemon's metrics (`vigil.daemon.metrics`) plus what the streams API and the systemd
watchdog read from them: the last capture-to-result latencies and the frames dropped per source,
and a heartbeat on every batch."""

from __future__ import annotations

from collections import Counter, deque

from vigil.daemon.metrics import PrometheusMetrics
from vigil.daemon.systemd import Heartbeat
from vigil.result import InferenceResult

__all__ = ["StreamMetrics"]


class StreamMetrics(PrometheusMetrics):
    """Metrics plus the last capture-to-result latencies per source (for the streams API) and
    a heartbeat on every batch (for the systemd watchdog)."""

    def __init__(self) -> None:
        super().__init__()
        self.recent: dict[str, deque[float]] = {}
        self.drops: Counter[str] = Counter()  # frames the pipeline dropped (stale, lane_full), by source
        self.heartbeat = Heartbeat(max_age_s=30.0)

    def frames_dropped(self, source_id: str, cause: str, count: int) -> None:
        super().frames_dropped(source_id, cause, count)
        if not self.gone(source_id):
            self.drops[source_id] += count

    def batch_done(
        self, size: int, padded_to: int, pre_ms: float, infer_ms: float, post_ms: float, model: str = "default"
    ) -> None:
        super().batch_done(size, padded_to, pre_ms, infer_ms, post_ms, model=model)
        self.heartbeat.beat()

    def result(self, result: InferenceResult) -> None:
        super().result(result)
        t = result.timings
        ms = t.since_capture if t.since_capture is not None else t.total
        if self.gone(result.frame.source_id):
            return
        self.recent.setdefault(result.frame.source_id, deque(maxlen=100)).append(ms)
