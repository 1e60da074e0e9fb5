"""`fleet:`: this box is one of many sharing the cameras of a NATS JetStream key-value bucket
(vigil/fleet, docs/SCALING.md). The servers and credentials are given as for the nats sink."""

from __future__ import annotations

import re
import socket

from pydantic import Field

from vigil.config._section import Section
from vigil.config.nats import NatsConnection

__all__ = ["BOX_PATTERN", "FleetCapacity", "FleetConfig", "box_name"]

# A KV key and a NATS subject token: letters, digits, '_', '-'; dots inside only.
BOX_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


class FleetCapacity(Section):
    """How much this box takes on: cameras, frames per second (the cameras' max_fps), or both."""

    cameras: int | None = Field(None, ge=0, le=10_000, description="Most fleet cameras this box runs (null: no limit).")
    fps: float | None = Field(
        None, ge=0, le=1_000_000, description="Most frames per second (the sum of its cameras' max_fps) (null: no limit)."
    )


class FleetConfig(NatsConnection):
    """The NATS servers of the fleet's buckets, this box's name and capacity, and the lease timings."""

    box: str | None = Field(
        None, pattern=BOX_PATTERN, description="This box's name in the fleet, unique per box (null: the host name)."
    )
    capacity: FleetCapacity = Field(default_factory=FleetCapacity, description="{cameras: N, fps: F}, either or both.")
    bucket_prefix: str = Field(
        "vigil_fleet",
        pattern=r"^[A-Za-z0-9_-]{1,100}$",
        description="The buckets are PREFIX_cameras, PREFIX_members, PREFIX_leases and PREFIX_moves.",
    )
    lease_ttl_s: float = Field(
        6.0, ge=1.0, le=3600.0, description="A camera's lease expires this long after its last renewal (every third of it)."
    )
    member_ttl_s: float = Field(
        6.0, ge=1.0, le=3600.0, description="A box not heard of for this long has left (it heartbeats every third of it)."
    )
    connect_timeout_s: float = Field(3.0, gt=0, le=600, description="Longest wait for a server to accept a connection.")


def box_name(config: FleetConfig) -> str:
    """`config.box`, else the host name made a valid box name (its first label, other characters as '-')."""
    if config.box is not None:
        return config.box
    host = socket.gethostname().split(".")[0] or "box"
    name = re.sub(r"[^A-Za-z0-9_-]", "-", host)[:64]
    return name if name[0].isalnum() else f"b{name[:63]}"
