"""The MQTT sink against a real mosquitto started by the tests: events and results arrive in
order with their documented records, retained state and Home Assistant discovery follow the
events and the cameras the sink is told of (a camera or zone that goes away takes its entities
with it), discovery configs stay after close with the status `offline`, a broker killed mid-run
loses nothing, and a wrong password is a clear error while the other sinks of the pipeline keep
writing."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import numpy as np
import pytest
from pydantic import ValidationError

from tests.integration.stages.test_tracking import face_clip
from tests.support.mosquitto import Mosquitto
from tests.support.results import T0, make_result
from vigil import Frame
from vigil.config.loader import parse_config
from vigil.config.sinks import MqttSinkConfig
from vigil.daemon.assemble import make_source, make_stages
from vigil.engine import AutoModel
from vigil.errors import MissingDependencyError
from vigil.events import Event
from vigil.pipeline import Pipeline, PipelineOptions
from vigil.sinks._delivery import RetryTimings
from vigil.sinks._http import Backoff
from vigil.sinks.base import CameraStatus
from vigil.sinks.durable import DeliveryOptions
from vigil.sinks.mqtt import MqttOptions, MqttSink
from vigil.sinks.registry import build_sink

PASSWORD = "correct-horse-battery"
WRONG = "wrong-staple-9f3a"


@pytest.fixture
def broker(tmp_path: Path) -> Mosquitto:
    server = Mosquitto(tmp_path / "broker")
    server.start()
    yield server
    server.stop()


class Subscriber:
    """A test-side client collecting (topic, payload, retain) of what it is subscribed to; it
    reconnects at once when the broker goes away (QoS 0: the broker writes each message straight
    to the socket, nothing waits in the broker's memory for an acknowledgement)."""

    def __init__(self, port: int, topics: list[str], **login: Any) -> None:
        self.port, self.topics, self.login = port, topics, login
        self.messages: list[tuple[str, bytes, bool]] = []
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Subscriber:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.connected.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client("127.0.0.1", self.port, timeout=2, **self.login) as client:  # type: ignore[arg-type]
                    for topic in self.topics:
                        await client.subscribe(topic, qos=0)
                    self.connected.set()
                    async for message in client.messages:
                        payload = bytes(message.payload)  # type: ignore[arg-type]
                        self.messages.append((str(message.topic), payload, bool(message.retain)))
            except aiomqtt.MqttError:
                self.connected.clear()
                await asyncio.sleep(0.02)

    def payloads(self, topic: str) -> list[bytes]:
        return [payload for t, payload, _ in self.messages if t == topic]

    async def wait_for(self, check, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
        deadline = asyncio.get_running_loop().time() + timeout
        while not check():
            assert asyncio.get_running_loop().time() < deadline, f"timed out; got {len(self.messages)} message(s)"
            await asyncio.sleep(0.02)


async def retained(port: int, topics: list[str], wait: float = 0.5, **login: str) -> dict[str, bytes]:
    """What the broker keeps retained under `topics` now, as a new subscriber sees it."""
    got: dict[str, bytes] = {}
    async with aiomqtt.Client("127.0.0.1", port, timeout=2, **login) as client:  # type: ignore[arg-type]
        for topic in topics:
            await client.subscribe(topic)

        async def collect() -> None:
            async for message in client.messages:
                if message.retain:
                    got[str(message.topic)] = bytes(message.payload)  # type: ignore[arg-type]

        try:
            await asyncio.wait_for(collect(), wait)
        except asyncio.TimeoutError:
            pass
    return got


def sink_for(broker: Mosquitto, spool: Path, *, retry_initial_s: float = 0.2, **options: object) -> MqttSink:
    timings = RetryTimings(Backoff(initial_s=retry_initial_s, max_s=2.0), probe_after_s=3600.0)
    delivery = DeliveryOptions(timings=timings, unhealthy_after_s=1.0, close_grace_s=5.0)
    return MqttSink(
        MqttOptions("127.0.0.1", broker.port, client_id="box1", delivery=delivery, **options),  # type: ignore[arg-type]
        spool,
        name="mqtt",
    )


def event(camera: str, n: int, kind: str = "object_start", zone: str | None = None, frame: Frame | None = None) -> Event:
    return Event(
        type=kind,
        source=camera,
        tracker_id=n,
        class_name="person",
        class_id=0,  # type: ignore[arg-type]
        capture_time=T0 + timedelta(seconds=n / 10),
        seq=n,
        confidence=0.87,
        zone=zone,
        box=(10.0, 12.0, 40.0, 44.0),
        frame=frame,
    )


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_events_and_results_arrive_in_order_per_camera_with_their_documented_records(broker, tmp_path, protocol):
    sink = sink_for(broker, tmp_path / "spool", discovery=False, protocol=protocol)
    async with Subscriber(broker.port, ["vigil/+/events", "vigil/+/results"]) as sub:
        await sink.start()
        sent = {cam: [event(cam, n) for n in range(150)] for cam in ("gate", "yard")}
        for n in range(150):
            for cam in ("gate", "yard"):
                await sink.publish_event(sent[cam][n])
        await sink.publish(make_result("gate", 7))
        await sink.flush(20)
        await sub.wait_for(lambda: len(sub.messages) >= 301)
        await sink.close()
    for cam in ("gate", "yard"):
        assert [json.loads(p) for p in sub.payloads(f"vigil/{cam}/events")] == [e.to_record() for e in sent[cam]]
    (result,) = [json.loads(p) for p in sub.payloads("vigil/gate/results")]
    assert (result["source"], result["seq"], result["model"]) == ("gate", 7, "320n")
    assert [d["class_name"] for d in result["detections"]] == ["FACE_FEMALE", "BELLY_EXPOSED"]
    assert sink.stats().published == 301 and sink.backlog == 0


# What Home Assistant requires of the discovery configs vigil publishes (its MQTT discovery
# schema, the keys vigil uses): a JSON-schema-like table checked key by key.
COMMON = {"name": str, "unique_id": str, "availability_topic": str, "device": dict}
REQUIRED = {
    "binary_sensor": {
        **COMMON,
        "state_topic": str,
        "device_class": str,
        "payload_on": str,
        "payload_off": str,
        "value_template": str,
    },
    "sensor": {**COMMON, "state_topic": str},
    "camera": {**COMMON, "topic": str},
}
DEVICE = {"identifiers": list, "name": str, "manufacturer": str, "model": str, "sw_version": str}


def check_discovery(topic: str, config: dict[str, object]) -> str:
    component = topic.split("/")[1]
    for key, kind in REQUIRED[component].items():
        assert isinstance(config.get(key), kind), f"{topic}: {key} missing or not {kind.__name__}"
    device = config["device"]
    assert isinstance(device, dict)
    for key, kind in DEVICE.items():
        assert isinstance(device.get(key), kind), f"{topic}: device.{key} missing"
    assert device["identifiers"] == ["vigil-box1"] and device["manufacturer"] == "vigil"
    assert config["availability_topic"] == "vigil/status"
    return component


async def test_retained_state_and_discovery_follow_the_events_and_stay_after_close(broker, tmp_path):
    image = np.full((120, 160, 3), 90, np.uint8)
    frame = Frame("gate", 3, 0.1, T0, image)
    # What a run that died without closing left: a count of objects long gone, a zone's configs.
    stale = {"vigil/gate/zones/old/person": b"3", "homeassistant/sensor/box1/gate_old_person_count/config": b"{}"}
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:
        for topic, payload in stale.items():
            await client.publish(topic, payload, qos=1, retain=True)
    sink = sink_for(broker, tmp_path / "spool")
    await sink.start()
    await sink.cameras([CameraStatus("gate", "streaming", 5.0, ("door",))])  # zone 'old' is gone
    for n in (1, 2):
        await sink.publish_event(event("gate", n, "zone_enter", "door", frame))
    await sink.publish_event(event("gate", 1, "zone_exit", "door"))
    await sink.flush(10)
    everything = ["vigil/#", "homeassistant/#"]

    async def settled() -> dict[str, bytes]:
        for _ in range(50):
            state = await retained(broker.port, everything, 0.3)
            if state.get("vigil/gate/zones/door/person") == b"1" and "vigil/gate/snapshot" in state:
                return state
        raise AssertionError(f"retained state never settled: {sorted(state)}")

    state = await settled()
    assert not set(stale) & set(state)  # cleared: zone 'old' is not among the camera's zones
    assert state["vigil/status"] == b"online"
    assert json.loads(state["vigil/gate/state"]) == {"state": "streaming", "fps": 5.0}
    assert state["vigil/gate/snapshot"].startswith(b"\xff\xd8")  # a JPEG
    configs = {t: json.loads(p) for t, p in state.items() if t.startswith("homeassistant/")}
    components = sorted(check_discovery(t, c) for t, c in configs.items())
    assert components == ["binary_sensor", "camera", "sensor", "sensor", "sensor", "sensor"]
    assert len({c["unique_id"] for c in configs.values()}) == 6
    fps = configs["homeassistant/sensor/box1/gate_fps/config"]
    assert (fps["state_topic"], fps["unit_of_measurement"], fps["state_class"]) == ("vigil/gate/state", "fps", "measurement")
    camera_state = configs["homeassistant/sensor/box1/gate_state/config"]
    assert camera_state["device_class"] == "enum" and "reconnecting" in camera_state["options"]
    (occupancy,) = [c for t, c in configs.items() if t.startswith("homeassistant/binary_sensor/")]
    assert occupancy["device_class"] == "occupancy"
    assert occupancy["state_topic"] == "vigil/gate/zones/door/person"

    # A restarted broker (no persistence) has nothing retained: the sink publishes it all again.
    broker.kill()
    broker.start()
    await sink.publish_event(event("gate", 9))  # the sender finds the connection gone and reconnects
    await sink.flush(10)
    assert (await settled())["vigil/gate/zones/door/person"] == b"1"

    await sink.close()
    after = await retained(broker.port, everything, 0.5)
    # Home Assistant's convention: the entities stay, unavailable while the status says offline.
    assert after["vigil/status"] == b"offline"
    assert {t: json.loads(p) for t, p in after.items() if t.startswith("homeassistant/")} == configs
    assert after["vigil/gate/zones/door/person"] == b"0"  # nobody is counted by a closed sink


async def test_an_idle_sink_says_online_again_after_a_broker_restart(broker, tmp_path):
    sink = sink_for(broker, tmp_path / "spool")
    await sink.start()
    try:
        async with Subscriber(broker.port, ["vigil/status"]) as sub:
            await sub.wait_for(lambda: sub.payloads("vigil/status") == [b"online"])
        broker.kill()
        broker.start()  # empty: nothing retained
        async with Subscriber(broker.port, ["vigil/status"]) as sub:  # no event is published meanwhile
            await sub.wait_for(lambda: b"online" in sub.payloads("vigil/status"), timeout=10)
        assert sink.health().ok
    finally:
        await sink.close()


async def test_a_broker_killed_mid_run_and_restarted_loses_no_event_and_keeps_the_order(broker, tmp_path):
    # The sender's first retry waits at least 1 s, so the test's subscriber is back before it.
    sink = sink_for(broker, tmp_path / "spool", retry_initial_s=2.0, discovery=False)
    total = 600
    sent = [event("gate", n) for n in range(total)]
    async with Subscriber(broker.port, ["vigil/gate/events"]) as sub:
        await sink.start()

        async def produce() -> None:
            for e in sent:
                await sink.publish_event(e)
                await asyncio.sleep(0.005)

        producer = asyncio.create_task(produce())
        await sub.wait_for(lambda: len(sub.messages) >= 100)
        broker.kill()
        killed_at = len(sub.messages)
        await asyncio.sleep(0.3)
        broker.start()
        await asyncio.wait_for(sub.connected.wait(), 5)
        await producer
        await sink.flush(25)
        ids = [json.loads(p)["id"] for p in sub.payloads("vigil/gate/events")]
        await sub.wait_for(lambda: len(set(json.loads(p)["id"] for p in sub.payloads("vigil/gate/events"))) >= total)
        await sink.close()
    ids = [json.loads(p)["id"] for p in sub.payloads("vigil/gate/events")]
    first_arrivals = list(dict.fromkeys(ids))
    assert first_arrivals == [e.event_id for e in sent]  # none lost, in order (resent ones are duplicates)
    assert killed_at < total and sink.stats().errors >= 1  # the kill did land mid-run


async def test_a_wrong_password_is_a_clear_error_while_the_other_sinks_keep_writing(nudenet_path, tmp_path, caplog):
    server = Mosquitto(tmp_path / "broker", users={"vigil": PASSWORD})
    server.start()
    try:
        await _run_pipeline_with_a_good_and_a_bad_login(server, nudenet_path, tmp_path, caplog)
    finally:
        server.stop()


async def _run_pipeline_with_a_good_and_a_bad_login(  # type: ignore[no-untyped-def]
    server: Mosquitto, nudenet_path: Path, tmp_path: Path, caplog
) -> None:
    clip = face_clip(tmp_path / "face.mp4", shown=[range(100)])
    (tmp_path / "good").write_text(PASSWORD + "\n")
    (tmp_path / "bad").write_text(WRONG + "\n")
    out = tmp_path / "events.jsonl"
    mqtt = f"{{kind: mqtt, host: 127.0.0.1, port: {server.port}, username: vigil, records: [events]"
    text = f"""model:
  path: {nudenet_path}
sources:
  - name: cam
    url: {clip}
    tracking: {{classes: [FACE_FEMALE, FACE_MALE], track_activation_threshold: 0.5, high_confidence_threshold: 0.5}}
    zones:
      - {{name: right, polygon: [[400, 0], [640, 0], [640, 480], [400, 480]]}}
sinks:
  - {mqtt}, name: good, password_file: {tmp_path / "good"}, spool_dir: {tmp_path / "spool-good"}}}
  - {mqtt}, name: bad, password_file: {tmp_path / "bad"}, spool_dir: {tmp_path / "spool-bad"}, unhealthy_after_s: 1}}
  - {{kind: jsonl, path: {out}, records: [events]}}
"""
    config = parse_config(text, "cam.yaml", {})
    sinks = {entry.name: await build_sink(entry) for entry in config.sinks}
    model = AutoModel.from_pretrained(nudenet_path)
    caplog.set_level(logging.INFO)
    async with Subscriber(server.port, ["vigil/cam/events"], username="vigil", password=PASSWORD) as sub:
        try:
            pipeline = Pipeline(
                model,
                [make_source(s) for s in config.sources],
                list(sinks.values()),
                PipelineOptions(max_batch=4),
                stages={s.name: make_stages(s) for s in config.sources},
            )
            await pipeline.run()
        finally:
            model.close()
        events = [json.loads(line) for line in out.read_text().splitlines()]
        assert [e["type"] for e in events][:2] == ["object_start", "zone_enter"] and events[-1]["type"] == "object_end"
        await sub.wait_for(lambda: len(sub.payloads("vigil/cam/events")) >= len(events))
    assert [json.loads(p) for p in sub.payloads("vigil/cam/events")] == events  # the good login: same records, same order
    bad = sinks["bad"].health()
    assert not bad.ok and bad.reason is not None
    assert "refused the login of user 'vigil'" in bad.reason and "password_file" in bad.reason
    assert sinks["good"].health().ok
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("sink 'bad'" in m and "refused the login" in m for m in errors)
    logged = "\n".join(r.getMessage() for r in caplog.records) + bad.reason + str(sinks["bad"].stats())
    assert WRONG not in logged and PASSWORD not in logged
    kept = f"sink 'bad': {len(events)} undelivered result(s) kept in spool"
    assert any(kept in r.getMessage() for r in caplog.records)  # for when the login works


async def test_without_aiomqtt_the_sink_names_the_extra_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "aiomqtt", None)
    sink = MqttSink(MqttOptions("127.0.0.1"), tmp_path / "spool", name="ha")
    with pytest.raises(MissingDependencyError, match=r"sink 'ha' needs aiomqtt.*pip install 'vigil-analytics\[mqtt\]'"):
        await sink.start()
    await sink.close()


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"password_file": "/etc/vigil/pw"}, "password_file is given without username"),
        ({"ca_file": "/etc/vigil/ca.pem"}, "ca_file is given without tls"),
        ({"topic_prefix": "vigil/#"}, "topic_prefix"),
        ({"topic_prefix": "vigil/"}, "topic_prefix"),
        ({"qos": 0}, "qos"),
        ({"protocol": "3"}, "protocol"),
    ],
)
def test_the_config_refuses_what_cannot_work(keys, message):
    with pytest.raises(ValidationError, match=message):
        MqttSinkConfig(host="broker.lan", spool_dir="/var/lib/vigil/mqtt", **keys)


