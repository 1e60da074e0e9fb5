"""The counts and heatmap routes in the OpenAPI document (`vigil.api.openapi`): `GET /api/v1/counts`
and `GET /api/v1/streams/{name}/heatmap.png` (`vigil.api.counts`)."""

from __future__ import annotations

from typing import Any

from vigil.api._openapi_parts import path_param, query_param, ref, refusals
from vigil.api.counts import COLUMNS, Counts
from vigil.store.counts_query import MAX_ROWS

__all__ = ["ANALYTICS_RESPONSES", "add_analytics_paths"]

ANALYTICS_RESPONSES = (Counts,)


def add_analytics_paths(paths: dict[str, Any], refs: dict[str, str]) -> dict[str, Any]:
    """`paths` with the counts and heatmap routes added."""
    text = {"type": "string"}
    paths["/api/v1/counts"] = {
        "get": {
            "summary": "line crossings and zone entries, occupancy and stays per interval (JSON, or CSV)",
            "parameters": [
                query_param("source", "one camera (default: every camera)", text),
                query_param("line", "one line (with zone: that line and that zone; neither: every line and zone)", text),
                query_param("zone", "one zone", text),
                query_param(
                    "interval",
                    "whole minutes, hours or days from 1m to 1d, aligned on UTC (default 15m)",
                    {"type": "string", "pattern": "^[0-9]{1,4}[mhd]$"},
                ),
                query_param("since", "ISO 8601 time, rounded down to the interval (default: a day before until)", text),
                query_param("until", "ISO 8601 time, rounded up to the interval (default: now)", text),
                query_param(
                    "format", "csv: the rows as CSV (also with Accept: text/csv)", {"type": "string", "enum": ["json", "csv"]}
                ),
            ],
            "responses": {
                "200": {
                    "description": f"every interval of every line and zone asked, zeros included (at most {MAX_ROWS} rows); "
                    f"as CSV, a header line then one line per row: {', '.join(COLUMNS)}",
                    "content": {"application/json": {"schema": ref(refs, Counts)}, "text/csv": {}},
                },
                **refusals(
                    refs,
                    400,
                    404,
                    s400=f"a bad parameter (named in the message), or more than {MAX_ROWS} rows asked",
                    s404="counts are off (counts.enabled), or nothing counted for the source, line or zone asked",
                ),
            },
        }
    }
    paths["/api/v1/streams/{name}/heatmap.png"] = {
        "parameters": [path_param("name", "the stream's name")],
        "get": {
            "summary": "where the camera's objects were (their boxes' bottom centres, older ones fading) over its latest frame",
            "parameters": [query_param("class", "one class, by name (default: every class)", text)],
            "responses": {
                "200": {"description": "a PNG", "content": {"image/png": {}}},
                **refusals(
                    refs,
                    400,
                    404,
                    503,
                    s404="no such stream, or heatmaps are off (heatmap.enabled)",
                    s503="no frame yet",
                ),
            },
        },
    }
    return paths
