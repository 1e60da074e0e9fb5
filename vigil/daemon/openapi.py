"""The management API as an OpenAPI 3.1 document (`GET /api/v1/openapi.json`)."""

from __future__ import annotations

from typing import Any, get_args

from vigil.config import SourceConfig
from vigil.daemon.event_log import MAX_LIMIT, EventFile
from vigil.events import EventType

__all__ = ["EVENT_FILES", "openapi_document"]

EVENT_FILES: dict[EventFile, tuple[str, str]] = {  # the route's file name, its content type
    "snapshot": ("snapshot.jpg", "image/jpeg"),
    "crop": ("crop.jpg", "image/jpeg"),
    "clip": ("clip.mp4", "video/mp4"),
}
_FILES = EVENT_FILES


def openapi_document() -> dict[str, Any]:
    source_schema = SourceConfig.model_json_schema()
    stream = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "origin": {"type": "string", "enum": ["config", "api"], "description": "from the YAML, or added over the API"},
            "url": {"type": "string", "description": "password masked"},
            "state": {"type": "string", "enum": ["connecting", "streaming", "reconnecting", "ended", "failed"]},
            "last_error": {"type": ["string", "null"]},
            "fps": {"type": "number"},
            "latency_ms": {"type": ["number", "null"], "description": "median capture-to-result, last results"},
        },
    }
    error = {"type": "object", "properties": {"error": {"type": "string"}}}

    def answer(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"description": description}
        if schema is not None:
            body["content"] = {"application/json": {"schema": schema}}
        return body

    return {
        "openapi": "3.1.0",
        "info": {"title": "vigil management API", "version": "1"},
        "components": {
            "schemas": {"Source": source_schema, "Stream": stream, "Error": error, "Readiness": _readiness_schema()},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/healthz": {"get": {"security": [], "responses": {"200": answer("alive")}}},
            "/readyz": {
                "get": {
                    "responses": {
                        "200": answer("ready", {"$ref": "#/components/schemas/Readiness"}),
                        "503": answer("not ready: the failing checks have ok false and a reason",
                                      {"$ref": "#/components/schemas/Readiness"}),
                    }
                }
            },
            "/metrics": {"get": {"responses": {"200": answer("Prometheus text format")}}},
            "/api/v1/streams": {
                "get": {"responses": {"200": answer("streams", {"type": "object"})}},
                "post": {
                    "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Source"}}}},
                    "responses": {
                        "201": answer("added", {"$ref": "#/components/schemas/Stream"}),
                        "409": answer("exists", error),
                        "422": answer("invalid", error),
                    },
                },
            },
            "/api/v1/streams/{name}": {
                "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
                "get": {"responses": {"200": answer("the stream", stream), "404": answer("unknown", error)}},
                "delete": {"responses": {"200": answer("removed"), "404": answer("unknown", error)}},
            },
            "/api/v1/model": {"get": {"responses": {"200": answer("the first model's package and batch", {"type": "object"})}}},
            "/api/v1/models": {"get": {"responses": {"200": answer("every model by name", {"type": "object"})}}},
            **_event_paths(answer, error),
            **_console_paths(answer, error),
        },
    }


