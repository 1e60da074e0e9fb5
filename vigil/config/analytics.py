"""The `counts` and `heatmap` sections: line and zone counts kept per minute for reports
(`vigil.store.counts`, `GET /api/v1/counts`) and where each camera's objects were
(`vigil.store.heatmap`, `GET /api/v1/streams/{name}/heatmap.png`)."""

from __future__ import annotations

from pydantic import Field

from vigil.config._section import Section

__all__ = ["CountsConfig", "HeatmapConfig"]


class CountsConfig(Section):
    """`counts: {retention_days: 31}`: every camera's line crossings (in/out) and zone entries, exits,
    occupancy and stays, summed per minute in one SQLite file, for `GET /api/v1/counts`."""

    enabled: bool = Field(True, description="Keep counts over time (false: GET /api/v1/counts answers 404).")
    database: str | None = Field(
        None, min_length=1, description="SQLite file keeping the counts across restarts (default: beside the API state file)."
    )
    retention_days: int = Field(
        31, ge=1, le=3660, description="Minutes older than this many days are deleted (at most once an hour)."
    )


class HeatmapConfig(Section):
    """`heatmap: {decay_s: 3600}`: where each camera's objects were (their boxes' bottom centres, per
    class) in a coarse grid whose older points fade, for `GET /api/v1/streams/{name}/heatmap.png`."""

    enabled: bool = Field(True, description="Keep heatmaps (false: heatmap.png answers 404).")
    decay_s: float = Field(
        3600.0, gt=0.0, le=30 * 86400.0, description="Half-life of a point's weight, in seconds: older points fade."
    )
    grid: int = Field(64, ge=8, le=256, description="Cells across the longer side of the picture (the other side in proportion).")
    max_classes: int = Field(
        32, ge=1, le=1000, description="Most classes kept per camera; objects of further classes count only in the total."
    )
