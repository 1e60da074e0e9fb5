"""The API's answers are typed: every method of `Control` (what the API asks of the daemon)
returns a model the OpenAPI document lists in its components, and so do the daemon's adapter
(`DaemonControl`) and every test double of Control under tests/ (found by reading the source,
so a new one is held to it too). A route added later cannot send an undocumented dict. And the
one place an answer becomes JSON (`vigil.api.answers`) sends what the schema says: a field made
absent is left out when None, a nullable one is sent as null."""

from __future__ import annotations

import ast
import importlib
import inspect
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.unit.api.control_doubles import a_stream, ready
from vigil.api.answers import as_json
from vigil.api.app import Control
from vigil.api.control import DaemonControl
from vigil.api.models import Answer, ClipsCheck, EventRecord, ModelCheck, SinkCheck, Stream
from vigil.api.openapi import openapi_document
from vigil.config import SourceConfig

TESTS = Path(__file__).resolve().parents[2]
# The methods whose result is not sent as a JSON answer, and what they return instead.
NOT_ANSWERS: dict[str, Any] = {
    "metrics": bytes,  # the Prometheus text format
    "source_config": SourceConfig | None,  # whether a stream exists, and its zones (the route builds `Zones`)
    "frame_size": tuple[int, int] | None,  # read into `Zones`
    "set_source_stages": type(None),  # the route answers `Zones`
}


def control_methods() -> list[str]:
    return sorted(name for name, _ in inspect.getmembers(Control, inspect.isfunction) if not name.startswith("_"))


def returned(cls: type, name: str) -> Any:
    return typing.get_type_hints(getattr(cls, name))["return"]


def documented() -> set[str]:
    return set(openapi_document()["components"]["schemas"])


def held_to_answers(cls: type, names: list[str]) -> list[str]:
    """What is wrong with the return types of `cls`'s methods `names`."""
    schemas, wrong = documented(), []
    for name in names:
        kind = returned(cls, name)
        if name in NOT_ANSWERS:
            if kind != NOT_ANSWERS[name]:
                wrong.append(f"{cls.__qualname__}.{name} returns {kind}, not {NOT_ANSWERS[name]}")
        elif not (isinstance(kind, type) and issubclass(kind, Answer) and kind.__name__ in schemas):
            wrong.append(f"{cls.__qualname__}.{name} returns {kind}, not a model of the OpenAPI document's components")
    return wrong


def test_every_method_of_control_returns_a_documented_model():
    names = control_methods()
    assert {"readiness", "streams", "add_stream", "remove_stream", "model_info", "models_info", "effective_config"} <= set(names)
    assert held_to_answers(Control, names) == []


def test_the_daemons_adapter_returns_what_control_declares():
    names = control_methods()
    assert held_to_answers(DaemonControl, names) == []
    assert {name: returned(DaemonControl, name) for name in names} == {name: returned(Control, name) for name in names}


def doubles() -> list[tuple[str, str, list[str]]]:
    """(module, class, Control methods it defines) of every class under tests/ defining one."""
    names, found = set(control_methods()), []
    for path in sorted(TESTS.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                defined = [f.name for f in node.body if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef) and f.name in names]
                if defined:
                    module = ".".join(path.relative_to(TESTS.parent).with_suffix("").parts)
                    found.append((module, node.name, defined))
    return found


def test_the_doubles_are_found():
    found = {(module.rsplit(".", 1)[-1], cls) for module, cls, _ in doubles()}
    assert {
        ("control_doubles", "NothingRunning"),
        ("test_api_properties", "MemoryControl"),
        ("test_openapi_document", "MemoryControl"),
        ("test_errors", "RefusingControl"),
    } <= found


@pytest.mark.parametrize("module, cls, names", doubles(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_test_double_of_control_returns_models_too(module, cls, names):
    double = getattr(importlib.import_module(module), cls)
    assert held_to_answers(double, names) == []
    assert {name: returned(double, name) for name in names} == {name: returned(Control, name) for name in names}


def test_a_method_returning_a_dict_is_caught():
    class Loose:
        def streams(self) -> dict[str, Any]:
            return {}

        def metrics(self) -> str:
            return ""

    assert held_to_answers(Loose, ["streams", "metrics"]) == [
        f"{Loose.__qualname__}.streams returns dict[str, typing.Any], not a model of the OpenAPI document's components",
        f"{Loose.__qualname__}.metrics returns <class 'str'>, not <class 'bytes'>",
    ]


def test_an_absent_field_is_left_out_when_none_and_a_nullable_one_is_null():
    assert as_json(ModelCheck(ok=False, reason="the model is loading")) == {"ok": False, "reason": "the model is loading"}
    assert as_json(ModelCheck(ok=True, model_id="m")) == {"ok": True, "model_id": "m"}
    stream = as_json(a_stream("door", None))
    assert stream["url"] is None and stream["latency_ms"] is None and stream["width"] is None and "width" in stream
    sink = as_json(SinkCheck(ok=True, kind="jsonl", published=3, dropped=0, backlog=0, errors=0))
    assert "reason" not in sink and "last_error" not in sink and sink["dropped_by_reason"] == {}
    assert "reason" not in as_json(ClipsCheck(ok=True, written=1, errors=0))


def test_an_event_keeps_its_own_fields_and_its_schema_key():
    record = {
        "id": "e1",
        "record": "event",
        "schema": 2,
        "type": "zone_enter",
        "source": "door",
        "seq": 3,
        "capture_time": "2026-12-06T08:00:00.000000Z",
        "tracker_id": 7,
        "class_id": 0,
        "class_name": None,
        "zone": "porch",
        "plugin_field": {"a": [1, None]},
    }
    assert as_json(EventRecord.model_validate(record)) == record  # nothing added, nothing lost, nulls kept


def test_an_answer_refuses_a_field_its_schema_does_not_declare():
    with pytest.raises(ValidationError, match="extra"):
        Stream.model_validate({**as_json(a_stream("door", None)), "password": "hunter2"})
    with pytest.raises(ValidationError, match="origin"):
        Stream.model_validate({**as_json(a_stream("door", None)), "origin": "yaml"})


def test_readiness_is_sent_whole():
    assert as_json(ready()) == {
        "ready": True,
        "reasons": [],
        "checks": {"model": {"ok": True, "model_id": "m"}, "sources": {}, "sinks": {}, "clips": {}},
    }


@pytest.mark.parametrize("model", [Stream, ModelCheck, EventRecord])
def test_the_serializer_leaves_each_answers_schema_its_own_fields(model):
    """`Answer`'s serializer has no return annotation: were it given one, pydantic would write
    that type into the document instead of the answer's fields."""
    schema = openapi_document()["components"]["schemas"][model.__name__]
    assert set(schema["properties"]) == {f.alias or name for name, f in model.model_fields.items()}
