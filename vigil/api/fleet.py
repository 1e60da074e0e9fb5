"""The fleet in the management API (a box with `fleet:`, docs/SCALING.md):

    GET  /api/v1/fleet                 the boxes, the cameras and who runs each, the last moves
    POST /api/v1/streams               a camera not in this box's own `sources:` goes to the
                                       fleet's bucket (it runs wherever the fleet puts it)
    PUT  /api/v1/streams/{name}        a fleet camera's entry replaced
    DELETE /api/v1/streams/{name}      a fleet camera taken out of the bucket (its box stops it)

A box without `fleet:` answers /api/v1/fleet and PUT with a 404 that says so; its streams API
stays as it was. The cameras of a fleet box's own YAML stay local: POST refuses their names (409,
as for any running stream) and PUT and DELETE of them are the local API's. The bucket is read
and written through a `FleetStore` (`vigil.fleet.store`); when its NATS servers do not answer,
the request gets a 503 naming them (no credentials: they are never in a server URL).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from vigil.api.answers import answer, refuse
from vigil.api.fleet_models import FleetBox, FleetCamera, FleetCapacityInfo, FleetLoad, FleetMove, FleetPlaced, FleetView
from vigil.api.input import json_body, source_from
from vigil.api.media import StreamPolicy
from vigil.api.models import Removed
from vigil.config import SourceConfig
from vigil.errors import VigilError
from vigil.redact import mask_text, mask_url

if TYPE_CHECKING:
    from vigil.fleet.store import Lease, Member, Move

__all__ = ["FleetApi", "FleetBuckets", "add_fleet_routes", "read_view"]

_NO_FLEET = "this box has no fleet: section, so it is not part of a fleet; add one (docs/SCALING.md, 'A fleet')"
_PLACED_WAIT_S = 3.0  # how long a write waits to say which box took the camera


class FleetBuckets(Protocol):
    """What the API reads and writes of the fleet's buckets (`vigil.fleet.store.FleetStore`)."""

    async def cameras(self) -> dict[str, dict[str, Any]]: ...

    async def members(self) -> Mapping[str, Member]: ...

    async def leases(self) -> Mapping[str, Lease]: ...

    async def moves(self, limit: int = 50) -> list[Move]: ...

    async def put_camera(self, name: str, entry: Mapping[str, Any]) -> SourceConfig: ...

    async def delete_camera(self, name: str) -> bool: ...


def iso(at: float | None) -> str | None:
    """Seconds since the epoch as ISO 8601 UTC (Z); None for none (0 or absent)."""
    if not at:
        return None
    return datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _url(entry: Mapping[str, Any]) -> str | None:
    url = entry.get("url")
    if not isinstance(url, str):
        inputs = entry.get("inputs")
        url = inputs[0].get("url") if isinstance(inputs, list) and inputs and isinstance(inputs[0], dict) else None
    return mask_url(url) if isinstance(url, str) else None


def _box(name: str, member: Member | None, held: list[str]) -> FleetBox:
    capacity = member.capacity if member is not None else {}
    load = member.load if member is not None else {}
    cameras, fps = capacity.get("cameras"), capacity.get("fps")
    return FleetBox(
        box=name,
        alive=member is not None,
        capacity=FleetCapacityInfo(cameras=int(cameras) if cameras is not None else None, fps=fps),
        load=FleetLoad(cameras=max(0, int(load.get("cameras") or len(held))), fps=max(0.0, float(load.get("fps") or 0.0))),
        cameras=sorted(held),
        api=member.api if member is not None else None,
        started_at=iso(member.started_at) if member is not None else None,
        version=(member.version or None) if member is not None else None,
    )


async def read_view(store: FleetBuckets, box: str, moves: int = 20) -> FleetView:
    """What the buckets say now, as `GET /api/v1/fleet` (and `vigil fleet list --json`) answer."""
    cameras, members, leases = await store.cameras(), await store.members(), await store.leases()
    held: dict[str, list[str]] = {name: [] for name in members}
    for camera, lease in leases.items():
        if camera in cameras:
            held.setdefault(lease.box, []).append(camera)
    boxes = [_box(name, members.get(name), held[name]) for name in held]
    boxes.sort(key=lambda b: (not b.alive, b.box))
    listed = []
    for name in sorted(cameras):
        holder = leases.get(name)
        listed.append(
            FleetCamera(
                name=name,
                box=holder.box if holder is not None else None,
                since=iso(holder.since) if holder is not None else None,
                url=_url(cameras[name]),
            )
        )
    last = [
        FleetMove(at=iso(m.at) or "", camera=m.camera, from_=m.from_, to=m.to, reason=m.reason) for m in await store.moves(moves)
    ]
    return FleetView(box=box, boxes=boxes, cameras=listed, unassigned=[c.name for c in listed if c.box is None], moves=last)


