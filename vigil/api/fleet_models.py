"""The fleet's answers (`GET /api/v1/fleet`, `vigil fleet list --json`, a stream written to the
fleet's bucket through the streams API) as typed models: the OpenAPI document is generated from
them (`vigil.api.fleet_openapi`)."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from vigil.api.models import Answer

__all__ = ["FleetBox", "FleetCamera", "FleetCapacityInfo", "FleetLoad", "FleetMove", "FleetPlaced", "FleetView"]


class _Closed(Answer):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class FleetCapacityInfo(_Closed):
    cameras: int | None = Field(description="Most fleet cameras the box runs (null: no limit).")
    fps: float | None = Field(description="Most frames per second, the sum of its cameras' max_fps (null: no limit).")


class FleetLoad(_Closed):
    cameras: int = Field(ge=0, description="Fleet cameras it runs now.")
    fps: float = Field(ge=0, description="The sum of their max_fps (a camera without one counts as its capacity's share).")


class FleetBox(_Closed):
    """A box of the fleet: one heartbeating now (alive), or one still named by a lease."""

    box: str = Field(description="The box's name (fleet.box, else its host name).")
    alive: bool = Field(description="Its heartbeat is in the members bucket (it expires member_ttl_s after the last one).")
    capacity: FleetCapacityInfo
    load: FleetLoad
    cameras: list[str] = Field(description="The cameras whose lease it holds, by name.")
    api: str | None = Field(description="Its management API's address, as it announced it (null: none).")
    started_at: str | None = Field(description="When its vigil started (ISO 8601, UTC).")
    version: str | None = Field(description="Its vigil version.")


class FleetCamera(_Closed):
    name: str
    box: str | None = Field(description="The box holding its lease, which runs it (null: unassigned right now).")
    since: str | None = Field(description="Since when that box holds it (ISO 8601, UTC).")
    url: str | None = Field(description="The camera's URL, credentials masked.")


class FleetMove(_Closed):
    at: str = Field(description="When it moved (ISO 8601, UTC).")
    camera: str
    from_: str | None = Field(alias="from", description="The box that ran it before (null: none, a new camera).")
    to: str | None = Field(description="The box that runs it now (null: none took it, or it was removed).")
    reason: str = Field(
        description="Why: new (a camera no box ran), failover (its box is gone), handover (to a box whose share it is now), "
        "sigterm (its box stopped), lease_lost (its box could not renew in time), removed, no_capacity."
    )


class FleetView(_Closed):
    """`GET /api/v1/fleet`: what the fleet's buckets say now, read from NATS by the box asked."""

    box: str = Field(description="The box that answered (`-` in `vigil fleet list --json`, which no box answers).")
    boxes: list[FleetBox] = Field(description="Alive boxes first, then by name.")
    cameras: list[FleetCamera] = Field(description="Every camera of the fleet's bucket, by name.")
    unassigned: list[str] = Field(description="Cameras no box holds a lease on right now.")
    moves: list[FleetMove] = Field(description="The last moves, newest first.")


class FleetPlaced(_Closed):
    """A stream written to the fleet's bucket through the streams API of a box with `fleet:`."""

    name: str
    fleet: Literal[True] = Field(description="The camera belongs to the fleet: it runs on whichever box takes its lease.")
    change: Literal["added", "changed", "unchanged"]
    box: str | None = Field(description="The box running it, when one took it within a few seconds (null: not yet known).")
