"""The one place an answer becomes JSON: a typed model of `vigil.api.models` dumped the way the
OpenAPI document describes it (JSON mode, by alias, a field made absent left out when None), so
an answer cannot drift from its schema."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from vigil.api.models import Answer

__all__ = ["answer", "as_json"]


def as_json(model: Answer) -> dict[str, Any]:
    """`model` as the JSON object the API sends."""
    dumped: dict[str, Any] = model.model_dump(mode="json", by_alias=True)
    return dumped


def answer(model: Answer, status: int = 200) -> web.Response:
    """`model` as a JSON response."""
    return web.json_response(as_json(model), status=status)
