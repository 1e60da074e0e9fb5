"""The fleet's routes in the OpenAPI document (`vigil.api.openapi`): `GET /api/v1/fleet`, `PUT
/api/v1/streams/{name}`, and what a box with `fleet:` answers to `POST /api/v1/streams`."""

from __future__ import annotations

from typing import Any

from vigil.api import models as m
from vigil.api._openapi_parts import answer, json_op, ref
from vigil.api.fleet_models import FleetPlaced, FleetView
from vigil.config import SourceConfig

__all__ = ["FLEET_RESPONSES", "add_fleet_paths"]

FLEET_RESPONSES = (FleetView, FleetPlaced)
_NO_FLEET = "this box has no fleet: section"
_UNREACHABLE = "the fleet's NATS servers did not answer (named in the message)"


def add_fleet_paths(paths: dict[str, Any], refs: dict[str, str]) -> dict[str, Any]:
    """`paths` (the stream routes among them) with the fleet's added."""
    paths["/api/v1/fleet"] = {
        "get": json_op(
            refs,
            "the fleet: its boxes (alive, capacity, load), its cameras and who runs each, the last moves",
            answer("the fleet as its buckets say now", ref(refs, FleetView)),
            404,
            503,
            s404=_NO_FLEET,
            s503=_UNREACHABLE,
        )
    }
    paths["/api/v1/streams/{name}"]["put"] = json_op(
        refs,
        "replace a fleet camera's entry in the fleet's bucket (a box with fleet:)",
        answer("written; the box that runs it, once known", ref(refs, FleetPlaced)),
        400,
        403,
        404,
        409,
        422,
        503,
        body=ref(refs, SourceConfig, "validation"),
        s404=_NO_FLEET,
        s409="the camera is in this box's own sources: (its YAML)",
        s503=_UNREACHABLE,
    )
    added = paths["/api/v1/streams"]["post"]["responses"]
    added["201"] = answer(
        "added: the stream running here, or on a box with fleet: the camera written to the fleet's bucket",
        {"oneOf": [ref(refs, m.Stream), ref(refs, FleetPlaced)]},
    )
    added.setdefault("503", answer(_UNREACHABLE, ref(refs, m.Error)))
    return paths