async def test_tls_with_the_brokers_ca_delivers_and_without_it_refuses_to_connect(tmp_path):
    server = Mosquitto(tmp_path / "broker", tls=True)
    server.start()
    try:
        assert server.ca_file is not None
        trusted = sink_for(server, tmp_path / "spool", tls=True, ca_file=str(server.ca_file), discovery=False)
        tls = aiomqtt.TLSParameters(ca_certs=str(server.ca_file))
        async with Subscriber(server.port, ["vigil/gate/events"], tls_params=tls) as sub:
            await trusted.start()
            sent = event("gate", 1)
            await trusted.publish_event(sent)
            await trusted.flush(10)
            await sub.wait_for(lambda: len(sub.messages) == 1)
            await trusted.close()
        assert json.loads(sub.messages[0][1])["id"] == sent.event_id
        # The system's CAs do not know the test's: the certificate check fails, nothing is sent.
        untrusted = sink_for(server, tmp_path / "spool-2", tls=True, discovery=False)
        assert not await untrusted.probe()
        plain = sink_for(server, tmp_path / "spool-3", discovery=False, connect_timeout_s=1.0)  # no TLS to a TLS port
        assert not await plain.probe()
    finally:
        server.stop()


def topics_of(state: dict[str, bytes], *names: str) -> set[str]:
    """The topics in `state` that belong to entity or topic names starting with one of `names`
    (`gate_porch_`: a zone's configs; `vigil/yard/`: a camera's own topics)."""
    return {t for t in state if any(n in t for n in names)}


