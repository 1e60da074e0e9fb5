"""The NATS JetStream sink against real nats-server processes (Debian's, started on free loopback
ports by the tests, each with its own store): records read back with JetStream consumers, the
de-duplication across a SIGKILL of the publishing process, a 3-node cluster losing a node and
then restarting whole while records keep coming, a wrong password, and a real pipeline with the
real model making zone events from a YAML config."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import nats
import pytest

from tests.integration.sinks.test_events_out import EveryThird
from tests.integration.stages.test_tracking import face_clip
from tests.support.fake_model import FakeDetector
from tests.support.fake_source import MemorySource
from tests.support.nats_server import NatsCluster, NatsServer, read_stream, wait_for_jetstream
from tests.support.results import T0, make_result
from vigil.config.loader import parse_config
from vigil.daemon.assemble import make_source, make_stages
from vigil.daemon.readiness import readiness
from vigil.engine import AutoModel
from vigil.errors import ConfigError, MissingDependencyError
from vigil.events import Event
from vigil.pipeline import Pipeline, PipelineOptions
from vigil.sinks._delivery import RetryTimings
from vigil.sinks._http import Backoff
from vigil.sinks._nats_wire import subject_token
from vigil.sinks.durable import DeliveryOptions
from vigil.sinks.nats import NatsOptions, NatsSink
from vigil.sinks.records import record_header
from vigil.sinks.registry import build_sink
from vigil.sinks.webhook import result_id

REPO = Path(__file__).resolve().parents[3]
PUBLISHER = REPO / "tests" / "support" / "nats_publisher.py"


def event(source: str, seq: int, kind: str = "zone_enter") -> Event:
    return Event(kind, source, seq % 7, "FACE_FEMALE", 0, T0 + timedelta(seconds=seq / 30), seq, confidence=0.8, zone="door")


def options(servers: list[str], **kw: object) -> NatsOptions:
    return NatsOptions(tuple(servers), **kw)  # type: ignore[arg-type]


FAST = DeliveryOptions(timings=RetryTimings(Backoff(0.05, 0.5), probe_after_s=0.2, probe_interval_s=0.2))


@pytest.fixture
def server(tmp_path):
    node = NatsServer(tmp_path / "nats").start()
    yield node
    node.stop()


async def test_events_and_results_arrive_once_each_on_their_camera_subjects(server, tmp_path):
    await wait_for_jetstream([server.url])
    sink = NatsSink(options([server.url]), tmp_path / "spool", name="fleet")
    made = {seq: event("front door.1", seq) for seq in (0, 4, 8, 12, 16)}
    await sink.start()
    try:
        for seq in range(20):
            await sink.publish(make_result("front door.1", seq))
            if seq in made:
                await sink.publish_event(made[seq])
        await sink.flush(10)
        await sink.publish_event(made[0])  # the same event again, later: the same id
        await sink.flush(10)
    finally:
        await sink.close()
    assert sink.delivered == 26 and sink.backlog == 0
    assert subject_token("front door.1") == "front_door_1"

    events = await read_stream([server.url], "VIGIL", "vigil.front_door_1.events")
    results = await read_stream([server.url], "VIGIL", "vigil.front_door_1.results")
    assert [json.loads(data)["seq"] for _, _, data in events] == [0, 4, 8, 12, 16]
    assert [msg_id for _, msg_id, _ in events] == [e.event_id for e in made.values()]
    assert [json.loads(data)["seq"] for _, _, data in results] == list(range(20))
    assert [msg_id for _, msg_id, _ in results] == [result_id(record_header(make_result("front door.1", s))) for s in range(20)]
    assert sink.duplicates == sink.stats().duplicates == 1  # the second copy of event 0: a duplicate, not stored

    nc = await nats.connect(server.url)
    try:
        info = await nc.jetstream().stream_info("VIGIL")
    finally:
        await nc.close()
    assert info.state.messages == 25
    assert info.config.subjects == ["vigil.>"] and info.config.storage == "file"
    assert info.config.max_age == pytest.approx(7 * 86_400) and info.config.duplicate_window == pytest.approx(120)


def run_publisher(*args: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(PUBLISHER), *map(str, args)], stdout=subprocess.PIPE, text=True)


async def test_records_resent_after_a_sigkill_are_stored_once(server, tmp_path):
    """JetStream stored a batch, the process was SIGKILLed before its spool acked it: the restarted
    process sends the batch again and the stream's duplicate window drops every copy."""
    await wait_for_jetstream([server.url])
    spool = tmp_path / "spool"
    first = run_publisher(server.url, spool, 100, "--hang-after", 40)
    try:
        line = await asyncio.wait_for(asyncio.to_thread(first.stdout.readline), 20)  # type: ignore[union-attr]
        _, total, batch = line.split()
        assert int(total) >= 40 and int(batch) >= 1
    finally:
        first.kill()  # SIGKILL
        first.wait(5)
        first.stdout.close()  # type: ignore[union-attr]
    assert any(spool.iterdir())

    second = run_publisher(server.url, spool, 100)
    out, _ = await asyncio.to_thread(second.communicate, timeout=30)
    assert second.returncode == 0
    _, delivered, duplicates = out.split()
    # The unacked batch again, and what the first process never sent.
    assert int(delivered) == 100 - int(total) + int(batch)
    assert int(duplicates) == int(batch)

    stored = await read_stream([server.url], "VIGIL", "vigil.cam.events")
    ids = [msg_id for _, msg_id, _ in stored]
    assert len(ids) == len(set(ids)) == 100
    assert [json.loads(data)["seq"] for _, _, data in stored] == list(range(100))


