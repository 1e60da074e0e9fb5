"""The management API as an OpenAPI 3.1 document (`GET /api/v1/openapi.json`), generated from
the typed answers and bodies of `vigil.api.models` (and the config's `SourceConfig`):
pydantic writes every schema, and every `$defs` entry lands in `components/schemas`.

Each route of the app (`vigil.api.app.make_app`) is listed with its parameters and answers,
refusals included (`{"error": ...}`); tests/unit/api/test_openapi_document.py holds the
router and this document to each other, and the integration tests validate real answers. The
handlers send these very models (`vigil.api.answers`), and `Control` returns them
(tests/unit/api/test_control_answers.py).
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from vigil.api import models as m
from vigil.api._openapi_parts import WRITES, answer, json_op, path_param, query_param, ref, refusals
from vigil.api.analytics_openapi import ANALYTICS_RESPONSES, add_analytics_paths
from vigil.api.fleet_openapi import FLEET_RESPONSES, add_fleet_paths
from vigil.api.models import EVENT_FILES
from vigil.catalog import CATALOG
from vigil.config import SourceConfig
from vigil.store.base import MAX_LIMIT

__all__ = ["EVENT_FILES", "openapi_document"]

_REF = "#/components/schemas/{model}"
_RESPONSES: tuple[type[BaseModel], ...] = (
    m.Error,
    m.Health,
    m.Readiness,
    m.StreamList,
    m.Stream,
    m.Removed,
    m.ModelInfo,
    m.ModelList,
    m.EventList,
    m.EventRecord,
    m.SearchResults,
    m.Zones,
    m.EffectiveConfig,
    m.SessionInfo,
    *FLEET_RESPONSES,
    *ANALYTICS_RESPONSES,
)
_REQUESTS: tuple[type[BaseModel], ...] = (SourceConfig, m.ZonesBody, m.SignIn)
_AUTH_NOTE = (
    "Every route but /healthz answers only to a Host that is a loopback name, api.host or one of "
    "api.allowed_hosts (else 421). With a token (api.token_file; required off loopback) every route but "
    "/healthz, the console's files and signing in needs `Authorization: Bearer <token>` or the console's session "
    "cookie (else 401). A write without the bearer token must be JSON (else 415) and carry `X-Vigil-Console: 1` "
    'or this server\'s own Origin (else 403). Errors are `{"error": "..."}`. HEAD is answered wherever GET is, '
    "but on live.mjpeg."
)


def openapi_document() -> dict[str, Any]:
    """The document (a fresh copy each call: callers may change it)."""
    schemas, refs = _schemas()
    return {
        "openapi": "3.1.0",
        "info": {"title": "vigil management API", "version": "1", "description": _AUTH_NOTE},
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "vigil_session",
                    "description": "set by POST /api/v1/session",
                },
            },
        },
        "security": [{"bearer": []}, {"session": []}],
        "paths": _with_common_refusals(
            refs,
            add_analytics_paths(
                add_fleet_paths(
                    {
                        **_core_paths(refs),
                        **_stream_paths(refs),
                        **_event_paths(refs),
                        **_live_paths(refs),
                        **_console_paths(refs),
                    },
                    refs,
                ),
                refs,
            ),
        ),
    }


@cache
def _generated() -> tuple[dict[str, Any], dict[str, str]]:
    modes: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        *((model, "serialization") for model in _RESPONSES),
        *((model, "validation") for model in _REQUESTS),
    ]
    keyed, defs = models_json_schema(modes, ref_template=_REF)
    refs = {f"{model.__name__}:{mode}": schema["$ref"] for (model, mode), schema in keyed.items()}
    return defs.get("$defs", {}), refs


def _schemas() -> tuple[dict[str, Any], dict[str, str]]:
    schemas, refs = _generated()
    return copy.deepcopy(schemas), refs


def _with_common_refusals(refs: dict[str, str], paths: dict[str, Any]) -> dict[str, Any]:
    """The refusals of the rules every route is under (`vigil.api.auth`, `api_guard`):
    the Host rule (421, not /healthz), the token (401, where the operation is not open), the
    write rule (403, 415; not signing in) and the body timeout (408)."""
    for path, item in paths.items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            common = [] if path == "/healthz" else [421]
            if operation.get("security") != []:
                common.append(401)
            if method in WRITES and path != "/api/v1/session":
                common += [403, 415]
            if "requestBody" in operation:
                common.append(408)
            responses = operation["responses"]
            responses.update({code: answer for code, answer in refusals(refs, *common).items() if code not in responses})
            operation["responses"] = dict(sorted(responses.items()))
    return paths


def _core_paths(refs: dict[str, str]) -> dict[str, Any]:
    readiness = ref(refs, m.Readiness)
    return {
        "/": {
            "get": {
                "summary": "the web console, or its sign-in page",
                "security": [],
                "responses": {
                    "200": answer("the console (signed in)", {"type": "string"}, "text/html"),
                    "401": answer("the sign-in page", {"type": "string"}, "text/html"),
                },
            }
        },
        "/console/static/{name}": {
            "parameters": [path_param("name", "a file of the console")],
            "get": {
                "summary": "the console's scripts, style sheet and images",
                "security": [],
                "responses": {
                    "200": {
                        "description": "the file",
                        "content": {t: {} for t in ("text/html", "text/javascript", "text/css", "image/svg+xml", "image/png")},
                    },
                    "404": answer("no such console file", ref(refs, m.Error)),
                },
            },
        },
        "/healthz": {
            "get": {
                "summary": "the process answers (liveness; always open)",
                "security": [],
                "responses": {"200": answer("alive", ref(refs, m.Health))},
            }
        },
        "/readyz": {
            "get": {
                "summary": "whether model, sources and sinks work; which does not",
                "responses": {
                    "200": answer("ready", readiness),
                    "503": answer("not ready: the failing checks have ok false and a reason", readiness),
                },
            }
        },
        "/metrics": {"get": json_op(refs, "Prometheus text format", answer("the metrics", {"type": "string"}, "text/plain"))},
        "/api/v1/openapi.json": {"get": json_op(refs, "this document", answer("OpenAPI 3.1", {"type": "object"}))},
        "/api/v1/model": {
            "get": json_op(refs, "the first model: its package, batch and classes", answer("the model", ref(refs, m.ModelInfo)))
        },
        "/api/v1/models": {
            "get": json_op(refs, "every model by name, and the cameras running it", answer("the models", ref(refs, m.ModelList)))
        },
    }


def _stream_paths(refs: dict[str, str]) -> dict[str, Any]:
    source = ref(refs, SourceConfig, "validation")
    by_name = [path_param("name", "the stream's name")]
    return {
        "/api/v1/streams": {
            "get": json_op(refs, "every stream", answer("the streams", ref(refs, m.StreamList))),
            "post": json_op(
                refs,
                "add a stream: a sources entry of the configuration (no *_file keys, no clips)",
                answer("added", ref(refs, m.Stream)),
                400,
                403,
                409,
                422,
                status=201,
                body=source,
                s409="a stream of that name exists, or the pipeline refuses it",
            ),
        },
        "/api/v1/streams/{name}": {
            "parameters": by_name,
            "get": json_op(refs, "one stream", answer("the stream", ref(refs, m.Stream)), 404),
            "delete": json_op(refs, "stop and remove a stream", answer("removed", ref(refs, m.Removed)), 400, 403, 404, 409),
        },
        "/api/v1/streams/{name}/zones": {
            "parameters": by_name,
            "get": json_op(
                refs, "the camera's zones and lines, and its frame size", answer("the shapes", ref(refs, m.Zones)), 404
            ),
            "put": json_op(
                refs,
                "replace the camera's zones and lines: applied at once, kept",
                answer("applied and kept", ref(refs, m.Zones)),
                400,
                403,
                404,
                409,
                422,
                body=ref(refs, m.ZonesBody, "validation"),
            ),
        },
    }


def _event_filters() -> list[dict[str, Any]]:
    return [
        query_param("source", "only this stream's events", {"type": "string"}),
        query_param("type", "only events of this type", {"type": "string", "enum": list(CATALOG.event_types.names())}),
    ]


def _event_paths(refs: dict[str, str]) -> dict[str, Any]:
    listed = [
        *_event_filters(),
        query_param("since", "capture time at or after (ISO 8601; UTC without an offset)", {"type": "string"}),
        query_param("until", "capture time before (ISO 8601)", {"type": "string"}),
        query_param("limit", "at most this many (default 100)", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
    ]
    searched = [
        query_param("q", "text to match the events' pictures (give q or like)", {"type": "string"}),
        query_param("like", "an event id: the events most like it (give q or like)", {"type": "string"}),
        *_event_filters(),
        query_param("limit", "at most this many (default 20)", {"type": "integer", "minimum": 1, "maximum": 1000}),
    ]
    by_id = [path_param("id", "the event's id")]
    paths: dict[str, Any] = {
        "/api/v1/events": {
            "get": json_op(
                refs, "recent events, newest first", answer("the events", ref(refs, m.EventList)), 400, parameters=listed
            )
        },
        "/api/v1/events/search": {
            "get": json_op(
                refs,
                "events ranked by likeness to a text or to an event",
                answer("the events found, best first, each with its score", ref(refs, m.SearchResults)),
                400,
                404,
                parameters=searched,
                s404="search is off (no search section), or no searchable event `like`",
            )
        },
        "/api/v1/events/{id}": {
            "parameters": by_id,
            "get": json_op(
                refs,
                "one event",
                answer("the event", ref(refs, m.EventRecord)),
                404,
                s404="not among the events kept (api.events_kept)",
            ),
        },
    }
    for kind, (name, content_type) in EVENT_FILES.items():
        found = {"description": f"the event's {kind}", "content": {content_type: {}}}
        paths[f"/api/v1/events/{{id}}/{name}"] = {
            "parameters": by_id,
            "get": {
                "summary": f"the event's {kind}",
                "responses": {"200": found, **refusals(refs, 404, s404=f"no such event kept, or no {kind}")},
            },
        }
    return paths


def _live_paths(refs: dict[str, str]) -> dict[str, Any]:
    """The cameras' live views."""
    name = path_param("name", "the stream's name")
    width = query_param(
        "width", "picture width in pixels, 16 to api.live_max_width (default: the frame's)", {"type": "integer", "minimum": 16}
    )
    annotate = query_param("annotate", "draw the results (default 1)", {"type": "integer", "enum": [0, 1]})
    return {
        "/api/v1/streams/{name}/live.mjpeg": {
            "parameters": [name, width],
            "get": {
                "summary": "the camera's annotated frames while the client stays",
                "responses": {
                    "200": {"description": "multipart/x-mixed-replace JPEGs", "content": {"multipart/x-mixed-replace": {}}},
                    **refusals(
                        refs,
                        400,
                        404,
                        503,
                        s503="as many live views are open as the API allows (half of api.max_connections); close one",
                    ),
                },
            },
        },
        "/api/v1/streams/{name}/frame.jpg": {
            "parameters": [name, width, annotate],
            "get": {
                "summary": "the camera's latest frame",
                "responses": {
                    "200": {"description": "a JPEG", "content": {"image/jpeg": {}}},
                    **refusals(refs, 400, 404, 503, s503="no frame yet"),
                },
            },
        },
    }


