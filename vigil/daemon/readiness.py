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
  written again).

Every reason has its credentials masked.
"""

from __future__ import annotations

from typing import Any

from vigil.pipeline.runner import Pipeline
from vigil.redact import mask_url
from vigil.sinks.base import Sink
from vigil.sources.base import Source, SourceState

__all__ = ["readiness"]


def readiness(pipeline: Pipeline | None) -> dict[str, Any]:
    """`{"ready": bool, "reasons": [...], "checks": {"model": {...}, "sources": {...}, "sinks": {...}}}`."""
    if pipeline is None:
        model = {"ok": False, "reason": "the model is loading"}
        return {"ready": False, "reasons": ["the model is loading"], "checks": {"model": model, "sources": {}, "sinks": {}}}
    sources = {s.source_id: _source_check(pipeline, s) for s in pipeline.sources}
    sinks = _sink_checks(pipeline.sinks)
    clips = _clips_checks(pipeline.sources)
    reasons = []
    if not any(check["ok"] for check in sources.values()):
        down = ", ".join(f"{name} {check['state']} ({check['reason']})" for name, check in sources.items())
        reasons.append(f"no source is streaming: {down}" if down else "no source is configured")
    reasons += [f"sink '{key}': {check.get('reason', 'unhealthy')}" for key, check in sinks.items() if not check["ok"]]
    reasons += [f"clips of '{key}': {check.get('reason', 'failing')}" for key, check in clips.items() if not check["ok"]]
    model = {"ok": True, "model_id": pipeline.model.model_id}
    return {
        "ready": not reasons,
        "reasons": reasons,
        "checks": {"model": model, "sources": sources, "sinks": sinks, "clips": clips},
    }


def _source_check(pipeline: Pipeline, source: Source) -> dict[str, Any]:
    report = pipeline.report.sources.get(source.source_id)
    error = getattr(source, "last_error", None) or (report.error if report is not None else None)
    state = source.state
    ok = state is SourceState.STREAMING or (state is SourceState.ENDED and not error)
    check: dict[str, Any] = {"ok": ok, "state": state.value}
    if not ok:
        check["reason"] = mask_url(error) if error else _WAITING.get(state, state.value)
    return check


_WAITING = {
    SourceState.CONNECTING: "no frame received yet",
    SourceState.RECONNECTING: "connection lost, reconnecting",
    SourceState.FAILED: "failed",
}


def _sink_checks(sinks: list[Sink]) -> dict[str, dict[str, Any]]:
    """Each sink by its configured name: its `health()` and the counters of its `stats()`."""
    checks: dict[str, dict[str, Any]] = {}
    for sink in sinks:
        health, stats = sink.health(), sink.stats()
        check: dict[str, Any] = {
            "ok": health.ok,
            "kind": sink.kind,
            "published": stats.published,
            "dropped": stats.dropped,
            "backlog": stats.backlog,
            "errors": stats.errors,
            "dropped_by_reason": dict(stats.dropped_by_reason),
        }
        if health.reason:
            check["reason"] = mask_url(health.reason)
        if stats.last_error:
            check["last_error"] = mask_url(stats.last_error)
        checks[sink.name] = check
    return checks


def _clips_checks(sources: list[Source]) -> dict[str, dict[str, Any]]:
    """The event clips of each source that records them (`ClipRecorder`), by source id."""
    checks: dict[str, dict[str, Any]] = {}
    for source in sources:
        clips = getattr(source, "clips", None)
        if clips is None:
            continue
        health, stats = clips.health(), clips.stats()
        check: dict[str, Any] = {
            "ok": health.ok,
            "written": stats.written,
            "errors": stats.errors,
            "dropped_by_reason": dict(stats.dropped_by_reason),
        }
        if health.reason:
            check["reason"] = mask_url(health.reason)
        checks[source.source_id] = check
    return checks
