"""MQTT topic levels made from names (a camera's, a zone's, a model's class name) never carry
what a broker refuses: a class name holding a NUL once made mosquitto drop the client at every
zone count. Against a real mosquitto started by the test: the client stays connected, and the
count arrives under a sanitized topic that the discovery config points at."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from tests.integration.sinks.test_mqtt_sink import Subscriber, sink_for
from tests.support.mosquitto import Mosquitto
from tests.support.results import T0
from vigil.events import Event
from vigil.sinks._mqtt_discovery import topic_level


@pytest.fixture
def broker(tmp_path: Path) -> Mosquitto:
    server = Mosquitto(tmp_path / "broker")
    server.start()
    yield server
    server.stop()


def entered(camera: str, tracker_id: int, class_name: str, zone: str = "yard") -> Event:
    return Event(
        type="zone_enter",
        source=camera,
        tracker_id=tracker_id,
        class_name=class_name,
        class_id=3,
        capture_time=T0 + timedelta(seconds=tracker_id),
        seq=tracker_id,
        zone=zone,
    )


@pytest.mark.parametrize(
    ("name", "level"),
    [
        ("per\0son", "per_son"),
        ("a/b", "a_b"),
        ("+#", "__"),
        ("bell\x07\x1b[0m", "bell__[0m"),
        ("", "_"),
        ("caf\u00e9 \u2603", "caf\u00e9 \u2603"),
        ("del\x7f\x85", "del__"),
        ("half\ud800", "half_"),
    ],
)
def test_a_topic_level_keeps_letters_and_spaces_and_drops_what_brokers_refuse(name, level):
    assert topic_level(name) == level


async def test_a_class_name_with_a_nul_keeps_the_client_connected_and_arrives_sanitized(broker, tmp_path):
    sink = sink_for(broker, tmp_path / "spool", discovery=True)
    topics = ["vigil/#", "homeassistant/#"]
    async with Subscriber(broker.port, topics) as sub:
        await sink.start()
        try:
            await sub.wait_for(lambda: b"online" in sub.payloads("vigil/status"))
            first = sink._conn
            await sink.publish_event(entered("gate", 1, "per\0son"))
            await sink.publish_event(entered("gate", 2, "bag+box/2"))
            await sink.flush(10)
            await sub.wait_for(
                lambda: (
                    sub.payloads("vigil/gate/zones/yard/per_son") == [b"1"]
                    and sub.payloads("vigil/gate/zones/yard/bag_box_2") == [b"1"]
                )
            )
            await sink.publish_event(entered("gate", 3, "per\0son"))  # the connection still serves
            await sink.flush(10)
            await sub.wait_for(lambda: sub.payloads("vigil/gate/zones/yard/per_son") == [b"1", b"2"])
            assert sink._conn is first and not first.lost.done()  # never dropped, never reconnected
        finally:
            await sink.close()
    assert all("\0" not in topic for topic, _, _ in sub.messages)
    events = [json.loads(p) for p in sub.payloads("vigil/gate/events")]
    assert [e["class_name"] for e in events] == ["per\0son", "bag+box/2", "per\0son"]  # the record keeps the name
    configs = {t: json.loads(p) for t, p, _ in sub.messages if t.endswith("/config") and p}
    state_topics = {c.get("state_topic") for c in configs.values()}
    assert {"vigil/gate/zones/yard/per_son", "vigil/gate/zones/yard/bag_box_2"} <= state_topics
    log = broker.log.read_text(errors="replace").lower()
    assert "malformed" not in log and "protocol error" not in log
