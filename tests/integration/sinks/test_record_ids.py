"""Record ids are unique across runs: two processes give the same event and result ids of their
own, and two runs over the same clip (the same frame numbers, track ids and zones) have their
events and results all stored by a NATS JetStream stream (real nats-server), none taken for a
duplicate of the other run's; an event keeps its id wherever it goes, and duplicate
acknowledgements are counted and logged."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from tests.integration.stages.test_tracking import face_clip
from tests.support.nats_server import NatsServer, read_stream, wait_for_jetstream
from tests.support.results import T0, make_result
from vigil.config.loader import parse_config
from vigil.daemon.assemble import make_source, make_stages
from vigil.daemon.metrics import _sink_metrics
from vigil.engine import AutoModel
from vigil.events import Event
from vigil.pipeline import Pipeline, PipelineOptions
from vigil.pipeline.fanout import Outlet
from vigil.sinks.nats import NatsOptions, NatsSink
from vigil.sinks.records import record_header
from vigil.sinks.registry import build_sink
from vigil.sinks.webhook import result_id

REPO = Path(__file__).resolve().parents[3]

# What one process says the ids of the same event and result are (the same inputs every run).
_IDS = """
from datetime import datetime, timezone
from vigil.config.loader import parse_config
from vigil.daemon.metrics import _sink_metrics
from vigil.daemon.assemble import make_source, make_stages
from vigil.engine import AutoModel
from vigil.events import Event
from vigil.pipeline import Pipeline, PipelineOptions
from vigil.pipeline.fanout import Outlet
from vigil.sinks.webhook import result_id
t = datetime(2026, 11, 24, tzinfo=timezone.utc)
header = {"model": "320n", "source": "cam", "seq": 7, "capture_time": "2026-11-24T00:00:00.000000Z"}
print(Event("zone_enter", "cam", 1, "person", 0, t, 7, zone="door").event_id, result_id(header), result_id(header))
"""


def ids_of_one_process() -> tuple[str, str]:
    out = subprocess.run([sys.executable, "-c", _IDS], capture_output=True, text=True, timeout=60, cwd=REPO, check=True)
    event_id, first, again = out.stdout.split()
    assert first == again  # a result's id is the same for every sink of the process
    return event_id, first


def test_the_same_event_and_result_in_two_processes_have_different_ids():
    one, two = ids_of_one_process(), ids_of_one_process()
    assert one[0] != two[0] and one[1] != two[1]


def test_an_event_keeps_its_id_through_copies_and_its_record():
    made = Event("zone_enter", "cam", 1, "person", 0, T0, 7, zone="door")
    again = Event("zone_enter", "cam", 1, "person", 0, T0, 7, zone="door")
    assert made.event_id == made.to_record()["id"] == replace(made, clip="c.mp4").event_id
    assert again.event_id != made.event_id and again == made  # equal events, two of them
    assert len(made.event_id) == 36 and made.event_id[14] == "7"  # a UUIDv7
    header = record_header(make_result("cam", 3))
    assert result_id(header) == result_id(dict(header))


@pytest.fixture
def server(tmp_path):
    node = NatsServer(tmp_path / "nats").start()
    yield node
    node.stop()


def run_config(tmp_path: Path, model: Path, clip: Path, server: str, run: int) -> str:
    return f"""model:
  path: {model}
sources:
  - name: lobby
    url: {clip}
    tracking: {{classes: [FACE_FEMALE, FACE_MALE], track_activation_threshold: 0.5, high_confidence_threshold: 0.5}}
    zones:
      - {{name: right, polygon: [[200, 0], [640, 0], [640, 480], [200, 480]]}}
sinks:
  - {{kind: jsonl, path: {tmp_path / f"run{run}.jsonl"}, records: [results, events]}}
  - {{kind: nats, servers: ["{server}"], spool_dir: {tmp_path / "spool"}, records: [results, events]}}
"""


async def run_once(tmp_path: Path, model_path: Path, clip: Path, server: str, run: int) -> list[dict]:
    """One run as the daemon builds it (sinks, source and stages from the YAML), to the clip's end."""
    config = parse_config(run_config(tmp_path, model_path, clip, server, run), f"run{run}.yaml", {})
    sinks = [await build_sink(entry) for entry in config.sinks]
    model = AutoModel.from_pretrained(model_path)
    try:
        pipeline = Pipeline(
            model,
            [make_source(s) for s in config.sources],
            sinks,
            PipelineOptions(max_batch=4),
            stages={s.name: make_stages(s) for s in config.sources},
        )
        await pipeline.run()
    finally:
        model.close()
    assert sinks[1].stats().duplicates == 0
    return [json.loads(line) for line in (tmp_path / f"run{run}.jsonl").read_text().splitlines()]


async def test_two_runs_over_the_same_clip_share_no_id_and_jetstream_stores_both(server, nudenet_path, tmp_path):
    """Before, the second run's events had the first run's ids and JetStream dropped them as
    duplicates within its 2-minute window, while vigil counted them as published."""
    clip = face_clip(tmp_path / "face.mp4", shown=[range(60)])
    await wait_for_jetstream([server.url])
    runs = [await run_once(tmp_path, nudenet_path, clip, server.url, run) for run in (1, 2)]

    events = [[r for r in records if r.get("record") == "event"] for records in runs]
    assert [[e["type"] for e in run] for run in events] == [["object_start", "zone_enter", "zone_exit", "object_end"]] * 2
    assert [e["seq"] for e in events[0]] == [e["seq"] for e in events[1]]  # the same events...
    assert not {e["id"] for e in events[0]} & {e["id"] for e in events[1]}  # ...under ids of their own

    stored_events = await read_stream([server.url], "VIGIL", "vigil.lobby.events")
    stored_results = await read_stream([server.url], "VIGIL", "vigil.lobby.results")
    assert [msg_id for _, msg_id, _ in stored_events] == [e["id"] for run in events for e in run]  # all 8 stored
    assert [json.loads(data)["seq"] for _, _, data in stored_results] == list(range(60)) * 2
    result_ids = [msg_id for _, msg_id, _ in stored_results]
    assert len(set(result_ids)) == 120 and result_ids == [json.loads(data)["id"] for _, _, data in stored_results]


async def test_duplicate_acknowledgements_are_counted_and_logged_at_most_once_a_minute(server, tmp_path, caplog):
    await wait_for_jetstream([server.url])
    sink = NatsSink(NatsOptions((server.url,)), tmp_path / "spool", name="fleet")
    made = Event("zone_enter", "cam", 1, "person", 0, T0 + timedelta(seconds=1), 30, zone="door")
    await sink.start()
    try:
        with caplog.at_level(logging.WARNING, logger="vigil.sinks.nats"):
            for _ in range(4):  # the same record, as a spool resends it: stored once
                await sink.publish_event(made)
                await sink.flush(10)
    finally:
        await sink.close()
    assert sink.stats().duplicates == 3 and sink.delivered == 4
    exposed = {f.name: f.samples for f in _sink_metrics([Outlet(sink)])}
    assert [(s.labels, s.value) for s in exposed["vigil_sink_duplicates"]] == [({"sink": "fleet", "kind": "nats"}, 3)]
    warnings = [r.getMessage() for r in caplog.records if "duplicate" in r.getMessage()]
    assert len(warnings) == 1 and made.event_id in warnings[0] and "sink 'fleet'" in warnings[0]
    assert len(await read_stream([server.url], "VIGIL", "vigil.cam.events")) == 1
