"""What the fleet agent keeps of each camera it runs, what it needs of the daemon and the
figures it reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from vigil.config.fleet import FleetCapacity
from vigil.config.sources import SourceConfig
from vigil.fleet.assign import UNKNOWN_FPS, Capacity
from vigil.fleet.store import Lease, Member

__all__ = ["FleetStats", "Held", "StreamControl", "capacity_of", "fps_of", "held_fps", "member_of"]


class StreamControl(Protocol):
    """What the agent needs of the daemon: start and stop a camera."""

    async def add_stream(self, config: SourceConfig, *, tell: bool = True) -> object: ...

    async def remove_stream(self, name: str, *, tell: bool = True) -> None: ...


@dataclass(frozen=True)
class FleetStats:
    """The agent's figures since it started (`vigil.daemon.metrics_fleet` reads them)."""

    moves: Mapping[str, int]
    renewals_late: int
    leases_lost: int
    unassigned: int
    members_alive: int
    held: int
    connected: bool


@dataclass
class Held:
    lease: Lease
    entry: dict[str, Any]
    renewed_at: float  # monotonic: when the last successful renewal (or the take) was sent


def fps_of(entry: Mapping[str, Any] | None) -> float:
    rate = (entry or {}).get("max_fps")
    try:
        return UNKNOWN_FPS if rate is None else float(rate)
    except (TypeError, ValueError):
        return UNKNOWN_FPS


def capacity_of(member: Member) -> Capacity:
    cameras, fps = member.capacity.get("cameras"), member.capacity.get("fps")
    return Capacity(None if cameras is None else int(cameras), None if fps is None else float(fps))


def held_fps(held: Mapping[str, Held]) -> float:
    return sum(fps_of(h.entry) for h in held.values())


def member_of(box: str, capacity: FleetCapacity, held: Mapping[str, Held], api: str | None, started_at: float) -> Member:
    """This box's heartbeat: its capacity, and its load from the cameras it runs."""
    return Member(
        box=box,
        capacity={"cameras": capacity.cameras, "fps": capacity.fps},
        load={"cameras": len(held), "fps": held_fps(held)},
        cameras=sorted(held),
        api=api,
        started_at=started_at,
    )