async def test_a_camera_or_zone_that_goes_away_takes_its_retained_topics_and_entities(broker, tmp_path):
    frame = Frame("yard", 3, 0.1, T0, np.full((120, 160, 3), 90, np.uint8))
    sink = sink_for(broker, tmp_path / "spool")
    await sink.start()
    everything = ["vigil/#", "homeassistant/#"]
    try:
        await sink.cameras([CameraStatus("gate", "streaming", 4.0, ("door", "porch")), CameraStatus("yard", "connecting")])
        await sink.publish_event(event("gate", 1, "zone_enter", "door"))
        await sink.publish_event(event("gate", 2, "zone_enter", "porch"))
        await sink.publish_event(event("yard", 3, frame=frame))
        await sink.flush(10)
        gone = ("/yard/", "/yard_", "gate_porch_", "/zones/porch/")
        for _ in range(50):
            before = await retained(broker.port, everything, 0.3)
            if len(topics_of(before, *gone)) == 9 and "vigil/gate/zones/door/person" in before:
                break
        # yard: state, snapshot, and the state, fps, last event and snapshot entities; porch: two entities and a count.
        assert len(topics_of(before, *gone)) == 9, sorted(before)
        async with Subscriber(broker.port, everything) as sub:
            await sub.wait_for(lambda: len(sub.messages) >= len(before))
            await sink.cameras([CameraStatus("gate", "streaming", 4.2, ("door",))])
            await sub.wait_for(lambda: all(b"" in sub.payloads(t) for t in topics_of(before, *gone)))
            # A removed camera's last frames, published after its removal, do not bring its entities back.
            await sink.publish_event(event("yard", 4, "zone_enter", "lawn", frame))
            await sink.flush(10)
            await sub.wait_for(lambda: len(sub.payloads("vigil/yard/events")) == 1)
        after = await retained(broker.port, everything, 0.5)
        assert not topics_of(after, *gone)  # a new subscriber (Home Assistant restarting) sees none of them
        assert set(after) == set(before) - topics_of(before, *gone)  # gate and its door stay
        assert json.loads(after["vigil/gate/state"])["fps"] == 4.0  # moved by less than 0.5: not published again
        await sink.cameras([CameraStatus("gate", "reconnecting", 0.0, ("door",))])
        await sink.flush(5)
        for _ in range(30):
            state = json.loads((await retained(broker.port, ["vigil/gate/state"], 0.2)).get("vigil/gate/state", b"{}"))
            if state.get("state") == "reconnecting":
                break
        assert state == {"state": "reconnecting", "fps": 0.0}
    finally:
        await sink.close()