def _event_paths(answer: Any, error: dict[str, Any]) -> dict[str, Any]:
    event = {
        "type": "object",
        "description": "the event's record (docs/OUTPUT.md, Events) plus the URLs of its files that exist",
        "properties": {
            "id": {"type": "string"},
            "type": {"type": "string", "enum": list(get_args(EventType))},
            "source": {"type": "string"},
            "capture_time": {"type": "string", "format": "date-time"},
            **{f"{kind}_url": {"type": "string"} for kind in _FILES},
        },
    }
    events = {"type": "object", "properties": {"events": {"type": "array", "items": event}}}

    def parameter(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}

    parameters = [
        parameter("source", "only this stream's events", {"type": "string"}),
        parameter("type", "only events of this type", {"type": "string", "enum": list(get_args(EventType))}),
        parameter("since", "capture time at or after (ISO 8601; UTC without an offset)", {"type": "string", "format": "date-time"}),
        parameter("until", "capture time before (ISO 8601)", {"type": "string", "format": "date-time"}),
        parameter("limit", "at most this many (default 100)", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
    ]
    by_id = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
    paths: dict[str, Any] = {
        "/api/v1/events": {
            "get": {"parameters": parameters,
                    "responses": {"200": answer("recent events, newest first", events), "400": answer("a bad query value", error)}},
        },
        "/api/v1/events/{id}": {
            "parameters": by_id,
            "get": {"responses": {"200": answer("the event", event), "404": answer("not among the events kept", error)}},
        },
    }
    for kind, (name, content_type) in _FILES.items():
        found = {"description": f"the event's {kind}", "content": {content_type: {}}}
        paths[f"/api/v1/events/{{id}}/{name}"] = {
            "parameters": by_id, "get": {"responses": {"200": found, "404": answer(f"no such event or no {kind}", error)}},
        }
    return paths


def _readiness_schema() -> dict[str, Any]:
    def check(extra: str) -> dict[str, Any]:
        ok, reason = {"type": "boolean"}, {"type": "string", "description": "credentials masked"}
        return {"type": "object", "required": ["ok"], "properties": {"ok": ok, "reason": reason, extra: {"type": "string"}}}

    model, source, sink = check("model_id"), check("state"), check("name")
    return {
        "type": "object",
        "required": ["ready", "reasons", "checks"],
        "properties": {
            "ready": {"type": "boolean"},
            "reasons": {"type": "array", "items": {"type": "string"}, "description": "why not ready (empty when ready)"},
            "checks": {
                "type": "object",
                "properties": {
                    "model": model,
                    "sources": {"type": "object", "additionalProperties": source, "description": "by stream name"},
                    "sinks": {
                        "type": "object", "additionalProperties": sink,
                        "description": "by config section (jsonl, webhook, video, snapshot)",
                    },
                },
            },
        },
    }


def _console_paths(answer: Any, error: dict[str, Any]) -> dict[str, Any]:
    """Zones, the effective configuration, the live views and the console's session."""
    by_name = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}]
    width = {"name": "width", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 16},
             "description": "picture width in pixels (at most api.live_max_width)"}
    shapes = {"type": "object", "properties": {
        "zones": {"type": "array", "items": {"type": "object"}, "description": "as sources[].zones"},
        "lines": {"type": "array", "items": {"type": "object"}, "description": "as sources[].lines"},
        "width": {"type": ["integer", "null"]}, "height": {"type": ["integer", "null"]}}}
    jpeg = {"description": "a JPEG", "content": {"image/jpeg": {}}}
    return {
        "/api/v1/streams/{name}/zones": {
            "parameters": by_name,
            "get": {"responses": {"200": answer("the camera's zones and lines, and its frame size", shapes),
                                  "404": answer("unknown", error)}},
            "put": {"requestBody": {"content": {"application/json": {"schema": shapes}}},
                    "responses": {"200": answer("applied and kept", shapes), "422": answer("invalid shapes", error),
                                  "404": answer("unknown", error)}},
        },
        "/api/v1/streams/{name}/live.mjpeg": {
            "parameters": [*by_name, width],
            "get": {"responses": {"200": {"description": "annotated frames as multipart/x-mixed-replace JPEGs",
                                          "content": {"multipart/x-mixed-replace": {}}},
                                  "404": answer("unknown", error)}},
        },
        "/api/v1/streams/{name}/frame.jpg": {
            "parameters": [*by_name, width, {"name": "annotate", "in": "query", "required": False,
                                             "schema": {"type": "integer", "enum": [0, 1]}}],
            "get": {"responses": {"200": jpeg, "404": answer("unknown", error), "503": answer("no frame yet", error)}},
        },
        "/api/v1/config": {"get": {"responses": {"200": answer("the effective configuration, secrets masked",
                                                                {"type": "object"})}}},
        "/api/v1/session": {
            "post": {"security": [], "requestBody": {"content": {"application/json": {"schema": {
                "type": "object", "properties": {"token": {"type": "string"}}}}}},
                "responses": {"204": {"description": "signed in: an HttpOnly SameSite=Strict cookie"},
                              "401": answer("wrong token", error)}},
            "get": {"responses": {"200": answer("how this request is authenticated", {"type": "object"})}},
            "delete": {"responses": {"204": {"description": "signed out"}}},
        },
    }
