"""What `/readyz` answers: whether the daemon is doing its job now and, if not, which part fails.

The rule, checked in this order and all reported:

- **model**: loaded (not ready while the first model loads; a reload keeps the old one serving);
- **sources**: at least one source is streaming, or is a file that ended normally; one camera
  down among others does not make the daemon unready, every camera down does (no source at all
  is not ready either: there is nothing to do);
- **sinks**: every sink's `health()` is ok (a webhook whose receiver has failed for
  `unhealthy_after_s` with results waiting, or whose spool is near its cap; a sink whose writes
  fail, a full disk say, while it retries);
- **clips**: every source's event clips are being written (not while they fail, until one is
  written again);
- **counts**: the counts over time are being written to their file (not while a write fails, a
  full disk say: the sums are kept in memory and the write retried until one works).

Every reason has its credentials masked.
"""

from __future__ import annotations

from vigil.api.models import ClipsCheck, CountsCheck, ModelCheck, Readiness, ReadinessChecks, RecordCheck, SinkCheck, SourceCheck
from vigil.pipeline.runner import Pipeline
from vigil.redact import mask_url
from vigil.sinks.base import Sink
from vigil.sources.base import Source, SourceState
from vigil.store.analytics import analytics_of

__all__ = ["readiness"]


def readiness(pipeline: Pipeline | None, store: object = None) -> Readiness:
    """Ready, the reasons why not, and each check (`GET /readyz`); `store`: the event store, whose
    counts over time are checked when it keeps them."""
    if pipeline is None:
        loading = ModelCheck(ok=False, reason="the model is loading")
        return Readiness(
            ready=False, reasons=["the model is loading"], checks=ReadinessChecks(model=loading, sources={}, sinks={})
        )
    sources = {s.source_id: _source_check(pipeline, s) for s in pipeline.sources}
    sinks = _sink_checks(pipeline.sinks)
    clips = _clips_checks(pipeline.sources)
    reasons = []
    if not any(check.ok for check in sources.values()):
        down = ", ".join(f"{name} {check.state.value} ({check.reason})" for name, check in sources.items())
        reasons.append(f"no source is streaming: {down}" if down else "no source is configured")
    reasons += [f"sink '{key}': {check.reason or 'unhealthy'}" for key, check in sinks.items() if not check.ok]
    reasons += [f"clips of '{key}': {check.reason or 'failing'}" for key, check in clips.items() if not check.ok]
    counts = _counts_check(store)
    if counts is not None and not counts.ok:
        reasons.append(f"counts: {counts.reason}")
    model = ModelCheck(ok=True, model_id=pipeline.model.model_id)
    checks = ReadinessChecks(model=model, sources=sources, sinks=sinks, clips=clips, counts=counts)
    return Readiness(ready=not reasons, reasons=reasons, checks=checks)


def _source_check(pipeline: Pipeline, source: Source) -> SourceCheck:
    report = pipeline.report.sources.get(source.source_id)
    error = getattr(source, "last_error", None) or (report.error if report is not None else None)
    state = source.state
    ok = state is SourceState.STREAMING or (state is SourceState.ENDED and not error)
    record = _record_check(source)
    if ok:
        return SourceCheck(ok=ok, state=state, record=record)
    reason = mask_url(error) if error else _WAITING.get(state, state.value)
    return SourceCheck(ok=ok, state=state, reason=reason, record=record)


def _record_check(source: Source) -> RecordCheck | None:
    """A camera's record input (`inputs:` with roles), when it has one of its own."""
    record: Source | None = getattr(source, "record", None)
    if record is None:
        return None
    if record.state is SourceState.STREAMING:
        return RecordCheck(state=record.state)
    error = getattr(record, "last_error", None)
    return RecordCheck(state=record.state, reason=mask_url(error) if error else _WAITING.get(record.state, record.state.value))


_WAITING = {
    SourceState.CONNECTING: "no frame received yet",
    SourceState.RECONNECTING: "connection lost, reconnecting",
    SourceState.FAILED: "failed",
}


def _sink_checks(sinks: list[Sink]) -> dict[str, SinkCheck]:
    """Each sink by its configured name: its `health()` and the counters of its `stats()`."""
    checks: dict[str, SinkCheck] = {}
    for sink in sinks:
        health, stats = sink.health(), sink.stats()
        checks[sink.name] = SinkCheck(
            ok=health.ok,
            kind=sink.kind,
            published=stats.published,
            dropped=stats.dropped,
            backlog=stats.backlog,
            errors=stats.errors,
            dropped_by_reason=dict(stats.dropped_by_reason),
            reason=mask_url(health.reason) if health.reason else None,
            last_error=mask_url(stats.last_error) if stats.last_error else None,
        )
    return checks


def _clips_checks(sources: list[Source]) -> dict[str, ClipsCheck]:
    """The event clips of each source that records them (`ClipRecorder`), by source id."""
    checks: dict[str, ClipsCheck] = {}
    for source in sources:
        clips = getattr(source, "clips", None)
        if clips is None:
            continue
        health, stats = clips.health(), clips.stats()
        checks[source.source_id] = ClipsCheck(
            ok=health.ok,
            written=stats.written,
            errors=stats.errors,
            dropped_by_reason=dict(stats.dropped_by_reason),
            reason=mask_url(health.reason) if health.reason else None,
        )
    return checks


def _counts_check(store: object) -> CountsCheck | None:
    analytics = analytics_of(store)
    if analytics is None or analytics.counts is None:
        return None
    problem = analytics.problem()
    return CountsCheck(ok=problem is None, failed_writes=analytics.counts.flushes_failed, reason=problem)