@pytest.fixture
def cluster(tmp_path):
    nodes = NatsCluster(tmp_path / "cluster").start()
    yield nodes
    nodes.stop()


async def until(condition, timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_a_cluster_losing_a_node_then_restarting_whole_loses_no_event_and_keeps_camera_order(cluster, tmp_path):
    await wait_for_jetstream(cluster.urls)
    sink = NatsSink(
        options(cluster.urls, replicas=3, publish_timeout_s=2.0, connect_timeout_s=1.0, delivery=FAST),
        tmp_path / "spool",
        name="fleet",
    )
    cameras = ("cam-a", "cam/b")

    async def produce(seqs: range) -> None:
        for seq in seqs:
            for camera in cameras:
                await sink.publish_event(event(camera, seq))
            await asyncio.sleep(0.004)

    await sink.start()
    try:
        await produce(range(100))
        await until(lambda: sink.connected_url is not None and sink.delivered >= 100, 15, "the first events stored")
        (victim,) = [node for node in cluster.nodes if node.url == sink.connected_url]
        victim.kill()  # the node the sink publishes through
        await produce(range(100, 200))
        await until(lambda: sink.delivered >= 300, 20, "events stored with one node down")
        victim.start()
        cluster.kill()  # the whole cluster, while events keep coming
        await produce(range(200, 300))
        assert sink.backlog > 0  # spooled meanwhile
        cluster.start()
        await produce(range(300, 400))
        await sink.flush(40)
    finally:
        await sink.close()
    assert sink.backlog == 0

    stored = await read_stream(cluster.urls, "VIGIL", "vigil.*.events")
    first_seen: dict[str, list[int]] = defaultdict(list)
    ids: set[str] = set()
    for _, msg_id, data in stored:
        record = json.loads(data)
        if msg_id not in ids:
            ids.add(msg_id)
            first_seen[record["source"]].append(record["seq"])
    assert len(ids) == 800  # 0 lost
    assert len(stored) == 800  # and each stored once
    assert first_seen == {camera: list(range(400)) for camera in cameras}


async def test_a_wrong_password_is_a_clear_error_while_the_other_sinks_keep_serving(tmp_path, caplog):
    server = NatsServer(tmp_path / "nats", user="vigil", password="right-horse-battery").start()
    try:
        await wait_for_jetstream([server.url], user="vigil", password="right-horse-battery")
        (tmp_path / "right").write_text("right-horse-battery\n")
        (tmp_path / "wrong").write_text("wrong-donkey-staple\n")
        text = f"""model: {{path: unused.onnx}}
sources: [{{name: cam, url: cam.mp4}}]
sinks:
  - {{kind: jsonl, name: frames, path: {tmp_path / "frames.jsonl"}}}
  - {{kind: nats, name: fleet, servers: ["{server.url}"], user: vigil, password_file: {tmp_path / "right"},
     spool_dir: {tmp_path / "fleet"}, records: [events], retry_initial_s: 0.05, retry_max_s: 0.5}}
  - {{kind: nats, name: typo, servers: ["{server.url}"], user: vigil, password_file: {tmp_path / "wrong"},
     spool_dir: {tmp_path / "typo"}, records: [events], retry_initial_s: 0.05, retry_max_s: 0.5}}
"""
        config = parse_config(text, "fleet.yaml", {})
        sinks = [await build_sink(entry) for entry in config.sinks]
        pipeline = Pipeline(
            FakeDetector(),
            [MemorySource("cam", frames=30)],
            sinks,
            PipelineOptions(max_batch=4),
            stages={"cam": [EveryThird("cam")]},
        )
        with caplog.at_level(logging.DEBUG):
            await pipeline.run()
        ready = readiness(pipeline).model_dump()  # the answer as the API sends it, in Python
        stored = await read_stream([server.url], "VIGIL", "vigil.cam.events", user="vigil", password="right-horse-battery")
    finally:
        server.stop()

    assert len((tmp_path / "frames.jsonl").read_text().splitlines()) == 30
    assert [json.loads(data)["seq"] for _, _, data in stored] == list(range(0, 30, 3))
    assert ready["checks"]["sinks"]["fleet"]["ok"] and ready["checks"]["sinks"]["frames"]["ok"]
    typo = ready["checks"]["sinks"]["typo"]
    assert not typo["ok"] and "refused the credentials" in typo["reason"] and "password_file" in typo["reason"]
    assert typo["published"] == 0
    assert any(
        "10 undelivered result(s) kept in spool" in r.getMessage() and "typo" in r.getMessage() for r in caplog.records
    )  # for when the password is fixed
    assert any(
        r.levelno == logging.ERROR and "sink 'typo'" in r.getMessage() and "refused the credentials" in r.getMessage()
        for r in caplog.records
    )
    shown = caplog.text + json.dumps(ready)
    assert "wrong-donkey-staple" not in shown and "right-horse-battery" not in shown


async def test_a_camera_with_a_zone_sends_its_events_through_the_real_model_to_jetstream(server, nudenet_path, tmp_path):
    clip = face_clip(tmp_path / "face.mp4", shown=[range(60)])
    text = f"""model:
  path: {nudenet_path}
sources:
  - name: lobby.cam
    url: {clip}
    tracking: {{classes: [FACE_FEMALE, FACE_MALE], track_activation_threshold: 0.5, high_confidence_threshold: 0.5}}
    zones:
      - {{name: right, polygon: [[200, 0], [640, 0], [640, 480], [200, 480]]}}
sinks:
  - {{kind: jsonl, path: {tmp_path / "out.jsonl"}, records: [results, events]}}
  - {{kind: nats, servers: ["{server.url}"], subject_prefix: site1.vigil, stream: SITE1, spool_dir: {tmp_path / "spool"},
     records: [results, events]}}
"""
    await wait_for_jetstream([server.url])
    config = parse_config(text, "cam.yaml", {})
    sinks = [await build_sink(entry) for entry in config.sinks]
    model = AutoModel.from_pretrained(nudenet_path)
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

    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    events = await read_stream([server.url], "SITE1", "site1.vigil.lobby_cam.events")
    results = await read_stream([server.url], "SITE1", "site1.vigil.lobby_cam.results")
    expected = [r for r in records if r.get("record") == "event"]
    assert [e["type"] for e in expected] == ["object_start", "zone_enter", "zone_exit", "object_end"]
    assert [json.loads(data) for _, _, data in events] == expected
    assert [msg_id for _, msg_id, _ in events] == [e["id"] for e in expected]
    assert [json.loads(data)["seq"] for _, _, data in results] == list(range(60))
    sent = [json.loads(data) for _, _, data in results]
    assert [{k: v for k, v in r.items() if k != "id"} for r in sent] == [r for r in records if "record" not in r]
    assert [r["id"] for r in sent] == [msg_id for _, msg_id, _ in results]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("servers: ['nats://vigil:hunter2hunter2@127.0.0.1:4222']", "holds credentials"),
        ("servers: ['http://127.0.0.1:4222']", "nats://HOST[:PORT] or tls://HOST[:PORT]"),
        ("servers: ['nats://127.0.0.1:4222'], user: vigil", "user and password_file go together"),
        ("servers: ['nats://127.0.0.1:4222'], token_file: /t, credentials_file: /c", "authenticate one way only"),
        ("servers: ['nats://127.0.0.1:4222'], ca_file: /ca.pem", "ca_file is given without tls"),
        ("servers: ['nats://127.0.0.1:4222'], subject_prefix: 'vigil.>'", "subject_prefix"),
        ("servers: []", "servers"),
    ],
)
def test_a_wrong_nats_entry_is_refused_with_what_to_do(entry, message, tmp_path):
    text = (
        f"model: {{path: unused.onnx}}\nsources: [{{name: cam, url: cam.mp4}}]\nsinks:\n"
        f"  - {{kind: nats, {entry}, spool_dir: {tmp_path}}}\n"
    )
    with pytest.raises(ConfigError) as info:
        parse_config(text, "fleet.yaml", {})
    assert message in str(info.value) and "line 4" in str(info.value)
    assert "hunter2" not in str(info.value)