def entry_of(config: SourceConfig) -> dict[str, Any]:
    """A camera's bucket entry: its `sources` entry as given (defaults left out), without its name."""
    entry: dict[str, Any] = config.model_dump(mode="json", exclude_unset=True)
    entry.pop("name", None)
    return entry


class FleetApi:
    """The fleet as this box's API edits it: `buckets()` (the agent's store, None until it has
    connected), this box's name, which names are this box's own (`local(name)`: its YAML's
    cameras, and streams added here before it had `fleet:`) and the servers (for messages)."""

    def __init__(
        self, buckets: Callable[[], FleetBuckets | None], box: str, local: Callable[[str], bool], servers: list[str]
    ) -> None:
        self.buckets, self.box, self.local = buckets, box, local
        self.servers = servers

    @property
    def store(self) -> FleetBuckets:
        store = self.buckets()
        if store is None:
            raise self.unreachable(ConnectionError("not connected yet"))
        return store

    def unreachable(self, exc: BaseException) -> web.HTTPException:
        where = ", ".join(mask_url(s) for s in self.servers)
        detail = mask_text(str(exc)) or type(exc).__name__
        return refuse(
            web.HTTPServiceUnavailable, f"the fleet's NATS servers ({where}) did not answer ({detail}); try again shortly"
        )

    async def view(self) -> FleetView:
        try:
            return await read_view(self.store, self.box)
        except (web.HTTPException, VigilError):
            raise
        except Exception as exc:  # noqa: BLE001 - nats-py's timeouts and connection errors
            raise self.unreachable(exc) from None

    async def put(self, config: SourceConfig, *, replace: bool) -> FleetPlaced:
        """Write the camera; a POST (`replace` False) of a name the bucket has is a 409."""
        try:
            before = (await self.store.cameras()).get(config.name)
            if before is not None and not replace:
                raise refuse(
                    web.HTTPConflict,
                    f"stream '{config.name}' already is a fleet camera; PUT /api/v1/streams/{config.name} to change it",
                )
            entry = entry_of(config)
            change = "added" if before is None else "unchanged" if before == entry else "changed"
            if change != "unchanged":
                await self.store.put_camera(config.name, entry)
            return FleetPlaced(name=config.name, fleet=True, change=change, box=await self._placed(config.name))
        except (web.HTTPException, VigilError):
            raise
        except Exception as exc:  # noqa: BLE001
            raise self.unreachable(exc) from None

    async def _placed(self, name: str) -> str | None:
        """The box holding the camera's lease, waited for up to `_PLACED_WAIT_S`."""
        deadline = time.monotonic() + _PLACED_WAIT_S
        while True:
            lease = (await self.store.leases()).get(name)
            if lease is not None or time.monotonic() >= deadline:
                return lease.box if lease is not None else None
            await asyncio.sleep(0.25)

    async def remove(self, name: str) -> Removed | None:
        """Take fleet camera `name` out of the bucket; None when it is not one (or is local)."""
        if self.local(name):
            return None
        try:
            removed = await self.store.delete_camera(name)
        except web.HTTPException:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self.unreachable(exc) from None
        return Removed(removed=name) if removed else None


def add_fleet_routes(app: web.Application, fleet: FleetApi | None, policy: StreamPolicy) -> None:
    """`GET /api/v1/fleet` and `PUT /api/v1/streams/{name}` (POST and DELETE: `vigil.api.app`)."""
    routes = web.RouteTableDef()

    @routes.get("/api/v1/fleet")
    async def fleet_view(request: web.Request) -> web.Response:
        if fleet is None:
            raise refuse(web.HTTPNotFound, _NO_FLEET)
        return answer(await fleet.view())

    @routes.put("/api/v1/streams/{name}")
    async def replace_stream(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if fleet is None:
            raise refuse(web.HTTPNotFound, f"PUT changes a fleet camera; {_NO_FLEET} (DELETE and POST a stream to change it)")
        if fleet.local(name):
            raise refuse(web.HTTPConflict, f"stream '{name}' is in this box's own sources: (its YAML); change it there")
        body = await json_body(request, "the body must be a JSON object describing a source")
        if body.setdefault("name", name) != name:
            raise refuse(web.HTTPUnprocessableEntity, f"name: the body names '{body['name']}', the path '{name}'; give one name")
        config = await asyncio.to_thread(source_from, body, policy)
        return answer(await fleet.put(config, replace=True))

    app.add_routes(routes)
