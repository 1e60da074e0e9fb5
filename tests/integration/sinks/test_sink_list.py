"""`sinks:` as a list of named instances of registered kinds: two webhooks with their own filter
and spool, a kind registered from outside vigil, the old top-level form, line-numbered errors,
the schema, and per-sink metrics."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from pydantic import BaseModel, ConfigDict, Field

from tests.integration.sinks.test_webhook_sink import Receiver
from tests.support.fake_model import FakeDetector
from tests.support.fake_source import MemorySource
from tests.support.results import ListSink, make_result
from vigil.config.loader import parse_config
from vigil.daemon.assemble import make_sinks
from vigil.daemon.metrics import PrometheusMetrics
from vigil.errors import ConfigError
from vigil.pipeline import Pipeline
from vigil.pipeline.fanout import Fanout
from vigil.pipeline.snapshot import PipelineSnapshot
from vigil.sinks.registry import SINKS, SinkContext

HEAD = "model:\n  path: m.onnx\nsources:\n  - name: cam1\n    url: cam1.mp4\n"


async def test_two_webhook_sinks_deliver_to_their_own_receivers_with_their_own_filter_and_spool(tmp_path):
    alerts_receiver, all_receiver = await Receiver().start(), await Receiver().start()
    try:
        config = parse_config(
            HEAD + "sinks:\n"
            f"  - {{kind: webhook, name: alerts, url: '{alerts_receiver.url}', spool_dir: {tmp_path / 'a'},\n"
            "     filter: {classes: [FACE_FEMALE], only_with_detections: true}}\n"
            f"  - {{kind: webhook, name: all, url: '{all_receiver.url}', spool_dir: {tmp_path / 'b'}}}\n",
            "t.yaml",
            {},
        )
        outlets = await make_sinks(config)
        assert [(o.name, o.sink.kind) for o in outlets] == [("alerts", "webhook"), ("all", "webhook")]
        fanout = Fanout(outlets)
        await fanout.start()
        for seq in range(6):  # odd frames hold a FACE_FEMALE, even ones only BELLY_EXPOSED
            await fanout.publish(make_result("cam1", seq, *(((0, 2), (0.9, 0.8)) if seq % 2 else ((2,), (0.9,)))))
        await fanout.flush()
        await fanout.close()
    finally:
        await alerts_receiver.stop()
        await all_receiver.stop()
    assert alerts_receiver.taken_by_source() == {"cam1": [1, 3, 5]}
    assert all(d["class_name"] == "FACE_FEMALE" for r in alerts_receiver.taken for d in r["detections"])
    assert all_receiver.taken_by_source() == {"cam1": list(range(6))}
    assert outlets[0].filtered == 3 and outlets[1].filtered == 0
    assert {p.parent.name for p in tmp_path.glob("*/cursor.json")} == {"a", "b"}  # a spool each


class MemorySinkConfig(BaseModel):
    """A sink kind vigil knows nothing about: results kept in a list named `label`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str = Field(min_length=1)


class MemorySink(ListSink):
    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label


MADE: list[MemorySink] = []


def make_memory_sink(config: MemorySinkConfig, context: SinkContext) -> MemorySink:
    sink = MemorySink(config.label)
    MADE.append(sink)
    return sink


@pytest.fixture
def memory_kind():
    SINKS.register("memory", MemorySinkConfig, make_memory_sink)
    MADE.clear()
    yield
    SINKS.unregister("memory")


async def test_a_sink_kind_registered_outside_vigil_runs_from_yaml_through_a_real_pipeline(memory_kind):
    config = parse_config(
        "model:\n  path: m.onnx\nsources:\n  - name: cam1\n    url: cam1.mp4\n    sinks: [mem]\n"
        "  - name: cam2\n    url: cam2.mp4\n"
        "sinks:\n"
        "  - kind: memory\n    name: mem\n    label: kept\n    filter: {min_confidence: 0.975, only_with_detections: true}\n"
        "  - kind: memory\n    name: other\n    label: rest\n",
        "t.yaml",
        {},
    )
    outlets = await make_sinks(config)
    pipeline = Pipeline(FakeDetector(), [MemorySource("cam1", 10), MemorySource("cam2", 4)], outlets)
    pipeline.routes = {"cam1": frozenset({"mem"})}
    await pipeline.run()
    mem, other = MADE
    assert (mem.name, mem.kind, mem.label, other.name) == ("mem", "memory", "kept", "other")
    # cam1 goes to mem only, whose filter keeps confidences 1.0, 0.99, 0.98 (frames 0-2)
    assert mem.seqs("cam1") == [0, 1, 2] and mem.seqs("cam2") == [0, 1, 2]
    assert other.seqs("cam1") == [] and other.seqs("cam2") == [0, 1, 2, 3]
    with pytest.raises(ConfigError, match=r"line 8: sinks\[0\].label: String should have at least 1 character"):
        parse_config(HEAD + "sinks:\n  - kind: memory\n    label: ''\n", "t.yaml", {})


def test_an_unregistered_kind_is_refused_with_the_known_ones():
    with pytest.raises(ConfigError, match=r"line 7: sinks\[0\].kind: unknown sink kind \(known: jsonl, webhook, video, snapshot"):
        parse_config(HEAD + "sinks:\n  - kind: memory\n    label: x\n", "t.yaml", {})


