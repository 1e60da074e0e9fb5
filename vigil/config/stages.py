"""`sources[].stages`: each entry `{kind: KIND, ...its settings}`, validated by the config class
registered for KIND in `vigil.stages.registry` (kinds registered from outside vigil included)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, GetCoreSchemaHandler, GetJsonSchemaHandler, ValidationError
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from vigil.errors import ConfigError

__all__ = ["StageSpec"]


@dataclass(frozen=True)
class StageSpec:
    """One validated `stages:` entry: its kind and its settings (an instance of the kind's
    config class). Dumped back as `{kind: ..., **settings}`."""

    kind: str
    config: BaseModel

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(
            _validate, serialization=core_schema.plain_serializer_function_ser_schema(_dump, info_arg=True)
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        from vigil.stages.registry import STAGES

        kinds = []
        for kind in STAGES.kinds():
            body = dict(handler.resolve_ref_schema(handler(kind.config.__pydantic_core_schema__)))
            body["title"] = f"{kind.name} stage"
            body["properties"] = {"kind": {"const": kind.name}, **body.get("properties", {})}
            body["required"] = ["kind", *body.get("required", [])]
            kinds.append(body)
        return {"oneOf": kinds, "description": "A stage: {kind: KIND, ...its settings}."}


def _validate(data: Any) -> StageSpec:
    from vigil.stages.registry import STAGES  # at validation time: kinds registered later count

    if isinstance(data, StageSpec):
        return data
    if not isinstance(data, dict):
        raise PydanticCustomError("stage", "a stage is a mapping with a kind, e.g. {kind: filter, classes: [person]}")
    kind = data.get("kind")
    if not isinstance(kind, str):
        raise _error("kind", "missing: every stage names its kind, e.g. kind: filter")
    try:
        entry = STAGES.get(kind)
    except ConfigError as exc:
        raise _error("kind", str(exc)) from None
    settings = {key: value for key, value in data.items() if key != "kind"}
    return StageSpec(kind, entry.config.model_validate(settings))  # its errors keep their keys


def _dump(spec: StageSpec, info: core_schema.SerializationInfo) -> dict[str, Any]:
    return {"kind": spec.kind, **spec.config.model_dump(mode=info.mode)}


def _error(key: str, message: str) -> ValidationError:
    error = PydanticCustomError("stage", message)
    return ValidationError.from_exception_data("StageSpec", [{"type": error, "loc": (key,), "input": None}])
