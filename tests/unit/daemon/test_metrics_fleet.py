"""The fleet's metrics from the agent's figures: every series with its value, the moves by reason,
and no series at all before the agent exists."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from vigil.daemon.metrics_fleet import FleetCollector
from vigil.fleet.holding import FleetStats


def exposition(stats: FleetStats | None) -> str:
    registry = CollectorRegistry()
    registry.register(FleetCollector(lambda: stats))
    return generate_latest(registry).decode()


def test_every_figure_becomes_a_series() -> None:
    text = exposition(FleetStats({"failover": 2, "handover": 1}, 3, 1, 4, 3, 2, True))
    for line in (
        'vigil_fleet_moves_total{reason="failover"} 2.0',
        'vigil_fleet_moves_total{reason="handover"} 1.0',
        "vigil_fleet_lease_renewals_late_total 3.0",
        "vigil_fleet_leases_lost_total 1.0",
        "vigil_fleet_cameras_unassigned 4.0",
        "vigil_fleet_members_alive 3.0",
        "vigil_fleet_cameras_held 2.0",
        "vigil_fleet_connected 1.0",
    ):
        assert line in text.splitlines(), line


def test_no_agent_no_series() -> None:
    assert "vigil_fleet" not in exposition(None)
    assert "vigil_fleet_connected 0.0" in exposition(FleetStats({}, 0, 0, 0, 1, 0, False))
