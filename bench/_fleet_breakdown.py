"""Where a fleet hand-over's dark time goes (bench/fleet.py --breakdown): each camera that moved
from one box to another, read from both boxes' JSON logs (the agent's "stopped here" and "now
runs here" lines carry their own durations) and their JSONL (when each result was made, this
host's clock on every box).

    decide   the old holder's last result -> it decides to stop the camera (negative: results of
             frames already read were still written after the decision)
    stop     remove_stream: the source stopped (its frames already read still go on to the sinks)
    release  the lease deleted
    react    the lease deleted -> the taker holds it (its watch wakes its reconciler, a round reads
             the buckets, the lease is created)
    start    add_stream: the source opened (RTSP DESCRIBE/SETUP/PLAY, the decoder started)
    first    add_stream done -> the taker's first result (first key frame decoded, inferred, written)
    dark     the old holder's last result -> the taker's first
"""

from __future__ import annotations

import json
import re
import statistics
from datetime import datetime
from pathlib import Path
from typing import Any

PARTS = ("decide", "stop", "release", "react", "start", "first", "dark")
_STOPPED = re.compile(r"fleet: camera '(?P<camera>[^']+)' stopped here \((?P<reason>[a-z_]+)")
_HANDED = ("handover", "sigterm")  # stops that hand a camera over (not lease_lost, removed, ...)
# "failover" too: a box that left (SIGTERM) may have deleted its member entry before the taker
# started the camera; a box that died (SIGKILL) logged no stop to match.
_TAKEN = re.compile(r"fleet: camera '(?P<camera>[^']+)' now runs here \((taken|failover) from '(?P<before>[^']+)'")


def _when(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _lines(log: Path) -> list[dict[str, Any]]:
    out = []
    for line in log.read_text(errors="replace").splitlines() if log.exists() else []:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and "message" in entry:
            out.append(entry)
    return out


def hand_overs(logs: dict[str, Path], made: dict[str, dict[str, list[float]]]) -> list[dict[str, float]]:
    """Each hand-over's parts, in seconds (see the module's doc), in the order they happened."""
    stops: list[tuple[str, str, float, float, float, bool]] = []  # box, camera, decided, stopped, released, handed over
    takes: list[tuple[str, str, str, float, float]] = []  # box, camera, from, leased, started
    for box, log in logs.items():
        for entry in _lines(log):
            at, message = _when(entry["time"]), entry["message"]
            if (m := _STOPPED.match(message)) and "stop_s" in entry:
                released = at  # the lease deleted (or, when "released" is false, left to expire)
                stopped = released - float(entry["release_s"])
                handed = m["reason"] in _HANDED and entry.get("released", True)
                stops.append((box, m["camera"], stopped - float(entry["stop_s"]), stopped, released, handed))
            elif (m := _TAKEN.match(message)) and "start_s" in entry:
                takes.append((box, m["camera"], m["before"], at - float(entry["start_s"]), at))
    out = []
    for box, camera, before, leased, started in sorted(takes, key=lambda t: t[3]):
        gave = [s for s in stops if s[0] == before and s[1] == camera and leased - 10 < s[4] <= leased + 0.05]
        if not gave or not max(gave, key=lambda s: s[4])[5]:
            continue  # the old holder's last stop handed nothing over (its lease lost, left to expire)
        _, _, decided, stopped, released, _ = max(gave, key=lambda s: s[4])
        # the taker's results until it gives the camera up in turn (a box starting hands it on at once)
        until = min((s[4] for s in stops if s[0] == box and s[1] == camera and s[2] >= leased), default=float("inf"))
        new = [t for t in made.get(camera, {}).get(box, []) if leased <= t <= until + 1]
        old = [t for t in made.get(camera, {}).get(before, []) if decided - 10 < t <= released + 2 and new and t < new[0]]
        if not old or not new:
            continue  # the old holder had made no result yet (a box starting), or no such stop
        last, first = old[-1], new[0]
        out.append(
            {
                "decide": decided - last,
                "stop": stopped - decided,
                "release": released - stopped,
                "react": leased - released,
                "start": started - leased,
                "first": first - started,
                "dark": first - last,
            }
        )
    return out


def summary(found: list[dict[str, float]]) -> dict[str, Any]:
    """The median and max of each part over the hand-overs."""
    if not found:
        return {"n": 0}
    out: dict[str, Any] = {"n": len(found)}
    for part in PARTS:
        values = [h[part] for h in found]
        out[part] = {"median": round(statistics.median(values), 3), "max": round(max(values), 3)}
    return out
