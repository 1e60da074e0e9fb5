"""bench/decode.py's verdicts: the goals of issue 28 as ratios of CPU per camera between runs
measured in the same invocation, each with pass / fail, or "not available (reason)" when a run it
needs could not be made; and the table printed as the runs go."""

from __future__ import annotations

from typing import Any

Key = tuple[str, str, str, bool]  # mode, decoder, model, gate


def _key(run: dict[str, Any]) -> Key:
    return run["mode"], run["decoder"], run["model"], run["gate"]


def _why_not(run: dict[str, Any] | None) -> str | None:
    if run is None:
        return "not measured (left out by the command line)"
    if not run.get("available"):
        return f"not available ({run.get('reason')})"
    if "failed" in run:
        return f"failed (...{run['failed'][-300:]})"
    return None


def ratio(base: dict[str, Any] | None, other: dict[str, Any] | None, goal: str, at_least: float) -> dict[str, Any]:
    """base's CPU per camera / other's, against `at_least` (a saving: base costs that many times more)."""
    for run in (base, other):
        reason = _why_not(run)
        if reason:
            return {"goal": goal, "pass": None, "status": f"{run['label'] if run else 'a run'}: {reason}"}
    assert base is not None and other is not None
    value = base["cpu_per_camera_pct"] / max(other["cpu_per_camera_pct"], 1e-9)
    out = {"goal": goal, "ratio": round(value, 2), "pass": value >= at_least}
    if not (base["kept_up"] and other["kept_up"]):
        slow = [r["label"] for r in (base, other) if not r["kept_up"]]
        out["note"] = f"{', '.join(slow)} did not keep up: its CPU per camera is a floor"
    return out


def goals(runs: list[dict[str, Any]], cameras: int) -> dict[str, Any]:
    by = {_key(r): r for r in runs}
    out: dict[str, Any] = {}
    for model in ("off", "on"):
        section: dict[str, Any] = {}
        for decoder in ("pyav", "gstreamer"):
            main = by.get(("main", decoder, model, False))
            section[f"sub vs main [{decoder}]"] = ratio(main, by.get(("sub", decoder, model, False)), ">= 4x less", 4.0)
            section[f"scaled vs main [{decoder}]"] = ratio(main, by.get(("scaled", decoder, model, False)), ">= 1.5x less", 1.5)
        for mode in ("main", "scaled", "sub"):
            # pyav / gstreamer >= 1/1.2: GStreamer's CPU is at most 1.2x PyAV's
            verdict = ratio(
                by.get((mode, "pyav", model, False)), by.get((mode, "gstreamer", model, False)), "<= 1.2x pyav", 1 / 1.2
            )
            if "ratio" in verdict:
                verdict["ratio"] = round(1 / max(verdict["ratio"], 1e-9), 2)  # shown as gstreamer / pyav
            section[f"gstreamer vs pyav [{mode}]"] = verdict
        out[f"model {model}"] = section
    p6: dict[str, Any] = {}
    for decoder in ("pyav", "gstreamer"):
        run = by.get(("sub", decoder, "off", True))
        reason = _why_not(run)
        if reason or run is None:
            p6[decoder] = {"goal": "<= 1 core", "pass": None, "status": reason}
            continue
        p6[decoder] = {"goal": "<= 1 core", "cores": run["vigil_cores"], "cameras": cameras, "pass": run["vigil_cores"] <= 1.0}
        if not run["kept_up"]:
            p6[decoder]["note"] = "did not keep up: its cores are a floor"
    out["P6 (sub + gate, model off)"] = p6
    return out


def summary_table(runs: list[dict[str, Any]], header: bool = True) -> str:
    rows = []
    if header:
        rows.append(
            f"{'run':34} {'cpu/cam %':>9} {'vigil':>6} {'server':>6} {'seen':>6} {'model':>6} {'infer':>6}  picture   kept up"
        )
    for r in runs:
        reason = _why_not(r)
        if reason:
            rows.append(f"{r['label']:34} {reason if len(reason) <= 160 else reason[:60] + ' ... ' + reason[-95:]}")
            continue
        fps = r["fps_per_camera"]
        picture = "x".join(str(v) for v in r["picture"])
        rows.append(
            f"{r['label']:34} {r['cpu_per_camera_pct']:9.2f} {r['vigil_cores']:6.2f} {r['server_cores']:6.2f} "
            f"{fps['seen']:6.1f} {fps['frames_in']:6.1f} {fps['frames_inferred']:6.1f}  {picture:9} {r['kept_up']}"
        )
    return "\n".join(rows)
