"""The end of the soak (bench/soak.py): stop the cameras, let the sinks drain, collect what every
receiver got, and make the report: records lost unseen per sink, sinks that did not resume,
cameras that did not come back in time, memory and descriptors over time, event-loop lag."""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import TYPE_CHECKING, Any

from _soak_probe import Api, Metrics, histogram_quantile, percentile, slope_per_hour
from _soak_services import jsonl_ids

from tests.support.nats_server import read_stream

if TYPE_CHECKING:
    from _soak_chaos import Chaos
    from soak import Soak

SINKS = ("jsonl", "hook", "mqtt", "nats")
RECONNECT_MAX_S, JITTER, OPEN_TIMEOUT_S = 4.0, 0.2, 5.0
# A camera whose server is back streams again within one longest wait, one connection attempt,
# and the watcher's polling and a loaded machine's slack.
CAMERA_BOUND_S = RECONNECT_MAX_S * (1 + JITTER) + OPEN_TIMEOUT_S + 5.0
GOAL_RSS_MIB_H, GOAL_FD_DRIFT = 5.0, 8


async def _until(predicate: Any, timeout: float, every: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(every)
    return False


async def quiesce(soak: Soak, api: Api, chaos: Chaos) -> dict[str, Any]:
    """No more events: the cameras' servers go, the streams added over the API are deleted; then
    wait until the event count holds still and every sink's backlog is empty."""
    for name in list(chaos.api_streams):
        await api.delete_stream(name)
    for cam in [*soak.cameras, soak.extra]:
        await asyncio.to_thread(cam.kill)
    last: list[float] = [-1.0, time.monotonic()]

    async def still() -> bool:
        m = await api.metrics()
        made = m.total("vigil_events_total")
        backlog = m.total("vigil_sink_backlog")
        if made != last[0]:
            last[:] = [made, time.monotonic()]
        return backlog == 0 and time.monotonic() - last[1] >= 10

    drained = await _until(still, 240)
    return {"drained": drained}


async def _received(soak: Soak, wanted: set[str]) -> dict[str, set[str]]:
    async def covered() -> bool:
        return wanted <= soak.hook.ids and wanted <= soak.subscriber.ids

    await _until(covered, 60)
    stored = await read_stream(soak.nats.urls, "VIGIL", "vigil.>", timeout=120)
    return {"hook": set(soak.hook.ids), "mqtt": set(soak.subscriber.ids), "nats": {msg_id for _, msg_id, _ in stored}}


def _memory(samples: list[dict[str, Any]], warmup_s: float) -> dict[str, Any]:
    after = [s for s in samples if s["t"] >= warmup_s and "rss_mib" in s]
    if len(after) < 3:
        return {"samples_after_warmup": len(after)}
    tenth = max(1, len(after) // 10)
    fd_first = statistics.median(s["fds"] for s in after[:tenth])
    fd_last = statistics.median(s["fds"] for s in after[-tenth:])
    healthz = [s["healthz_s"] for s in after if "healthz_s" in s]
    return {
        "samples_after_warmup": len(after),
        "minutes_measured": round((after[-1]["t"] - after[0]["t"]) / 60, 1),
        "rss_warm_mib": after[0]["rss_mib"],
        "rss_end_mib": after[-1]["rss_mib"],
        "rss_max_mib": max(s["rss_mib"] for s in after),
        "rss_slope_mib_per_h": _round(slope_per_hour([(s["t"], s["rss_mib"]) for s in after])),
        "fds_warm": after[0]["fds"],
        "fds_end": after[-1]["fds"],
        "fds_min": min(s["fds"] for s in after),
        "fds_max": max(s["fds"] for s in after),
        "fds_slope_per_h": _round(slope_per_hour([(s["t"], float(s["fds"])) for s in after])),
        "fds_drift": fd_last - fd_first,  # median of the last tenth minus that of the first
        "healthz_p99_s": percentile(healthz, 0.99),
        "healthz_max_s": max(healthz, default=None),
        "healthz_failures": sum(1 for s in after if "healthz_error" in s),
    }


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


def _sinks(
    final: Metrics,
    tail: Metrics,
    ids: dict[str, set[str]],
    made: int,
    readyz: dict[str, Any],
    dropped: dict[tuple[str, ...], float],
) -> dict[str, Any]:
    published_tail = tail.by("vigil_sink_published_total", "sink")
    published = final.by("vigil_sink_published_total", "sink")
    healthy = final.by("vigil_sink_healthy", "sink")
    backlog = final.by("vigil_sink_backlog", "sink")
    checks = readyz.get("checks", {}).get("sinks", {})
    out: dict[str, Any] = {}
    for sink in SINKS:
        by_reason = {reason or "(none)": int(v) for (s, reason), v in dropped.items() if s == sink and v}
        n_dropped = sum(by_reason.values())
        got = len(ids[sink])
        out[sink] = {
            "received": got,
            "dropped": n_dropped,
            "dropped_by_reason": by_reason,
            "lost_unseen": max(0, made - got - n_dropped),
            "counted_dropped_but_received": max(0, got + n_dropped - made),
            "published_in_tail": int(published.get((sink,), 0) - published_tail.get((sink,), 0)),
            "backlog": int(backlog.get((sink,), 0)),
            "healthy": healthy.get((sink,)) == 1.0,
            "readyz_ok": bool(checks.get(sink, {}).get("ok")),
            "readyz_reason": checks.get(sink, {}).get("reason"),
        }
        out[sink]["stopped"] = not (out[sink]["healthy"] and out[sink]["readyz_ok"] and out[sink]["published_in_tail"] > 0)
    return out


async def finish_report(soak: Soak, api: Api, chaos: Chaos, warm: Metrics, tail: Metrics, warmup_s: float) -> dict[str, Any]:
    restarts = [(r.camera, r.back_after_s) for r in chaos.restarts]
    drained = await quiesce(soak, api, chaos)
    final = await api.metrics()
    _, readyz = await api.get("/readyz")
    readyz = readyz if isinstance(readyz, dict) else {}
    about: dict[str, str] = {}
    jsonl_list, types = await asyncio.to_thread(jsonl_ids, soak.out / "events.jsonl", about)
    ids = {"jsonl": set(jsonl_list), **await _received(soak, set(jsonl_list))}
    union = set().union(*ids.values())
    made = max(int(final.total("vigil_events_total")), len(union))
    soak.dropped.update(final)
    sinks = _sinks(final, tail, ids, made, readyz, soak.dropped.totals())
    for name, sink in sinks.items():  # which events a sink misses (from the JSONL file), to match with the timeline
        sink["missing_from_jsonl"] = sorted(about[i] for i in set(jsonl_list) - ids[name])[:40]
    back = [s for _, s in restarts if s is not None]
    cameras = {
        "restarts": len(restarts),
        "came_back": len(back),
        "not_back": [c for c, s in restarts if s is None],
        "back_max_s": max(back, default=None),
        "back_median_s": statistics.median(back) if back else None,
        "bound_s": CAMERA_BOUND_S,
        "late": [(c, s) for c, s in restarts if s is not None and s > CAMERA_BOUND_S],
    }
    memory = _memory(soak.samples, warmup_s)
    lag = histogram_quantile(0.99, warm.buckets("vigil_event_loop_lag_seconds"), final.buckets("vigil_event_loop_lag_seconds"))
    lost = sum(s["lost_unseen"] for s in sinks.values())
    goals = {
        "records_lost_unseen": lost,
        "sinks_stopped": [k for k, s in sinks.items() if s["stopped"]],
        "cameras_not_back_in_time": len(cameras["not_back"]) + len(cameras["late"]),
        "rss_slope_ok": (memory.get("rss_slope_mib_per_h") or 0.0) <= GOAL_RSS_MIB_H,
        "fds_flat": abs(memory.get("fds_drift", 0)) <= GOAL_FD_DRIFT,
    }
    goals["passed"] = (
        lost == 0
        and not goals["sinks_stopped"]
        and goals["cameras_not_back_in_time"] == 0
        and goals["rss_slope_ok"]
        and goals["fds_flat"]
    )
    return {
        "goals": goals,
        "events": {
            "made": made,
            "events_total_metric": int(final.total("vigil_events_total")),
            "unique_ids": len(union),
            "jsonl_lines": len(jsonl_list),
            "jsonl_repeated_ids": len(jsonl_list) - len(ids["jsonl"]),
            "by_type": types,
            **drained,
        },
        "sinks": sinks,
        "cameras": cameras,
        "memory": memory,
        "loop_lag": {
            "p99_bucket_bound_s": lag,
            "source": "vigil_event_loop_lag_seconds (histogram; p99 as its bucket's upper bound)",
            "healthz_p99_s": memory.get("healthz_p99_s"),
        },
        "sink_counter_resets": soak.dropped.resets,
        "faults": chaos.log.counts,
        "fault_errors": chaos.log.errors,
        "api_answers": chaos.api_results,
        "webhook": {"requests": soak.hook.requests, "answered_503": soak.hook.refused},
        "mqtt_subscriber_reconnects": soak.subscriber.reconnects,
        "timeline": chaos.log.timeline[-400:],
        "started_at_unix": soak.t0_unix,
        "samples": soak.samples,
    }


def summary(report: dict[str, Any]) -> str:
    g, e, m, c = report["goals"], report["events"], report["memory"], report["cameras"]
    lines = [
        f"soak: {report['options']['minutes']} min, {'calm' if report['options']['calm'] else 'chaos'}; "
        f"goals {'PASSED' if g['passed'] else 'FAILED'}",
        f"events made {e['made']} (ids unique: {e['unique_ids']}, repeated in JSONL: {e['jsonl_repeated_ids']}); "
        f"sinks drained at the end: {e['drained']}",
    ]
    for name, s in report["sinks"].items():
        lines.append(
            f"  {name:6} received {s['received']:6}  dropped {s['dropped']:5} {s['dropped_by_reason']}  "
            f"lost unseen {s['lost_unseen']}  {'STOPPED' if s['stopped'] else 'resumed'}  "
            f"backlog {s['backlog']}  {s['readyz_reason'] or ''}"
        )
    lines.append(
        f"cameras: {c['came_back']}/{c['restarts']} back after a server restart, max {c['back_max_s']} s "
        f"(bound {c['bound_s']} s), late {c['late']}"
    )
    if "rss_warm_mib" in m:
        lines.append(
            f"RSS {m['rss_warm_mib']:.1f} -> {m['rss_end_mib']:.1f} MiB over {m['minutes_measured']} min after warm-up, "
            f"slope {m['rss_slope_mib_per_h']} MiB/h; descriptors {m['fds_warm']} -> {m['fds_end']} "
            f"(min {m['fds_min']}, max {m['fds_max']}, drift {m['fds_drift']}, slope {m['fds_slope_per_h']}/h)"
        )
        lines.append(
            f"event-loop lag p99 <= {report['loop_lag']['p99_bucket_bound_s']} s; /healthz p99 {m['healthz_p99_s']} s, "
            f"max {m['healthz_max_s']} s, failures {m['healthz_failures']}"
        )
    lines.append(f"faults: {report['faults']}; errors: {report['fault_errors'][:5]}")
    return "\n".join(lines)
