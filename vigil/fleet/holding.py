"""What the fleet agent keeps of each camera it runs, what it needs of the daemon and the
figures it reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from vigil.config.fleet import FleetCapacity, FleetConfig
from vigil.config.sources import SourceConfig
from vigil.fleet.assign import UNKNOWN_FPS, Capacity, weight
from vigil.fleet.store import Lease, Member

__all__ = [
    "FleetStats",
    "Held",
    "StreamControl",
    "capacity_of",
    "fallback_due",
    "fps_of",
    "held_fps",
    "member_of",
]


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


def fallback_due(
    camera: str,
    fps: float,
    assigned: str | None,
    members: Mapping[str, Member],
    box: str,
    held: Mapping[str, Held],
    config: FleetConfig,
    waited: float,
) -> bool:
    """Whether `box` takes `camera` (of `fps`) that its box `assigned` has not taken for `waited`
    seconds: the next boxes in its rendezvous order do, one after another, a lease TTL apart, each
    within its capacity."""
    if assigned is None:
        return False
    order = sorted(
        (b for b, m in members.items() if b != assigned and not m.leaving), key=lambda b: weight(camera, b), reverse=True
    )
    if box not in order:
        return False
    cap = config.capacity
    if (cap.cameras is not None and len(held) >= cap.cameras) or (cap.fps is not None and held_fps(held) + fps > cap.fps):
        return False
    return waited > (order.index(box) + 2) * config.lease_ttl_s


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