def _console_paths(refs: dict[str, str]) -> dict[str, Any]:
    """The effective configuration and the console's session."""
    return {
        "/api/v1/config": {
            "get": {
                "summary": "the effective configuration (the YAML with the API's changes), secrets masked",
                "parameters": [
                    query_param(
                        "format", "yaml: the same as YAML text (application/yaml)", {"type": "string", "enum": ["json", "yaml"]}
                    )
                ],
                "responses": {
                    "200": {
                        "description": "the configuration",
                        "content": {"application/json": {"schema": ref(refs, m.EffectiveConfig)}, "application/yaml": {}},
                    },
                    **refusals(refs),
                },
            }
        },
        "/api/v1/session": {
            "post": {
                "summary": "sign in with the token: an HttpOnly SameSite=Strict session cookie",
                "security": [],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": ref(refs, m.SignIn, "validation")},
                        "application/x-www-form-urlencoded": {"schema": ref(refs, m.SignIn, "validation")},
                    },
                },
                "responses": {
                    "204": {"description": "signed in (JSON)"},
                    "303": {"description": "signed in (a form post): to the console"},
                    **refusals(refs, 400, 401, s401="wrong token"),
                },
            },
            "get": json_op(refs, "how this request is authenticated", answer("the session", ref(refs, m.SessionInfo))),
            "delete": {"summary": "sign out", "responses": {"204": {"description": "signed out"}, **refusals(refs)}},
        },
    }
