"""What the soak (bench/soak.py) reads from the vigil process: /metrics, /readyz, /healthz and
/api/v1/streams over HTTP (the API's bearer token), RSS and open descriptors from /proc, and the
figures made of them (least-squares slopes, percentiles of the event loop's lag histogram)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families


def rss_and_fds(pid: int) -> tuple[float, int]:
    """VmRSS in MiB and the number of open descriptors of `pid`."""
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return rss, len(list(Path(f"/proc/{pid}/fd").iterdir()))


def slope_per_hour(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, value) points, per hour; None with fewer than 3 points."""
    if len(points) < 3:
        return None
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    sxx = sum((t - mx) ** 2 for t, _ in points)
    if sxx == 0:
        return None
    return sum((t - mx) * (v - my) for t, v in points) / sxx * 3600


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Metrics:
    """The samples of one /metrics scrape: name -> [(labels, value)]."""

    samples: dict[str, list[tuple[dict[str, str], float]]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Metrics:
        out: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                out.setdefault(s.name, []).append((dict(s.labels), float(s.value)))
        return cls(out)

    def total(self, name: str, **match: str) -> float:
        return sum(v for labels, v in self.samples.get(name, []) if all(labels.get(k) == x for k, x in match.items()))

    def by(self, name: str, *keys: str) -> dict[tuple[str, ...], float]:
        out: dict[tuple[str, ...], float] = {}
        for labels, v in self.samples.get(name, []):
            key = tuple(labels.get(k, "") for k in keys)
            out[key] = out.get(key, 0.0) + v
        return out

    def buckets(self, name: str) -> list[tuple[float, float]]:
        """(upper bound, cumulative count) of a histogram without labels but `le`."""
        rows = [(float(labels["le"]), v) for labels, v in self.samples.get(name + "_bucket", [])]
        return sorted(rows)


class CounterTotals:
    """Counters summed across resets: a reload that replaces a sink starts its counters at 0
    again (a new object), so each series' totals are kept from scrape to scrape."""

    def __init__(self, name: str, *keys: str) -> None:
        self.name, self.keys = name, keys
        self.last: dict[tuple[str, ...], float] = {}
        self.base: dict[tuple[str, ...], float] = {}
        self.resets = 0

    def update(self, m: Metrics) -> None:
        for key, value in m.by(self.name, *self.keys).items():
            if value < self.last.get(key, 0.0):
                self.base[key] = self.base.get(key, 0.0) + self.last[key]
                self.resets += 1
            self.last[key] = value

    def totals(self) -> dict[tuple[str, ...], float]:
        return {key: self.base.get(key, 0.0) + value for key, value in self.last.items()}


def histogram_quantile(q: float, start: list[tuple[float, float]], end: list[tuple[float, float]]) -> float | None:
    """The `q` quantile of the observations between two scrapes of one histogram, as the upper
    bound of the bucket it falls in (what Prometheus' histogram_quantile would bound it by)."""
    before = dict(start)
    rows = [(le, count - before.get(le, 0.0)) for le, count in end]
    total = rows[-1][1] if rows else 0.0
    if total <= 0:
        return None
    for le, count in rows:
        if count >= q * total:
            return le
    return rows[-1][0]


class Api:
    """The daemon's API on loopback with its bearer token."""

    def __init__(self, port: int, token: str) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Api:
        self.session = aiohttp.ClientSession(headers=self.headers, timeout=aiohttp.ClientTimeout(total=20))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.session is not None:
            await self.session.close()

    async def get(self, path: str) -> tuple[int, Any]:
        assert self.session is not None
        async with self.session.get(self.base + path) as r:
            body = await r.text()
            return r.status, (body if "json" not in r.content_type else await r.json())

    async def metrics(self) -> Metrics:
        _, text = await self.get("/metrics")
        return Metrics.parse(text)

    async def healthz_latency(self) -> float:
        started = time.perf_counter()
        status, _ = await self.get("/healthz")
        if status != 200:
            raise RuntimeError(f"/healthz answered {status}")
        return time.perf_counter() - started

    async def streams(self) -> dict[str, dict[str, Any]]:
        _, body = await self.get("/api/v1/streams")
        return {s["name"]: s for s in body["streams"]}

    async def add_stream(self, body: dict[str, Any]) -> tuple[int, str]:
        assert self.session is not None
        async with self.session.post(self.base + "/api/v1/streams", json=body) as r:  # json=: Content-Type: application/json
            return r.status, await r.text()

    async def delete_stream(self, name: str) -> tuple[int, str]:
        assert self.session is not None
        async with self.session.delete(f"{self.base}/api/v1/streams/{name}") as r:
            return r.status, await r.text()


__all__ = ["Api", "CounterTotals", "Metrics", "histogram_quantile", "percentile", "rss_and_fds", "slope_per_hour"]