OLD = (
    HEAD
    + "jsonl:\n  path: r.jsonl\n  filter: {min_confidence: 0.5}\n"
    + "webhook:\n  url: https://hooks.example/x\n  spool_dir: spool\n"
    + "video:\n  directory: video\n"
)
NEW = (
    HEAD + "sinks:\n"
    "  - {kind: jsonl, path: r.jsonl, filter: {min_confidence: 0.5}}\n"
    "  - {kind: webhook, url: 'https://hooks.example/x', spool_dir: spool}\n"
    "  - {kind: video, directory: video}\n"
)


def test_the_old_top_level_sections_load_as_the_new_list():
    old, new = parse_config(OLD, "old.yaml", {}), parse_config(NEW, "new.yaml", {})
    assert old == new
    assert [(s.kind, s.name) for s in old.sinks] == [("jsonl", "jsonl"), ("webhook", "webhook"), ("video", "video")]


@pytest.mark.parametrize(
    "text, message",
    [
        (
            OLD + "sinks:\n  - {kind: jsonl, path: other.jsonl}\n",
            r"jsonl: \(the old form\) and sinks\[0\] both define the sink 'jsonl'",
        ),
        (
            OLD + "sinks:\n  - {kind: snapshot, name: webhook, directory: s}\n",
            r"webhook: \(the old form\) and sinks\[0\] both define the sink 'webhook'",
        ),
        (NEW + "  - {kind: jsonl, path: b.jsonl}\n", r"sinks\[0\] is a jsonl sink like sinks\[3\]: give each of them a name"),
        (
            NEW + "  - {kind: snapshot, name: video, directory: s}\n",
            r"sinks\[2\] and sinks\[3\] are both named 'video'; sink names must be unique",
        ),
    ],
)
def test_sink_names_are_unique_across_both_forms(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(text, "t.yaml", {})


@pytest.mark.parametrize(
    "text, message",
    [
        (NEW.replace("'https://hooks.example/x'", "ftp://x"), r"line 8: sinks\[1\].url: String should match pattern"),
        (
            HEAD + "sinks:\n  - kind: jsonl\n    path: a\n  - kind: webhook\n    name: b\n    spool_dir: s\n    url: ftp://x\n",
            r"line 12: sinks\[1\].url: String should match pattern",
        ),
        (
            HEAD + "sinks:\n  - kind: jsonl\n    path: a\n    filter:\n      cooldown: 5\n",
            r"line 10: sinks\[0\].filter.cooldown: Extra inputs are not permitted",
        ),
        (OLD.replace("https://hooks.example/x", "ftp://x"), r"line 10: webhook.url: String should match pattern"),
    ],
)
def test_an_error_inside_a_sink_names_its_place_and_line(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(text, "t.yaml", {})


def test_config_schema_lists_every_built_in_kind_with_its_fields():
    proc = subprocess.run([sys.executable, "-m", "vigil", "config", "schema"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    items = schema["properties"]["sinks"]["items"]
    assert set(items["discriminator"]["mapping"]) == {"jsonl", "webhook", "video", "snapshot", "mqtt", "nats"}
    for kind in SINKS.kinds():
        ref = items["discriminator"]["mapping"][kind.name].removeprefix("#/$defs/")
        fields = set(schema["$defs"][ref]["properties"])
        assert fields == {*kind.config.model_fields, "kind", "name", "filter", "records"}, kind.name
        assert schema["$defs"][ref]["properties"]["kind"]["const"] == kind.name


async def test_metrics_expose_each_sinks_stats_by_name_and_kind(tmp_path):
    config = parse_config(
        HEAD + f"sinks:\n  - {{kind: jsonl, name: faces, path: {tmp_path / 'f.jsonl'},\n"
        "     filter: {min_confidence: 0.85, only_with_detections: true}}\n"
        f"  - {{kind: jsonl, name: everything, path: {tmp_path / 'e.jsonl'}}}\n",
        "t.yaml",
        {},
    )
    fanout = Fanout(await make_sinks(config))
    await fanout.start()
    for seq in range(4):
        await fanout.publish(make_result("cam1", seq, (0,), (0.9 if seq < 3 else 0.5,)))
    await fanout.flush()
    metrics = PrometheusMetrics()
    metrics.observe(lambda: PipelineSnapshot({}, {}, {}), lambda: fanout.outlets)
    text = metrics.exposition().decode()
    await fanout.close()
    for line in [
        'vigil_sink_published_total{kind="jsonl",sink="faces"} 3.0',
        'vigil_sink_filtered_total{kind="jsonl",sink="faces"} 1.0',
        'vigil_sink_published_total{kind="jsonl",sink="everything"} 4.0',
        'vigil_sink_errors_total{kind="jsonl",sink="everything"} 0.0',
        'vigil_sink_backlog{kind="jsonl",sink="everything"} 0.0',
        'vigil_sink_healthy{kind="jsonl",sink="faces"} 1.0',
    ]:
        assert line in text
    assert str(tmp_path) not in text  # labels never carry a path or URL


def named(name: str) -> ListSink:
    sink = ListSink()
    sink.name = name
    return sink


async def test_replacing_sinks_by_name_adds_removes_and_swaps_in_place():
    a, b, c = named("a"), named("b"), named("c")
    fanout = Fanout([a, b, c])
    await fanout.start()
    b2, d = named("b"), named("d")
    await fanout.replace({"b": b2, "c": None, "d": d})
    assert fanout.sinks == [a, b2, d]  # b keeps its place, c is gone, d comes last
    await fanout.publish(make_result("cam1", 0))
    assert [len(s.results) for s in (a, b, b2, c, d)] == [1, 0, 1, 0, 1]
    await fanout.close()
