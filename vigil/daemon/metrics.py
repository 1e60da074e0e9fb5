"""Prometheus metrics for a running pipeline (served at `GET /metrics` by the management API).

Events the pipeline pushes (`PipelineObserver`) feed counters and histograms; gauges and the
counters other parts keep (source states, queue depths, decode-side drops, sink backlog) are
read from `Pipeline.snapshot()` and the sinks at scrape time by a collector. Each instance has
its own registry, so several pipelines (or tests) never share series. Labels carry source and
sink names only: never URLs, so credentials cannot leak into metrics. Event labels are bounded
too: types are the catalog's (`CATALOG.event_types`), and each type's declaration says which of its
fields fill the `area` and `direction` labels and what it does to a zone's count (a plugin's type
is counted with no edit here); areas are configured zones and lines, classes the model's.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from vigil.catalog import CATALOG, EVENT_LABELS, EVENTS_METRIC, ZONE_OBJECTS_METRIC
from vigil.events import Event
from vigil.pipeline import PipelineObserver, PipelineSnapshot
from vigil.pipeline.fanout import Outlet
from vigil.result import InferenceResult
from vigil.sinks.base import SinkStats
from vigil.sources.base import SourceState

if TYPE_CHECKING:
    from vigil.api.console.live import LiveView

__all__ = ["PrometheusMetrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64)
_FPS_WINDOW_S = 10.0
_SINK = ["sink", "kind"]


class PrometheusMetrics(PipelineObserver):
    """`observe(pipeline)` once the pipeline exists; `exposition()` is the text Prometheus scrapes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.frames_in = Counter("vigil_frames_in", "Frames that entered the batcher.", ["source"], registry=r)
        self.frames_inferred = Counter("vigil_frames_inferred", "Frames with a result.", ["source"], registry=r)
        self.dropped = Counter(
            "vigil_frames_dropped", "Frames the batcher dropped, by cause (stale, lane_full).", ["source", "cause"], registry=r
        )
        self.batch_size = Histogram(
            "vigil_batch_size",
            "Frames per inference call, by model (its name in models:).",
            ["model"],
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.batch_failures = Counter("vigil_batch_failures", "Batches that failed in a stage, by model.", ["model"], registry=r)
        self.model_latency = Histogram(
            "vigil_model_batch_seconds",
            "Per-batch time of each model by stage: pre_process, infer, post_process.",
            ["model", "stage"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.stage_latency = Histogram(
            "vigil_stage_latency_seconds",
            "Per-frame time by stage: queue, pre_process, infer, post_process, total (since decode), since_capture.",
            ["stage"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.lag = Histogram(
            "vigil_event_loop_lag_seconds", "How late the event loop ran a timer.", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.events_total = Counter(
            EVENTS_METRIC,
            "Events the stages made, by source, type, area (the zone or line; empty for object events) and "
            "direction (a line crossing's in or out, else empty), as each type's declaration fills them.",
            ["source", "type", *EVENT_LABELS],
            registry=r,
        )
        self.zone_objects = Gauge(
            ZONE_OBJECTS_METRIC,
            "Objects in a zone now (zone_enter counts in, zone_exit out).",
            ["source", "zone", "class_name"],
            registry=r,
        )
        self._recent: dict[str, deque[float]] = {}  # result times per source, for fps
        # Who is in each zone: (source, zone) -> {tracker_id: class name at its zone_enter}, so a
        # zone_exit takes the object out of the class it was counted in even if its class changed.
        self._inside: dict[tuple[str, str], dict[int, str]] = {}
        # Sources removed (forget_source) and not added again: results and events of frames they
        # had read may still be published after the removal and must not bring their series back.
        self._gone: set[str] = set()

    def observe(self, snapshot: Callable[[], PipelineSnapshot], sinks: Callable[[], Sequence[Outlet]] = list) -> None:
        """Read gauges from `snapshot()` (a `Pipeline.snapshot`) and the sinks (`Fanout.outlets`)
        at scrape time."""
        self.registry.register(_SnapshotCollector(snapshot, sinks, self._fps))

    def observe_clips(self, sources: Callable[[], Sequence[Any]]) -> None:
        """Export the event clips of each source that records them (a `clips` attribute, a
        `vigil.clips.ClipRecorder`), read at scrape time."""
        self.registry.register(_ClipsCollector(sources))

    def observe_live(self, live: LiveView) -> None:
        """Export the live view's viewers and encodes per camera (`vigil.api.console.live.LiveView`),
        read at scrape time."""
        self.registry.register(_LiveCollector(live))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    # PipelineObserver hooks: called on the event loop, cheap.

    def frame_in(self, source_id: str) -> None:
        if source_id not in self._gone:
            self.frames_in.labels(source_id).inc()

    def frames_dropped(self, source_id: str, cause: str, count: int) -> None:
        if source_id not in self._gone:
            self.dropped.labels(source_id, cause).inc(count)

    def batch_done(
        self, size: int, padded_to: int, pre_ms: float, infer_ms: float, post_ms: float, model: str = "default"
    ) -> None:
        self.batch_size.labels(model).observe(size)
        for stage, ms in (("pre_process", pre_ms), ("infer", infer_ms), ("post_process", post_ms)):
            self.model_latency.labels(model, stage).observe(max(ms, 0.0) / 1e3)

    def batch_failed(self, size: int, model: str = "default") -> None:
        self.batch_failures.labels(model).inc()

    def result(self, result: InferenceResult) -> None:
        source, t = result.frame.source_id, result.timings
        if source in self._gone:
            return
        self.frames_inferred.labels(source).inc()
        for stage, ms in (
            ("queue", t.queue),
            ("pre_process", t.pre_process),
            ("infer", t.infer),
            ("post_process", t.post_process),
            ("total", t.total),
            ("since_capture", t.since_capture),
        ):
            if ms is not None:
                self.stage_latency.labels(stage).observe(max(ms, 0.0) / 1e3)
        now = time.monotonic()
        recent = self._recent.setdefault(source, deque())
        recent.append(now)
        while recent and recent[0] < now - _FPS_WINDOW_S:
            recent.popleft()

    def events(self, events: Sequence[Event]) -> None:
        for event in events:
            if event.source in self._gone:
                continue
            kind = CATALOG.event_types.find(event.type)  # None: a type no longer declared
            area, direction = kind.labels(event.value_of) if kind is not None else ("", "")
            self.events_total.labels(event.source, event.type, area, direction).inc()
            occupancy = kind.occupancy if kind is not None else None  # what it does to vigil_zone_objects
            if occupancy == "enter" and area:
                self._count_in(event.source, area, event.tracker_id, event.class_name or "")
            elif occupancy == "exit" and area:
                self._count_out(event.source, area, event.tracker_id)
            elif occupancy == "end":  # object_end: its zone_exits came first; this only guards the counts
                for source, zone in [key for key in self._inside if key[0] == event.source]:
                    self._count_out(source, zone, event.tracker_id)

    def loop_lag(self, seconds: float) -> None:
        self.lag.observe(seconds)

    def forget_source(self, source_id: str) -> None:
        """A source was removed: every series labelled with it goes, counters too, so that streams
        added and deleted over months never grow /metrics (the gauges read at scrape time go by
        themselves: the snapshot no longer has the source). A source added again under that name
        starts its counters at 0, which Prometheus' rate() reads as a counter reset."""
        for key in [key for key in self._inside if key[0] == source_id]:
            del self._inside[key]
        per_source: list[tuple[Any, tuple[str, ...]]] = [
            (self.frames_in, ("source",)),
            (self.frames_inferred, ("source",)),
            (self.dropped, ("source", "cause")),
            (self.events_total, ("source", "type", "area", "direction")),
            (self.zone_objects, ("source", "zone", "class_name")),
        ]
        for metric, names in per_source:
            for labels in _series(metric, names):
                if labels[0] == source_id:
                    metric.remove(*labels)
        self._recent.pop(source_id, None)
        self._gone.add(source_id)

    def track(self, source_id: str) -> None:
        """A source is added (again) under this name: its series are kept from now on."""
        self._gone.discard(source_id)

    def gone(self, source_id: str) -> bool:
        """Whether `source_id` was removed and not added again (its late results are ignored)."""
        return source_id in self._gone

    def _count_in(self, source: str, zone: str, tracker_id: int, class_name: str) -> None:
        inside = self._inside.setdefault((source, zone), {})
        if tracker_id not in inside:  # an enter without its exit in between is counted once
            inside[tracker_id] = class_name
            self.zone_objects.labels(source, zone, class_name).inc()

    def _count_out(self, source: str, zone: str, tracker_id: int) -> None:
        class_name = self._inside.get((source, zone), {}).pop(tracker_id, None)
        if class_name is not None:  # never below 0: an exit of an object not counted in is ignored
            self.zone_objects.labels(source, zone, class_name).dec()

    def _fps(self, source_id: str) -> float:
        """Results per second over the last ten seconds."""
        recent = self._recent.get(source_id)
        if not recent:
            return 0.0
        now = time.monotonic()
        return sum(1 for t in recent if t >= now - _FPS_WINDOW_S) / _FPS_WINDOW_S


def _series(metric: Any, names: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The label values (in the order of `names`, the metric's labels) of its every series."""
    return sorted({tuple(sample.labels[k] for k in names) for family in metric.collect() for sample in family.samples})


class _SnapshotCollector(Collector):
    def __init__(
        self, snapshot: Callable[[], PipelineSnapshot], sinks: Callable[[], Sequence[Outlet]], fps: Callable[[str], float]
    ) -> None:
        self._snapshot, self._sinks, self._fps = snapshot, sinks, fps

    def collect(self) -> Iterator[Any]:
        snap = self._snapshot()
        state = GaugeMetricFamily("vigil_source_state", "1 for the state each source is in.", labels=["source", "state"])
        fps = GaugeMetricFamily("vigil_source_fps", "Results per second over the last 10 s.", labels=["source"])
        depth = GaugeMetricFamily("vigil_queue_depth", "Frames or batches waiting, by queue.", labels=["queue", "source"])
        dropped = CounterMetricFamily(
            "vigil_source_frames_dropped", "Frames a source decoded but did not hand on, by cause.", labels=["source", "cause"]
        )
        skipped = CounterMetricFamily(
            "vigil_source_frames_skipped",
            "Frames a source left out: never decoded (sampling) or turned away by a frame gate, by cause.",
            labels=["source", "cause"],
        )
        for name, gauges in snap.sources.items():
            for s in SourceState:
                state.add_metric([name, s.value], 1.0 if gauges.state is s else 0.0)
            fps.add_metric([name], self._fps(name))
            depth.add_metric(["decoded", name], gauges.decoded_queue)
            depth.add_metric(["batcher", name], gauges.batcher_queue)
            for cause, n in gauges.dropped.items():
                dropped.add_metric([name, cause], n)
            for cause, n in gauges.skipped.items():
                skipped.add_metric([name, cause], n)
        for stage, n in snap.stages.items():
            depth.add_metric([stage, ""], n)
        yield from (state, fps, depth, dropped, skipped)
        yield from _model_metrics(snap)
        yield from _sink_metrics(self._sinks())


class _LiveCollector(Collector):
    def __init__(self, live: LiveView) -> None:
        self._live = live

    def collect(self) -> Iterator[Any]:
        viewers = GaugeMetricFamily("vigil_live_viewers", "Viewers of each camera's live view now.", labels=["source"])
        encoded = CounterMetricFamily(
            "vigil_live_frames_encoded", "JPEGs the live view encoded (streams and frame.jpg), by camera.", labels=["source"]
        )
        for name, stats in self._live.all_stats().items():
            viewers.add_metric([name], stats["viewers"])
            encoded.add_metric([name], stats["encoded"])
        yield from (viewers, encoded)


def _model_metrics(snap: PipelineSnapshot) -> Iterator[Any]:
    """Each model by its name: the package it resolved to (an info gauge), its batch size and
    what waits for it (frames in its batcher, batches between its stages)."""
    info = GaugeMetricFamily(
        "vigil_model_info", "1 for the package each model resolved to.", labels=["model", "model_id", "package_id", "backend"]
    )
    batch = GaugeMetricFamily(
        "vigil_model_batch_size_limit", "The most frames per inference call of each model.", labels=["model"]
    )
    waiting = GaugeMetricFamily(
        "vigil_model_queue_depth", "Frames or batches waiting for each model, by queue.", labels=["model", "queue"]
    )
    for name, model in snap.models.items():
        info.add_metric([name, model.model_id, model.package_id, model.backend], 1.0)
        batch.add_metric([name], model.batch_size)
        waiting.add_metric([name, "batcher"], model.batcher_queue)
        for queue, n in model.stages.items():
            waiting.add_metric([name, queue], n)
    yield from (info, batch, waiting)


def _sink_metrics(outlets: Sequence[Outlet]) -> Iterator[Any]:
    """Every sink's `stats()` (the `Sink` contract) and its filter's count, labelled with the
    sink's configured name and kind (never its URL or path)."""
    families = {
        "published": CounterMetricFamily("vigil_sink_published", "Results a sink wrote or delivered.", labels=_SINK),
        "dropped": CounterMetricFamily(
            "vigil_sink_dropped",
            "Results a sink dropped, by reason (queue_full, spool_full, disk_full ...).",
            labels=[*_SINK, "reason"],
        ),
        "errors": CounterMetricFamily("vigil_sink_errors", "Failed writes or delivery attempts.", labels=_SINK),
        "filtered": CounterMetricFamily("vigil_sink_filtered", "Results a sink's filter left out.", labels=_SINK),
        "duplicates": CounterMetricFamily(
            "vigil_sink_duplicates",
            "Records the receiver said it already had (NATS JetStream's duplicate window), so it did not store them again.",
            labels=_SINK,
        ),
    }
    backlog = GaugeMetricFamily("vigil_sink_backlog", "Results accepted by a sink and not yet out.", labels=_SINK)
    healthy = GaugeMetricFamily("vigil_sink_healthy", "1 while a sink's health() is ok.", labels=_SINK)
    for outlet in outlets:
        labels = [outlet.sink.name, outlet.sink.kind]
        stats = outlet.totals()  # never back to 0 when a reload replaced the sink
        families["published"].add_metric(labels, stats.published)
        for reason, n in _drop_reasons(stats).items():
            families["dropped"].add_metric([*labels, reason], n)
        families["errors"].add_metric(labels, stats.errors)
        families["filtered"].add_metric(labels, outlet.filtered)
        families["duplicates"].add_metric(labels, stats.duplicates)
        backlog.add_metric(labels, stats.backlog)
        healthy.add_metric(labels, 1.0 if outlet.sink.health().ok else 0.0)
    yield from families.values()
    yield from (backlog, healthy)


def _drop_reasons(stats: SinkStats) -> dict[str, int]:
    """A sink's drops by reason; what its reasons do not cover counts under `other` (a sink
    that has dropped nothing still has its `other` series, at 0)."""
    reasons = dict(stats.dropped_by_reason)
    rest = stats.dropped - sum(reasons.values())
    if rest > 0 or not reasons:
        reasons["other"] = reasons.get("other", 0) + max(rest, 0)
    return reasons


class _ClipsCollector(Collector):
    """Each source's event clips: written, lost by reason (as `vigil_sink_dropped_total`), healthy."""

    def __init__(self, sources: Callable[[], Sequence[Any]]) -> None:
        self._sources = sources

    def collect(self) -> Iterator[Any]:
        written = CounterMetricFamily("vigil_clips_written", "Event clips finished.", labels=["source"])
        dropped = CounterMetricFamily(
            "vigil_clips_dropped",
            "Event clips (and packets, queue_full) lost, by reason (disk_full ...).",
            labels=["source", "reason"],
        )
        healthy = GaugeMetricFamily("vigil_clips_healthy", "1 while a source's clips are being written.", labels=["source"])
        for source in self._sources():
            clips = getattr(source, "clips", None)
            if clips is None:
                continue
            stats = clips.stats()
            written.add_metric([source.source_id], stats.written)
            for reason, n in stats.dropped_by_reason.items():
                dropped.add_metric([source.source_id, reason], n)
            healthy.add_metric([source.source_id], 1.0 if clips.health().ok else 0.0)
        yield from (written, dropped, healthy)
