"""The one place an answer becomes JSON: a typed model of `vigil.api.models` dumped the way the
OpenAPI document describes it (JSON mode, by alias, a field made absent left out when None), so
an answer cannot drift from its schema."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from vigil.api.models import Answer, Error

__all__ = ["answer", "as_json", "refuse"]


def as_json(model: Answer) -> dict[str, Any]:
    """`model` as the JSON object the API sends. No serializer warnings: the one answer that may
    be off its schema, a stored event record of another vigil version, was logged when read
    (`vigil.api.app`); the tests hold every other answer to the document."""
    dumped: dict[str, Any] = model.model_dump(mode="json", by_alias=True, warnings=False)
    return dumped


def answer(model: Answer, status: int = 200) -> web.Response:
    """`model` as a JSON response."""
    return web.json_response(as_json(model), status=status)


def refuse(kind: type[web.HTTPException], message: str) -> web.HTTPException:
    """A refusal (or a 500) of class `kind` answering `{"error": message}` (`Error`), to raise."""
    return kind(text=json.dumps(as_json(Error(error=message))), content_type="application/json")
