"""The log lines of a camera's move, with their durations: bench/_fleet_breakdown.py reads them
from both boxes' logs to tell where a hand-over's dark time goes (keep their words and fields)."""

from __future__ import annotations

import logging

__all__ = ["log_started", "log_stopped"]

log = logging.getLogger("vigil.fleet.agent")


def log_stopped(camera: str, reason: str, to: str | None, stop_s: float, release_s: float, released: bool) -> None:
    """`camera` stopped here in `stop_s` (remove_stream), then its lease deleted in `release_s`
    (`released`), or left to expire (not ours any more, or the deletion failed after `release_s`)."""
    log.info(
        "fleet: camera '%s' stopped here (%s%s) in %.2fs, its lease %s %.2fs later",
        *(camera, reason, f", to '{to}'" if to else "", stop_s, "released" if released else "left to expire", release_s),
        extra={"camera": camera, "stop_s": round(stop_s, 3), "release_s": round(release_s, 3), "released": released},
    )


def log_started(camera: str, reason: str, before: str | None, lease_s: float, start_s: float) -> None:
    """`camera` runs here: its lease taken in `lease_s`, then started in `start_s` (add_stream)."""
    log.info(
        "fleet: camera '%s' now runs here (%s%s): leased in %.2fs, started %.2fs later",
        *(camera, reason, f" from '{before}'" if before else "", lease_s, start_s),
        extra={"camera": camera, "lease_s": round(lease_s, 3), "start_s": round(start_s, 3)},
    )
