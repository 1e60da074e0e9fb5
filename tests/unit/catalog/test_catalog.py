"""The catalog: each kind declared once with its facts, and every reader following those facts
(the schema, the events refusal, assembly's chain order, the loader's secret files, check's
extras), for kinds declared at run time as for the built-in ones."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Literal

import pytest
from pydantic import BaseModel

from vigil.catalog import CATALOG, Catalog, Extra, SecretFile, SinkKind, SourceKind, StageKind
from vigil.config import SourceConfig
from vigil.config.files import file_problems
from vigil.config.loader import parse_config
from vigil.config.sources import source_fields
from vigil.config.urls import kind_of_url
from vigil.daemon.assemble import make_source, make_stages
from vigil.errors import ConfigError, MissingDependencyError
from vigil.sinks.registry import build_sink

ZONE = {"name": "yard", "polygon": [[0, 0], [9, 0], [9, 9]]}
TINY = [SinkKind("only", "vigil.config.sinks:JsonlSinkConfig", "vigil.sinks.jsonl:make_jsonl_sink", takes_events=True)]


def yaml(sink: str, source: str = "") -> str:
    return f"model:\n  path: m.onnx\nsources:\n  - name: cam\n    url: a.mp4\n{source}sinks:\n  - {sink}\n"


@pytest.fixture
def declared() -> Iterator[list[str]]:
    """Kinds a test declares (names appended by the test) are forgotten after it."""
    names: list[str] = []
    before = CATALOG.snapshot()
    yield names
    CATALOG.restore(before)


def test_the_built_in_sinks_that_take_events_are_the_ones_the_refusal_lists():
    takers = [kind.name for kind in CATALOG.sinks.kinds() if kind.takes_events]
    assert takers == ["jsonl", "webhook", "snapshot", "mqtt", "nats"]
    with pytest.raises(ConfigError, match="a video sink cannot take events; .* to a jsonl, webhook, snapshot, mqtt or nats sink"):
        parse_config(yaml("{kind: video, directory: out, records: [events]}"), "t.yaml", {})
    parse_config(
        yaml("{kind: nats, servers: [nats://127.0.0.1:4222], stream: s, subject_prefix: v, records: [events]}"), "t.yaml", {}
    )


def test_a_sink_kind_declared_at_run_time_takes_events_by_its_fact(declared):
    CATALOG.sinks.register("quiet", "vigil.config.sinks:JsonlSinkConfig", "vigil.sinks.jsonl:make_jsonl_sink")
    with pytest.raises(ConfigError, match="a quiet sink cannot take events"):
        parse_config(yaml("{kind: quiet, path: o.jsonl, records: [events]}"), "t.yaml", {})
    CATALOG.sinks.register(
        "quiet", "vigil.config.sinks:JsonlSinkConfig", "vigil.sinks.jsonl:make_jsonl_sink", takes_events=True, replace=True
    )
    [entry] = parse_config(yaml("{kind: quiet, path: o.jsonl, records: [events]}"), "t.yaml", {}).sinks
    assert entry.records == ["events"]
    with pytest.raises(ConfigError, match=r"send the events to a jsonl, webhook, snapshot, mqtt, nats or quiet sink"):
        parse_config(yaml("{kind: video, directory: out, records: [events]}"), "t.yaml", {})


def test_a_declaration_twice_or_malformed_is_refused():
    with pytest.raises(ValueError, match="sink kind 'jsonl' is already declared \\(by vigil\\)"):
        CATALOG.sinks.register("jsonl", "vigil.config.sinks:JsonlSinkConfig", "vigil.sinks.jsonl:make_jsonl_sink")
    with pytest.raises(ValueError, match="must be 'module:attribute'"):
        CATALOG.sinks.register("other", "vigil.config.sinks:JsonlSinkConfig", "vigil.sinks.jsonl.make_jsonl_sink")
    with pytest.raises(ValueError, match="is not a pydantic model class"):
        CATALOG.sinks.register("other", "vigil.sinks.jsonl:make_jsonl_sink", "vigil.sinks.jsonl:make_jsonl_sink")
    with pytest.raises(ValueError, match="is a StageKind, not a SinkKind"):
        CATALOG.sinks.register(StageKind("other", "vigil.stages.filter:FilterStageConfig", "vigil.stages.filter:FilterStage"))
    assert "other" not in CATALOG.sinks


def test_a_catalog_reads_its_kinds_on_first_use_only():
    catalog = Catalog(builtins=f"{__name__}:TINY", group=None)
    assert catalog.sinks._kinds == {} and not catalog._loaded
    assert catalog.sinks.names() == ["only"] and catalog.sinks.get("only").origin == "vigil"
    assert catalog.stages.names() == [] and catalog.failures == []
    with pytest.raises(ConfigError, match=r"unknown stage kind 'filter' \(known: none\)"):
        catalog.stages.get("filter")


def test_the_order_of_a_cameras_implied_stages_is_the_catalogs_place(declared):
    config = SourceConfig.model_validate({"name": "cam", "url": "a.mp4", "zones": [ZONE], "stages": [{"kind": "filter"}]})
    assert [type(s).__name__ for s in make_stages(config)] == ["TrackingStage", "ZoneStage", "FilterStage"]
    zones = CATALOG.stages.get("zones")
    CATALOG.stages.register(dataclasses.replace(zones, place=-1), replace=True)
    assert [type(s).__name__ for s in make_stages(config)] == ["ZoneStage", "TrackingStage", "FilterStage"]
    assert [k.name for k in CATALOG.stages.declared() if k.place is not None] == ["zones", "tracking", "cascade"]
    assert "cascade" not in CATALOG.stages.names()  # made from cascades:, never a stages: entry


class FakeCamConfig(SourceConfig):
    kind: Literal["fakecam"] = "fakecam"
    key_file: str | None = None


class FakeCam:
    def __init__(self, config: FakeCamConfig, context: object) -> None:
        self.config, self.context = config, context


def test_a_source_kind_declared_at_run_time_is_chosen_by_its_url_and_made_by_its_factory(declared, tmp_path):
    CATALOG.sources.register(
        SourceKind(
            "fakecam",
            FakeCamConfig,
            FakeCam,
            url_prefixes=("fake://",),
            secret_files=(SecretFile("key_file", "the fake key", "text"),),
        )
    )
    assert kind_of_url("FAKE://host/1") == "fakecam" and kind_of_url("clip.mp4") == "file"
    config = SourceConfig.model_validate({"name": "f", "url": "fake://host/1", "key_file": str(tmp_path / "none")})
    assert isinstance(config, FakeCamConfig) and "key_file" in source_fields()
    made = make_source(config)
    assert isinstance(made, FakeCam) and made.config is config
    loaded = parse_config(yaml("{kind: jsonl, path: o.jsonl}").replace("a.mp4", "fake://h/1") + "", "t.yaml", {})
    assert type(loaded.sources[0]) is FakeCamConfig and file_problems(loaded) == []
    text = yaml("{kind: jsonl, path: o.jsonl}", f"    key_file: {tmp_path / 'none'}\n").replace("a.mp4", "fake://h/1")
    [problem] = file_problems(parse_config(text, "t.yaml", {}))
    assert problem.loc == ("sources", 0, "key_file") and "no such file" in problem.message
    (tmp_path / "none").write_bytes(b"\xff")
    [problem] = file_problems(parse_config(text, "t.yaml", {}))
    assert "is not UTF-8 text" in problem.message
    with pytest.raises(ConfigError, match="'key_file' is a setting of fakecam sources; this is a file source"):
        parse_config(yaml("{kind: jsonl, path: o.jsonl}", "    key_file: /k\n"), "t.yaml", {})


def test_rtsp_urls_stay_refused_for_schemes_no_kind_claims():
    with pytest.raises(ConfigError, match="'http://' sources are not supported"):
        parse_config(yaml("{kind: jsonl, path: o.jsonl}").replace("a.mp4", "http://x/a.mp4"), "t.yaml", {})


class NeedsConfig(BaseModel):
    path: str


async def test_a_kind_whose_extra_is_missing_is_named_with_the_pip_extra(declared, tmp_path):
    extra = Extra("fancy", "vigil_no_such_module_x")
    CATALOG.sinks.register("fancy", NeedsConfig, "vigil_no_such_module_x:make", extras=(extra,))
    [entry] = parse_config(yaml("{kind: fancy, path: o}"), "t.yaml", {}).sinks
    with pytest.raises(
        MissingDependencyError, match=r"the fancy sink needs vigil_no_such_module_x: pip install 'vigil-analytics\[fancy\]'"
    ):
        await build_sink(entry)
    from vigil.cli.check import check_config

    (tmp_path / "m.onnx").write_bytes(b"not a model")
    path = tmp_path / "v.yaml"
    path.write_text(yaml("{kind: fancy, path: o}").replace("m.onnx", str(tmp_path / "m.onnx")))
    with pytest.raises(ConfigError, match=r"sinks\[0\].kind: the fancy sink needs vigil_no_such_module_x: pip install"):
        check_config(path)


def test_the_snapshot_kind_is_the_one_whose_event_pictures_the_event_log_serves(declared, tmp_path):
    from vigil.store.log import snapshot_event_dirs

    CATALOG.sinks.register(
        "pictures",
        "vigil.config.sinks:SnapshotSinkConfig",
        "vigil.sinks.snapshot:make_snapshot_sink",
        takes_events=True,
        event_pictures=True,
    )
    text = yaml("{kind: pictures, directory: a, records: [events]}").replace(
        "sinks:\n",
        "sinks:\n  - {kind: snapshot, directory: b, records: [results, events]}\n"
        "  - {kind: jsonl, path: c.jsonl, records: [events]}\n",
    )
    config = parse_config(text, "t.yaml", {})
    assert [str(d) for d in snapshot_event_dirs(config)] == ["b", "a"]
