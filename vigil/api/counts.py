"""Counts over time and heatmaps in the API (`vigil.store.counts`, `vigil.store.heatmap`):

    GET /api/v1/counts?source=&line=&zone=&interval=15m&since=&until=&format=json|csv
    GET /api/v1/streams/{name}/heatmap.png?class=person

A count row is one interval of one line (`in`, `out`) or zone (`entries`, `exits`,
`max_occupancy`, `mean_occupancy`, `mean_dwell_s`), every interval from since to until included,
zeros where nothing happened. CSV (`format=csv`, or `Accept: text/csv`) has the same columns, a
header line first. Bad parameters are a 400 naming the parameter; nothing counted for the names
asked, a 404; both routes answer 404 when their section is off.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from aiohttp import web
from pydantic import ConfigDict, Field

from vigil.api.answers import answer, refuse
from vigil.api.models import Answer
from vigil.store.counts_query import CountRow, CountsQuery

if TYPE_CHECKING:
    from vigil.store.counts import CountStore
    from vigil.store.heatmap import HeatmapView

__all__ = ["COLUMNS", "CountInterval", "Counts", "add_analytics_routes"]

COLUMNS = (
    "start",
    "end",
    "source",
    "line",
    "zone",
    "in",
    "out",
    "entries",
    "exits",
    "max_occupancy",
    "mean_occupancy",
    "mean_dwell_s",
)


class _Closed(Answer):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class CountInterval(_Closed):
    """One interval of one line (in, out) or one zone (entries ... mean_dwell_s); the other's fields null."""

    start: datetime = Field(description="Start of the interval (UTC, included).")
    end: datetime = Field(description="End of the interval (UTC, excluded).")
    source: str = Field(description="The camera.")
    line: str | None = Field(description="The line (null: a zone's row).")
    zone: str | None = Field(description="The zone (null: a line's row).")
    n_in: int | None = Field(alias="in", description="Crossings in (supervision's direction; null for a zone).")
    n_out: int | None = Field(alias="out", description="Crossings out (null for a zone).")
    entries: int | None = Field(description="zone_enter events (null for a line).")
    exits: int | None = Field(description="zone_exit events (null for a line).")
    max_occupancy: int | None = Field(description="Most objects inside at once (null for a line).")
    mean_occupancy: float | None = Field(
        description="Objects inside on average over the interval (its past part when it holds now; null for a line)."
    )
    mean_dwell_s: float | None = Field(
        description="Mean length of the stays (zone_enter to zone_exit) that ended in the interval (null: none ended)."
    )


class Counts(_Closed):
    interval: str = Field(description="The interval asked, e.g. 15m.")
    since: datetime = Field(description="Start of the first interval (since, rounded down to the interval).")
    until: datetime = Field(description="End of the last interval (until, rounded up).")
    rows: list[CountInterval] = Field(description="By camera, line or zone, then time, oldest first.")


def add_analytics_routes(
    app: web.Application,
    counts: CountStore | None,
    heatmaps: HeatmapView | None,
    has_stream: Callable[[str], bool],
) -> None:
    """`GET /api/v1/counts` over `counts` and `GET /api/v1/streams/{name}/heatmap.png` over `heatmaps`
    (each answers 404 when None: its section is off) for the streams `has_stream` knows."""
    routes = web.RouteTableDef()

    @routes.get("/api/v1/counts")
    async def get_counts(request: web.Request) -> web.StreamResponse:
        if counts is None:
            raise refuse(web.HTTPNotFound, "counts are off: remove counts: {enabled: false} from the configuration")
        try:
            query = CountsQuery.from_params(request.query, accept=request.headers.get("Accept", ""))
        except ValueError as exc:
            raise refuse(web.HTTPBadRequest, str(exc)) from None
        try:
            rows = await asyncio.to_thread(counts.report, query)
        except KeyError as exc:
            raise refuse(web.HTTPNotFound, str(exc.args[0])) from None
        except ValueError as exc:  # TooManyRows
            raise refuse(web.HTTPBadRequest, str(exc)) from None
        if query.csv:
            return web.Response(body=as_csv(rows).encode(), content_type="text/csv", charset="utf-8")
        start, end = (datetime.fromtimestamp(s, timezone.utc) for s in (query.since_s, query.until_s))
        body = Counts(interval=query.interval, since=start, until=end, rows=[_interval(row) for row in rows])
        return answer(body)

    @routes.get("/api/v1/streams/{name}/heatmap.png")
    async def get_heatmap(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if not has_stream(name):
            raise refuse(web.HTTPNotFound, f"no stream named '{name}'")
        if heatmaps is None:
            raise refuse(web.HTTPNotFound, "heatmaps are off: remove heatmap: {enabled: false} from the configuration")
        wanted = request.query.get("class") or None
        if wanted is not None and len(wanted) > 200:
            raise refuse(web.HTTPBadRequest, "class is longer than 200 characters; give a class name, e.g. person")
        found = heatmaps.heat(name, wanted)
        if found is None:
            raise refuse(web.HTTPServiceUnavailable, f"stream '{name}' has no frame yet")
        from vigil.store.heatmap import render_png  # OpenCV: only once a heatmap is asked for

        png = await asyncio.to_thread(render_png, *found)
        return web.Response(body=png, content_type="image/png", headers={"Cache-Control": "no-store"})

    app.add_routes(routes)


def _interval(row: CountRow) -> CountInterval:
    return CountInterval(
        start=row.start,
        end=row.end,
        source=row.source,
        line=row.line,
        zone=row.zone,
        n_in=row.n_in,
        n_out=row.n_out,
        entries=row.entries,
        exits=row.exits,
        max_occupancy=row.max_occupancy,
        mean_occupancy=row.mean_occupancy,
        mean_dwell_s=row.mean_dwell_s,
    )


def as_csv(rows: Sequence[CountRow]) -> str:
    """The rows as CSV (RFC 4180: a header line, CRLF line ends, empty cells for nulls, UTC times)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in rows:
        cells = (
            _iso(row.start),
            _iso(row.end),
            row.source,
            row.line,
            row.zone,
            row.n_in,
            row.n_out,
            row.entries,
            row.exits,
            row.max_occupancy,
            row.mean_occupancy,
            row.mean_dwell_s,
        )
        writer.writerow("" if cell is None else _cell(cell) for cell in cells)
    return out.getvalue()


def _cell(value: object) -> object:
    """A name a spreadsheet would run as a formula (=, +, -, @ first) is sent as text."""
    return f"'{value}" if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") else value


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")
