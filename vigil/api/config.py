"""The API's configuration routes: a camera's zones and lines (the console's editor reads and
saves them here) and the effective configuration.

    GET /api/v1/streams/{name}/zones   {"zones": [...], "lines": [...], "width": W, "height": H}
                                       (the shapes as in `sources[].zones` / `lines`; the size of the
                                       camera's latest frame, null before one)
    PUT /api/v1/streams/{name}/zones   {"zones": [...], "lines": [...]}: validated like the YAML
                                       (at most 32 zones and 32 lines, polygons of at most 100
                                       points; checked off the event loop), applied to the running
                                       camera at once (its stages restart with the new shapes), kept
                                       in the API state layer
    GET /api/v1/config                 {"config": {...}}: the YAML with the API's changes on top,
                                       secrets masked (?format=yaml: the same as YAML text)

A zone saved here lasts like a stream added here (`vigil.api.state`): across SIGHUP
reloads and restarts, until that camera's entry in the YAML is edited (the file is the later word).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

import yaml
from aiohttp import web
from pydantic import ValidationError

from vigil.api.answers import answer
from vigil.api.models import EffectiveConfig, Zones, ZonesBody
from vigil.config import SourceConfig
from vigil.redact import mask_config

__all__ = ["ConfigControl", "add_config_routes"]


class ConfigControl(Protocol):
    """What these routes ask of the daemon."""

    def source_config(self, name: str) -> SourceConfig | None:
        """The running camera's configuration (None: no such stream)."""

    def frame_size(self, name: str) -> tuple[int, int] | None:
        """(width, height) of the camera's latest frame, None before one."""

    async def set_source_stages(self, config: SourceConfig) -> None:
        """Run the camera `config.name` with the stages `config` describes from now on, and keep it."""

    def effective_config(self) -> EffectiveConfig:
        """The configuration in force, as JSON-able data (not yet masked: the route masks it)."""


def add_config_routes(app: web.Application, control: ConfigControl, error: Callable[[int, str], web.HTTPException]) -> None:
    routes = web.RouteTableDef()

    def current(request: web.Request) -> SourceConfig:
        name = request.match_info["name"]
        config = control.source_config(name)
        if config is None:
            raise error(404, f"no stream named '{name}'")
        return config

    def shapes(config: SourceConfig) -> Zones:
        size = control.frame_size(config.name)
        width, height = size if size else (None, None)
        return Zones(zones=list(config.zones), lines=list(config.lines), width=width, height=height)

    @routes.get("/api/v1/streams/{name}/zones")
    async def get_zones(request: web.Request) -> web.Response:
        return answer(shapes(current(request)))

    @routes.put("/api/v1/streams/{name}/zones")
    async def put_zones(request: web.Request) -> web.Response:
        config = current(request)
        try:
            body = await request.json()
        except ValueError:
            raise error(400, 'the body must be a JSON object {"zones": [...], "lines": [...]}') from None
        if not isinstance(body, dict) or set(body) - {"zones", "lines"}:
            raise error(422, 'the body must be a JSON object {"zones": [...], "lines": [...]} and nothing else')
        try:  # off the event loop: checking polygons is CPU work (bounded by zones.MAX_POINTS and MAX_ZONES)
            changed = await asyncio.to_thread(_with_shapes, config, body)
        except ValidationError as exc:
            raise error(422, "; ".join(_problem(e) for e in exc.errors())) from None
        await control.set_source_stages(changed)
        return answer(shapes(changed))

    @routes.get("/api/v1/config")
    async def get_config(request: web.Request) -> web.Response:
        config = EffectiveConfig(config=mask_config(control.effective_config().config))
        if request.query.get("format") == "yaml":
            text = yaml.safe_dump(config.config, sort_keys=False, allow_unicode=True)
            return web.Response(text=text, content_type="application/yaml", charset="utf-8")
        return answer(config)

    app.add_routes(routes)


def _with_shapes(config: SourceConfig, body: dict[str, Any]) -> SourceConfig:
    """`config` with the zones and lines of `body` (a `ZonesBody`), checked as the YAML's are."""
    shapes = ZonesBody.model_validate(body)  # each shape checked here
    entry = config.model_dump(mode="json", exclude_unset=True)
    entry.update(zones=shapes.zones, lines=shapes.lines)
    return SourceConfig.model_validate(entry)  # and what holds between them and the camera (names used once ...)


def _problem(error: Any) -> str:
    """A validation error as `zones.0.polygon: the polygon crosses itself ...` (the source's
    discriminator tag left out of the location)."""
    where = ".".join(str(part) for part in error["loc"] if part not in ("file", "rtsp", "webcam"))
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message
