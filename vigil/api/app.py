"""The management API (aiohttp): health, readiness, metrics, streams, models, events, zones,
and the web console.

    GET    /                          the web console (`vigil.api.console`), or its sign-in page

    GET    /healthz                   the process answers (always open, for liveness probes)
    GET    /readyz                    200 when model, sources and sinks work, else 503; says which
    GET    /metrics                   Prometheus text format
    GET    /api/v1/streams            every stream: state, last error, fps, latency
    POST   /api/v1/streams            add a stream (a `sources` entry of the config, as JSON): an
                                      rtsp(s):// camera, or a file or device under api.allowed_media
                                      (`vigil.api.media`); no `*_file` keys; at most
                                      api.max_streams streams
    GET    /api/v1/streams/{name}     one stream
    DELETE /api/v1/streams/{name}     stop and remove a stream
    GET    /api/v1/model              the first model: its resolved package, batch and classes
    GET    /api/v1/models             every model by name (models:): package, batch, the cameras
                                      running it on frames and on crops (cascades)
    GET    /api/v1/events             recent events, newest first; ?source= &type= &since= &until=
                                      (ISO 8601 capture times) &limit= (default 100)
    GET    /api/v1/events/{id}        one event: its record, snapshot_url, crop_url, clip_url
    GET    /api/v1/events/{id}/snapshot.jpg, crop.jpg, clip.mp4   its pictures and clip
    GET    /api/v1/streams/{name}/live.mjpeg, frame.jpg   the camera's annotated live view
                                      (`vigil.api.console.live`; encoded only while someone watches)
    GET    /api/v1/streams/{name}/zones   its zones and lines; PUT replaces them, applied at once
    GET    /api/v1/counts             line and zone counts per interval (JSON or CSV; `vigil.api.counts`)
    GET    /api/v1/streams/{name}/heatmap.png   where its objects were, over its latest frame
    GET    /api/v1/config             the effective configuration (YAML + API changes), secrets masked
    POST   /api/v1/session            sign in with the token: an HttpOnly cookie for the console
    GET    /api/v1/openapi.json       this API as an OpenAPI 3.1 document
    GET    /api/v1/fleet              a box with fleet: the boxes, cameras, who runs each, the moves;
                                      its POST/PUT/DELETE of streams edit the fleet's bucket (`vigil.api.fleet`)

Readiness (`vigil.daemon.readiness`): not ready while the model loads, when no source is
streaming (every camera down; a file that ended normally counts as fine) or when a sink is
unhealthy (a webhook whose receiver has failed for `unhealthy_after_s`, 30 s by default, with
results waiting, or whose spool is 90% full; a sink that stopped writing). The body names each
check: `{"ready": false, "reasons": [...], "checks": {"model": {"ok": true, ...}, "sources":
{"cam1": {"ok": false, "state": "reconnecting", "reason": "..."}}, "sinks": {"webhook": {"ok":
false, "kind": "webhook", "reason": "receiver unreachable for 42 s (...), 250 result(s) waiting in
the spool"}}}}`. /healthz stays liveness only: it never looks at sources or sinks.

Streams added or deleted here are kept in a state file on top of the YAML, so they outlive a
SIGHUP reload and a restart (`vigil.api.state`); each stream says its `origin`.

Events are the last `api.events_kept` the stages made, from the daemon's event store (a
`vigil.store.Store`); an event has a `snapshot_url` and `crop_url` when a snapshot sink that takes events
wrote its pictures, and a `clip_url` when its clip exists. A file is only ever one of the logged
event's own: the request names an event id, never a path.

Everything but /healthz, the console's static files and signing in needs `Authorization: Bearer
<token>` or the console's session cookie when a token is configured (the daemon refuses to listen
off loopback without one; `vigil.api.auth`). Token or not, a request whose Host is not this
server's name is refused (421), and a write without the token must be JSON and carry
`X-Vigil-Console: 1` or this server's Origin (`vigil.api.guard`). Stream URLs are shown with
their password masked; errors are JSON objects `{"error": "..."}`; bad input is a 4xx, and a 500
only ever a bug (logged with its traceback).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from aiohttp import web
from pydantic import ValidationError

from vigil.api.answers import answer, refuse
from vigil.api.auth import AUTH_KEY, SESSION_PATH, Auth
from vigil.api.config import ConfigControl, add_config_routes
from vigil.api.console.pages import add_page_routes
from vigil.api.counts import add_analytics_routes
from vigil.api.fleet import FleetApi, add_fleet_routes
from vigil.api.guard import Every
from vigil.api.input import bounded_body, json_body, source_from
from vigil.api.media import StreamPolicy
from vigil.api.models import (
    EventList,
    EventRecord,
    Health,
    ModelInfo,
    ModelList,
    Readiness,
    Removed,
    SearchHit,
    SearchResults,
    Stream,
    StreamList,
)
from vigil.api.openapi import EVENT_FILES, openapi_document
from vigil.config import SourceConfig
from vigil.config.api import ApiConfig
from vigil.errors import PipelineError, SourceOpenError, VigilError
from vigil.store.analytics import analytics_of
from vigil.store.base import EventFile, EventQuery, FoundEvent, LoggedEvent, SearchQuery, Store
from vigil.store.log import EventLog

if TYPE_CHECKING:
    from vigil.api.console.live import LiveView

__all__ = ["Control", "make_app"]

log = logging.getLogger(__name__)


class Control(ConfigControl, Protocol):
    """What the API asks of the daemon: each answer a typed model of `vigil.api.models` (the
    OpenAPI document's schemas), sent as JSON by `vigil.api.answers.answer` alone."""

    def readiness(self) -> Readiness:
        """Ready, and why not: the model, sources, sinks and clips checked."""

    def streams(self) -> StreamList: ...

    async def add_stream(self, config: SourceConfig) -> Stream: ...

    async def remove_stream(self, name: str) -> Removed: ...

    def model_info(self) -> ModelInfo: ...

    def models_info(self) -> ModelList: ...

    def metrics(self) -> bytes:
        """The Prometheus text format (not JSON)."""


def make_app(
    control: Control,
    token: str | None = None,
    store: Store | None = None,
    live: LiveView | None = None,
    api: ApiConfig | None = None,
    fleet: FleetApi | None = None,
) -> web.Application:
    """The API over the events of `store` (an empty `EventLog` when None), the console's pages (`vigil.api.console.pages`) and, given `live`, the cameras' live
    views (`vigil.api.console.live`), behind the token, Host and write rules of `vigil.api.auth`
    (with the hosts, sessions and body timeout of `api`; its defaults when None)."""
    api = api or ApiConfig()
    auth = Auth(token, api)
    body = bounded_body(api.body_timeout_s, form_paths=frozenset({SESSION_PATH}))  # the sign-in form
    app = web.Application(middlewares=[_errors, auth.middleware(), body])
    auth.add_routes(app)
    _add_core_routes(app, control)
    _add_stream_routes(app, control, StreamPolicy.of(api), fleet)
    add_fleet_routes(app, fleet, StreamPolicy.of(api))  # GET /api/v1/fleet; PUT of a fleet camera
    events: Store = store if store is not None else EventLog()
    _add_search_route(app, events)  # before /api/v1/events/{id}, which would take "search" for an id
    _add_event_routes(app, events)
    add_config_routes(app, control, _error)
    # GET /api/v1/counts, GET /api/v1/streams/{name}/heatmap.png (vigil.api.counts): 404 while off
    analytics = analytics_of(events)
    counts, heatmaps = (analytics.counts, analytics.heatmaps) if analytics is not None else (None, None)
    add_analytics_routes(app, counts, heatmaps, lambda name: control.source_config(name) is not None)
    add_page_routes(app, lambda request: request.get(AUTH_KEY) is not None)
    if live is not None:
        from vigil.api.console.live_routes import add_live_routes

        # Live views hold their connections: at most half the cap, so they never starve the rest.
        add_live_routes(app, live, lambda name: control.source_config(name) is not None, max(1, api.max_connections // 2))
    return app


def _add_core_routes(app: web.Application, control: Control) -> None:
    routes = web.RouteTableDef()

    @routes.get("/healthz")
    async def healthz(request: web.Request) -> web.Response:
        return answer(Health(status="ok"))

    @routes.get("/readyz")
    async def readyz(request: web.Request) -> web.Response:
        body = control.readiness()
        return answer(body, status=200 if body.ready else 503)

    @routes.get("/metrics")
    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=control.metrics(), content_type="text/plain", charset="utf-8")

    @routes.get("/api/v1/model")
    async def model(request: web.Request) -> web.Response:
        return answer(control.model_info())

    @routes.get("/api/v1/models")
    async def models(request: web.Request) -> web.Response:
        return answer(control.models_info())

    @routes.get("/api/v1/openapi.json")
    async def openapi(request: web.Request) -> web.Response:
        return web.json_response(openapi_document())

    app.add_routes(routes)


def _add_stream_routes(app: web.Application, control: Control, policy: StreamPolicy, fleet: FleetApi | None) -> None:
    routes = web.RouteTableDef()
    adding = asyncio.Lock()  # one stream added at a time: api.max_streams holds under concurrent requests

    @routes.get("/api/v1/streams")
    async def list_streams(request: web.Request) -> web.Response:
        return answer(control.streams())

    @routes.post("/api/v1/streams")
    async def add_stream(request: web.Request) -> web.Response:
        body = await _json_body(request, "the body must be a JSON object describing a source")
        config = await asyncio.to_thread(source_from, body, policy)  # validation and paths: off the loop
        if fleet is not None and not fleet.local(config.name):  # a fleet camera: to the bucket (vigil.api.fleet)
            return answer(await fleet.put(config, replace=False), status=201)
        async with adding:
            streams = control.streams().streams
            if any(s.name == config.name for s in streams):
                raise _error(409, f"stream '{config.name}' already exists; DELETE it first to change it")
            if len(streams) >= policy.max_streams:
                raise _error(
                    409,
                    f"stream '{config.name}' not added: {len(streams)} streams run, as many as "
                    "api.max_streams allows; DELETE one first, or raise api.max_streams",
                )
            try:
                described = await control.add_stream(config)
            except SourceOpenError:
                if config.kind == "rtsp":
                    raise
                raise _error(422, policy.refusal()) from None  # missing or unreadable: the same answer
        return answer(described, status=201)

    @routes.get("/api/v1/streams/{name}")
    async def get_stream(request: web.Request) -> web.Response:
        return answer(_find(control, request.match_info["name"]))

    @routes.delete("/api/v1/streams/{name}")
    async def delete_stream(request: web.Request) -> web.Response:
        if fleet is not None and (removed := await fleet.remove(request.match_info["name"])) is not None:
            return answer(removed)  # a fleet camera, out of the bucket: the box running it stops it
        name = _find(control, request.match_info["name"]).name
        return answer(await control.remove_stream(name))

    app.add_routes(routes)


async def _json_body(request: web.Request, what: str) -> dict[str, Any]:
    return await json_body(request, what)  # JSON nested at most api_input.MAX_DEPTH deep, else a 400


_FILES = EVENT_FILES


def _add_event_routes(app: web.Application, log: Store) -> None:
    routes = web.RouteTableDef()

    @routes.get("/api/v1/events")
    async def list_events(request: web.Request) -> web.Response:
        try:
            query = EventQuery.from_params(request.query)
        except ValueError as exc:
            raise _error(400, str(exc)) from None
        found = log.query(query)
        described = await asyncio.to_thread(lambda: [_describe_event(log, logged) for logged in found])
        return answer(EventList(events=described))

    @routes.get("/api/v1/events/{id}")
    async def get_event(request: web.Request) -> web.Response:
        logged = _logged(log, request.match_info["id"])
        return answer(await asyncio.to_thread(_describe_event, log, logged))

    def serve(kind: EventFile) -> Any:
        async def file(request: web.Request) -> web.FileResponse:
            logged = _logged(log, request.match_info["id"])
            path = (await asyncio.to_thread(log.files, logged)).get(kind)
            if path is None:
                raise _error(404, f"event '{logged.event_id}' has no {kind} (no sink wrote one, or it was deleted)")
            return web.FileResponse(path, headers={"Content-Type": _FILES[kind][1]})

        return file

    for kind, (name, _) in _FILES.items():
        routes.get(f"/api/v1/events/{{id}}/{name}")(serve(kind))
    app.add_routes(routes)


def _add_search_route(app: web.Application, log: Store) -> None:
    routes = web.RouteTableDef()

    @routes.get("/api/v1/events/search")
    async def search_events(request: web.Request) -> web.Response:
        if not log.searchable:
            raise _error(
                404,
                "event search is off: give the configuration a search section with an embedding model "
                "(search: {model: models/clip})",
            )
        q, like = request.query.get("q", "").strip(), request.query.get("like", "").strip()
        if bool(q) == bool(like):
            raise _error(400, "give one of q (text to match the events' pictures) or like (an event id)")
        try:
            limit = int(request.query.get("limit", "20"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 1000:
            raise _error(400, "limit must be a whole number from 1 to 1000")
        source, kind = request.query.get("source") or None, request.query.get("type") or None
        found = await log.search(SearchQuery(text=q or None, like=like or None, limit=limit, source=source, type=kind))
        if found is None:
            raise _error(404, f"no searchable event '{like}' (not embedded yet, or older than search.max_events)")
        described = await asyncio.to_thread(lambda: [_describe_found(log, event) for event in found])
        return answer(SearchResults(events=described))

    app.add_routes(routes)


def _describe_found(log: Store, found: FoundEvent) -> SearchHit:
    """A found event with its score, and its files' URLs while the store still keeps it."""
    logged = log.get(found.event_id)
    return _as_stored(SearchHit, {**(_event_fields(log, logged) if logged is not None else found.record), "score": found.score})


def _logged(log: Store, event_id: str) -> LoggedEvent:
    logged = log.get(event_id)
    if logged is None:
        raise _error(404, f"no event '{event_id}' among the last {log.kept} kept (api.events_kept)")
    return logged


def _describe_event(log: Store, logged: LoggedEvent) -> EventRecord:
    """The event's record plus the URLs of its files that exist (touches the disk: off the loop)."""
    return _as_stored(EventRecord, _event_fields(log, logged))


_OFF_SCHEMA = Every(60.0, log)
RecordT = TypeVar("RecordT", EventRecord, SearchHit)


def _as_stored(model: type[RecordT], fields: dict[str, Any]) -> RecordT:
    """An event's answer; a stored record off today's schema (another vigil version's, a damaged
    store's) is answered as it is stored, logged, never a 500."""
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        _OFF_SCHEMA.warn(
            "event %s does not match the event schema (%s); answered as stored", fields.get("id"), exc.errors()[0]["loc"]
        )
        return model.model_construct(**fields)


def _event_fields(log: Store, logged: LoggedEvent) -> dict[str, Any]:
    described = dict(logged.record)
    for kind in log.files(logged):
        described[f"{kind}_url"] = f"/api/v1/events/{logged.event_id}/{_FILES[kind][0]}"
    return described


def _find(control: Control, name: str) -> Stream:
    for stream in control.streams().streams:
        if stream.name == name:
            return stream
    raise _error(404, f"no stream named '{name}'")


def _error(status: int, message: str) -> web.HTTPException:
    classes: dict[int, type[web.HTTPException]] = {
        400: web.HTTPBadRequest,
        401: web.HTTPUnauthorized,
        403: web.HTTPForbidden,
        404: web.HTTPNotFound,
        409: web.HTTPConflict,
        422: web.HTTPUnprocessableEntity,
    }
    return refuse(classes[status], message)


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """A daemon error becomes a 400 with its message (409 when the running pipeline refuses the change).
    Anything else is a bug of ours, not bad input (every handler checks its input and answers 4xx):
    a 500 without details, and the traceback in the log."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except web.HTTPException:
        raise
    except PipelineError as exc:  # the running pipeline refused the change (a stream added twice at once, a stop)
        raise _error(409, str(exc)) from exc
    except VigilError as exc:
        raise _error(400, str(exc)) from exc
    except Exception:
        log.exception("bug: %s %s failed", request.method, request.path[:200])
        raise refuse(web.HTTPInternalServerError, "internal error (a bug: the daemon's log has the details)") from None
