"""The fleet's metrics (`fleet:`, docs/SCALING.md), read at scrape time from the agent's figures
(`FleetAgent.stats()`), so the agent keeps plain counters and this module alone speaks Prometheus.
Labels are bounded: a move's reason is one of the agent's few words; no camera, box or server
name is a label value (credentials cannot leak, and boxes that come and go make no new series)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["FleetCollector", "FleetFigures"]


class FleetFigures(Protocol):
    """What the agent counts since it started (its `stats()`)."""

    @property
    def moves(self) -> Mapping[str, int]:
        """Cameras this box took or gave up, by reason (new, failover, taken, handover, sigterm, lease_lost, removed, no_capacity)."""

    @property
    def renewals_late(self) -> int:
        """Lease renewals that succeeded after the renewal deadline (more than a third of the TTL late)."""

    @property
    def leases_lost(self) -> int:
        """Leases this box could not renew in time: it stopped the camera before the lease expired."""

    @property
    def unassigned(self) -> int:
        """Fleet cameras no box holds a lease on, as this box last saw the buckets."""

    @property
    def members_alive(self) -> int:
        """Boxes heartbeating now, this one included."""

    @property
    def held(self) -> int:
        """Fleet cameras this box runs now."""

    @property
    def connected(self) -> bool:
        """Connected to the fleet's NATS servers now."""


class FleetCollector(Collector):
    """`vigil_fleet_*` from `stats()`, called at each scrape (cheap: the agent's counters; None:
    no agent yet, no series)."""

    def __init__(self, stats: Callable[[], FleetFigures | None]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Any]:
        figures = self._stats()
        if figures is None:
            return
        moves = CounterMetricFamily("vigil_fleet_moves", "Fleet cameras this box took or gave up, by reason.", labels=["reason"])
        for reason, count in sorted(figures.moves.items()):
            moves.add_metric([reason], count)
        yield moves
        yield CounterMetricFamily(
            "vigil_fleet_lease_renewals_late",
            "Lease renewals that succeeded, but after their deadline (a third of lease_ttl_s).",
            value=figures.renewals_late,
        )
        yield CounterMetricFamily(
            "vigil_fleet_leases_lost",
            "Leases not renewed in time: this box stopped the camera before its lease could expire.",
            value=figures.leases_lost,
        )
        yield GaugeMetricFamily(
            "vigil_fleet_cameras_unassigned", "Fleet cameras no box holds a lease on.", value=figures.unassigned
        )
        yield GaugeMetricFamily(
            "vigil_fleet_members_alive", "Boxes heartbeating now, this one included.", value=figures.members_alive
        )
        yield GaugeMetricFamily("vigil_fleet_cameras_held", "Fleet cameras this box runs now.", value=figures.held)
        yield GaugeMetricFamily(
            "vigil_fleet_connected", "1 while connected to the fleet's NATS servers, else 0.", value=int(figures.connected)
        )
