"""`sources[].stages`: each entry `{kind: KIND, ...its settings}`, validated by the config class
of the catalog's stage kind KIND (`vigil.catalog`; kinds declared by plugins or at run time
included)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, GetCoreSchemaHandler, GetJsonSchemaHandler, ValidationError
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from vigil.catalog import CATALOG

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
        kinds = []
        for kind in CATALOG.stages.kinds():
            body = dict(handler.resolve_ref_schema(handler(kind.load_config().__pydantic_core_schema__)))
            body["title"] = f"{kind.name} stage"
            body["properties"] = {"kind": {"const": kind.name}, **body.get("properties", {})}
            body["required"] = ["kind", *body.get("required", [])]
            kinds.append(body)
        return {"oneOf": kinds, "description": "A stage: {kind: KIND, ...its settings}."}


def _validate(data: Any) -> StageSpec:
    if isinstance(data, StageSpec):
        return data
    if not isinstance(data, dict):
        raise PydanticCustomError("stage", "a stage is a mapping with a kind, e.g. {kind: filter, classes: [person]}")
    kind = data.get("kind")
    if not isinstance(kind, str):
        raise _error("kind", "missing: every stage names its kind, e.g. kind: filter")
    if kind not in CATALOG.stages.names():  # read at validation time: kinds declared later count
        raise _error("kind", CATALOG.stages.unknown(kind))
    settings = {key: value for key, value in data.items() if key != "kind"}
    return StageSpec(kind, CATALOG.stages.get(kind).load_config().model_validate(settings))  # errors keep their keys


def _dump(spec: StageSpec, info: core_schema.SerializationInfo) -> dict[str, Any]:
    return {"kind": spec.kind, **spec.config.model_dump(mode=info.mode)}


def _error(key: str, message: str) -> ValidationError:
    error = PydanticCustomError("stage", "{message}", {"message": message})
    return ValidationError.from_exception_data("StageSpec", [{"type": error, "loc": (key,), "input": None}])