async def test_a_restart_keeps_the_entities_of_cameras_still_there_and_removes_the_others(broker, tmp_path):
    first = sink_for(broker, tmp_path / "spool")
    await first.start()
    await first.cameras([CameraStatus("gate", "streaming", 4.0, ("door",)), CameraStatus("yard", "streaming", 4.0)])
    await first.publish_event(event("gate", 1, "zone_enter", "door"))
    await first.flush(10)
    everything = ["vigil/#", "homeassistant/#"]
    for _ in range(50):
        before = await retained(broker.port, everything, 0.3)
        if before.get("vigil/gate/zones/door/person") == b"1" and "vigil/yard/state" in before:
            break
    await first.close()
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:  # as if the first run had died with one inside
        await client.publish("vigil/gate/zones/door/person", b"2", qos=1, retain=True)
    kept = {t for t in before if "gate" in t and t.startswith("homeassistant/")}
    assert len(kept) == 6  # state, fps, last event, snapshot; door occupancy and count
    async with Subscriber(broker.port, everything) as sub:
        second = sink_for(broker, tmp_path / "spool")
        await second.start()
        await second.cameras([CameraStatus("gate", "streaming", 4.0, ("door",))])
        try:
            await sub.wait_for(lambda: b"" in sub.payloads("homeassistant/sensor/box1/yard_fps/config"))
            await sub.wait_for(lambda: sub.payloads("vigil/gate/zones/door/person")[-1:] == [b"0"])
            assert not [t for t in kept if b"" in sub.payloads(t)]  # gate's entities never vanished
        finally:
            await second.close()
    after = await retained(broker.port, everything, 0.5)
    assert kept <= set(after) and not topics_of(after, "yard")