async def test_a_token_file_logs_in_and_a_wrong_token_is_refused(tmp_path):
    token = "0123456789abcdef0123456789abcdef"
    server = NatsServer(tmp_path / "nats", token=token).start()
    try:
        await wait_for_jetstream([server.url], token=token)
        (tmp_path / "token").write_text(token + "\n")
        (tmp_path / "old-token").write_text("fedcba9876543210fedcba9876543210\n")
        sinks = []
        for name, path in (("good", tmp_path / "token"), ("stale", tmp_path / "old-token")):
            text = f"""model: {{path: unused.onnx}}
sources: [{{name: cam, url: cam.mp4}}]
sinks: [{{kind: nats, name: {name}, servers: ["{server.url}"], token_file: {path}, spool_dir: {tmp_path / name},
         retry_initial_s: 0.05, retry_max_s: 0.2}}]
"""
            sinks.append(await build_sink(parse_config(text, "t.yaml", {}).sinks[0]))
        for sink in sinks:
            await sink.start()
            await sink.publish(make_result("cam", 0))
        await sinks[0].flush(10)
        await sinks[1].flush(10)  # returns once the token is refused
        health = [sink.health() for sink in sinks]
        for sink in sinks:
            await sink.close()
        stored = await read_stream([server.url], "VIGIL", "vigil.cam.results", token=token)
    finally:
        server.stop()
    assert [json.loads(data)["seq"] for _, _, data in stored] == [0]
    assert health[0].ok and not health[1].ok and "refused the credentials" in (health[1].reason or "")
    assert token not in (health[1].reason or "") and "fedcba98" not in (health[1].reason or "")


async def test_without_nats_py_the_sink_says_which_extra_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "nats", None)  # what a missing package looks like to import
    sink = NatsSink(options(["nats://127.0.0.1:4222"]), tmp_path / "spool")
    with pytest.raises(MissingDependencyError, match=r"pip install 'vigil-analytics\[nats\]'"):
        await sink.start()


async def test_a_stream_the_server_cannot_create_makes_the_sink_unhealthy_with_the_reason(server, tmp_path):
    await wait_for_jetstream([server.url])
    delivery = DeliveryOptions(timings=FAST.timings, unhealthy_after_s=0.5)
    sink = NatsSink(options([server.url], replicas=3, delivery=delivery), tmp_path / "spool", name="fleet")
    await sink.start()
    try:
        await sink.publish_event(event("cam", 0))
        await until(lambda: not sink.health().ok, 10, "the sink to turn unhealthy")
        reason = sink.health().reason or ""
    finally:
        await sink.close()
    assert "refused to create stream 'VIGIL'" in reason and "check replicas" in reason
    assert sink.delivered == 0
