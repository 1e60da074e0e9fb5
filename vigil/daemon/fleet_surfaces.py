"""What a box with `fleet:` shows of the fleet: its API's fleet routes (`vigil.api.fleet`) over
the agent's store, and the `vigil_fleet_*` metrics (`vigil.daemon.metrics_fleet`) from the
agent's figures. The agent (`Daemon.fleet`) starts after the API, so both read it when asked."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vigil.api.fleet import FleetApi
from vigil.config.fleet import box_name
from vigil.daemon.metrics_fleet import FleetCollector

if TYPE_CHECKING:
    from vigil.daemon.service import Daemon

__all__ = ["fleet_surfaces"]


def fleet_surfaces(daemon: Daemon) -> FleetApi | None:
    """The fleet's API for `make_app` (None without `fleet:`), its metrics registered (called once, as the API starts)."""
    config = daemon.config.fleet
    if config is None:
        return None
    daemon.metrics.registry.register(FleetCollector(lambda: daemon.fleet.stats() if daemon.fleet is not None else None))
    return FleetApi(
        lambda: daemon.fleet.store if daemon.fleet is not None else None,
        box_name(config),
        lambda name: name in daemon._own_streams(),  # the YAML's and earlier API streams: local
        list(config.servers),
    )
