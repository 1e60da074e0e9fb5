"""Request bodies, bounded: a client gets `api.body_timeout_s` to send one (a body sent a byte a
minute would hold a connection and a handler for ever), aiohttp's `client_max_size` (1 MiB) for
its size, and a JSON body may nest at most `MAX_DEPTH` deep (5,000 nested lists would make the
parser, then pydantic, recurse until Python gives up: a 500 rather than the 400 it is).

The middleware reads and checks the body of every write before the handler runs; the handler's
`request.json()` then parses the bytes already read.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from vigil.api.answers import refuse
from vigil.api.guard import WRITES
from vigil.api.media import StreamPolicy
from vigil.config import SourceConfig
from vigil.config.inputs import input_files
from vigil.config.sources import source_fields

__all__ = ["MAX_DEPTH", "bounded_body", "json_body", "parse_json", "source_from"]

MAX_DEPTH = 32


_FORMS = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def bounded_body(timeout_s: float, form_paths: frozenset[str] = frozenset()) -> Any:
    """A middleware that reads a write's body within `timeout_s` (else 408) and refuses one that
    is not JSON or nests deeper than MAX_DEPTH (400). Every write takes JSON, whatever its
    Content-Type says (a script's `curl -d` labels JSON as a form), except a form posted to one of
    `form_paths`."""

    @web.middleware
    async def read_first(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.method in WRITES and request.body_exists:
            try:
                raw = await asyncio.wait_for(request.read(), timeout_s)
            except asyncio.TimeoutError:
                raise refuse(
                    web.HTTPRequestTimeout, f"the request's body did not arrive within {timeout_s:g} s (api.body_timeout_s)"
                ) from None
            if not (request.path in form_paths and request.content_type in _FORMS):
                parse_json(raw, request.charset)
        response: web.StreamResponse = await handler(request)
        return response

    return read_first


def parse_json(raw: bytes, charset: str | None = None, what: str = "the body must be JSON") -> Any:
    """The JSON value of `raw`, or a 400 saying what is wrong with it."""
    try:
        value = json.loads(raw.decode(charset or "utf-8"))
    except (ValueError, LookupError):  # not JSON, not in its charset, or a charset nobody knows
        raise refuse(web.HTTPBadRequest, f"the body is not valid JSON: {what}") from None
    except RecursionError:
        raise refuse(web.HTTPBadRequest, f"the body's JSON nests deeper than {MAX_DEPTH} levels") from None
    if _depth(value) > MAX_DEPTH:
        raise refuse(web.HTTPBadRequest, f"the body's JSON nests deeper than {MAX_DEPTH} levels")
    return value


async def json_body(request: web.Request, what: str) -> dict[str, Any]:
    """The body as a JSON object, or a 400 saying `what` it must be."""
    value = parse_json(await request.read(), request.charset, what)
    if not isinstance(value, dict):
        raise refuse(web.HTTPBadRequest, what)
    return value


def _depth(value: Any) -> int:
    """How deep lists and objects nest in `value` (without recursion: the point is to refuse deep ones)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            if depth > MAX_DEPTH:
                return depth
            deepest = max(deepest, depth)
            todo.extend((child, depth + 1) for child in item)
    return deepest


def source_from(body: dict[str, Any], policy: StreamPolicy) -> SourceConfig:
    """A stream added through the API: a `sources` entry, without what would make the server read
    or write files a request names: a network camera, or media `policy` allows (`api_media`)."""
    named_files = sorted(key for key in body if key in source_fields() and key.endswith("_file")) + input_files(body)
    if named_files:  # the server would read a file of the caller's choosing and send it to the caller's host
        raise refuse(
            web.HTTPUnprocessableEntity,
            f"{', '.join(named_files)}: the API never reads files on the server; put the credentials in the "
            "request (rtsp://user:password@host/...) or add the stream to the YAML configuration",
        )
    if "clips" in body:  # the server would write files into a folder of the caller's choosing
        raise refuse(
            web.HTTPUnprocessableEntity,
            "clips: the API never writes files where a request says; give the stream its clips in the YAML configuration",
        )
    try:
        config = SourceConfig.model_validate(body)
    except ValidationError as exc:
        raise refuse(
            web.HTTPUnprocessableEntity, "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        ) from None
    admitted = policy.admit(config)
    if admitted is None:
        raise refuse(web.HTTPUnprocessableEntity, policy.refusal())
    return admitted
