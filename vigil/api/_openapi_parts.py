"""The building blocks of the OpenAPI document (`vigil.api.openapi`): a schema reference, an
answer, the refusals in their usual words, a JSON operation, query and path parameters."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from vigil.api import models as m

__all__ = ["REFUSED", "WRITES", "answer", "json_op", "path_param", "query_param", "ref", "refusals"]


def ref(refs: dict[str, str], model: type[BaseModel], mode: str = "serialization") -> dict[str, Any]:
    return {"$ref": refs[f"{model.__name__}:{mode}"]}


def answer(description: str, schema: dict[str, Any] | None = None, content_type: str = "application/json") -> dict[str, Any]:
    body: dict[str, Any] = {"description": description}
    if schema is not None:
        body["content"] = {content_type: {"schema": schema}}
    return body


REFUSED = {
    400: "a malformed request (a bad query value; a body that is not a JSON object, or nests too deep)",
    401: "no or a wrong token (or console session)",
    403: "a write without X-Vigil-Console: 1 (or the bearer token), or from another site's page",
    404: "no such thing",
    408: "the body did not arrive in time (api.body_timeout_s)",
    409: "the running pipeline refuses the change",
    415: "a write whose body is not application/json",
    421: "the Host header is not this server's name (api.allowed_hosts)",
    422: "an invalid body: the message names the key and what to give",
}
WRITES = ("post", "put", "patch", "delete")


def refusals(refs: dict[str, str], *statuses: int, **described: str) -> dict[str, Any]:
    """Error answers (`{"error": ...}`): `statuses`, in the words of `REFUSED` or `s404="..."`."""
    texts = {**REFUSED, **{int(key.removeprefix("s")): text for key, text in described.items()}}
    return {str(code): answer(texts[code], ref(refs, m.Error)) for code in sorted(statuses)}


def json_op(
    refs: dict[str, str],
    description: str,
    ok: dict[str, Any],
    *refused: int,
    status: int = 200,
    parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    **described: str,
) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": description, "responses": {str(status): ok, **refusals(refs, *refused, **described)}}
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return operation


def query_param(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": {"type": "string"}}
