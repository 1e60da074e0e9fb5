"""Home Assistant MQTT discovery for the MQTT sink: the config payloads of the entities one vigil
box shows (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery), and the retained
state the sink keeps for them (camera states, zone occupancy counts, the event picture) as
cameras and zones come and go (`Entities`). Plain functions and state: the sink publishes what
they return.

Config topics are `<discovery_prefix>/<component>/<node_id>/<object_id>/config`, the node id
being the sink's client id (made safe), so two boxes never overwrite each other's entities.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

import vigil
from vigil.catalog import CATALOG
from vigil.errors import SinkError
from vigil.events import Event
from vigil.sinks.base import CameraStatus

__all__ = [
    "Discovery",
    "Entities",
    "Occupancy",
    "Owned",
    "belongs",
    "class_label",
    "event_picture",
    "safe_id",
    "state_topic",
    "topic_level",
    "zone_topic",
]

_STATES = ["connecting", "streaming", "reconnecting", "ended", "failed"]  # vigil.sources.base.SourceState
_STATE_EVERY_S = 60.0  # a camera's unchanged state is published again this often

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
# Not in a topic level: control characters (MQTT forbids U+0000, and mosquitto drops a client that
# sends it; the spec bids against the others), the wildcards, the level separator, and what is not
# UTF-8 (lone surrogates) or is a noncharacter.
_TOPIC_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f+#/\ud800-\udfff\ufffe\uffff]")


def topic_level(text: str) -> str:
    """`text` (a camera, zone or class name) as one MQTT topic level: control characters, `+`,
    `#` and `/` become `_`; an empty name is `_`.

        >>> topic_level("bag+box/2")
        'bag_box_2'
    """
    return _TOPIC_UNSAFE.sub("_", text) or "_"


def safe_id(text: str) -> str:
    """`text` as a node or object id Home Assistant accepts: letters, digits, `_` and `-`."""
    return _UNSAFE.sub("_", text)


@dataclass(frozen=True)
class Discovery:
    """The discovery configs of one sink: `prefix` is the topic prefix of vigil's own topics,
    `discovery_prefix` Home Assistant's (`homeassistant`), `client_id` names the device."""

    prefix: str
    discovery_prefix: str
    client_id: str
    snapshots: bool = True

    @property
    def availability_topic(self) -> str:
        return f"{self.prefix}/status"

    def device(self) -> dict[str, object]:
        return {
            "identifiers": [f"vigil-{self.client_id}"],
            "name": f"vigil {self.client_id}",
            "manufacturer": "vigil",
            "model": "vigil-analytics",
            "sw_version": vigil.__version__,
        }

    def camera(self, camera: str) -> dict[str, bytes]:
        """Config topic -> payload of a camera's entities: its state and fps (sensors reading the
        retained `PREFIX/<camera>/state`), its last event (an enum sensor whose options are the
        event types the catalog declares, a plugin's too, and whose attributes are the event's
        record) and, with snapshots, its latest event picture."""
        events, state = f"{self.prefix}/{topic_level(camera)}/events", state_topic(self.prefix, camera)
        configs = {
            self._topic("sensor", f"{camera}_state"): self._payload(
                f"{camera} state",
                f"{camera}_state",
                state_topic=state,
                value_template="{{ value_json.state }}",
                device_class="enum",
                options=_STATES,
                icon="mdi:video-check",
            ),
            self._topic("sensor", f"{camera}_fps"): self._payload(
                f"{camera} fps",
                f"{camera}_fps",
                state_topic=state,
                value_template="{{ value_json.fps }}",
                unit_of_measurement="fps",
                state_class="measurement",
                icon="mdi:speedometer",
            ),
            self._topic("sensor", f"{camera}_last_event"): self._payload(
                f"{camera} last event",
                f"{camera}_last_event",
                state_topic=events,
                value_template="{{ value_json.type }}",
                device_class="enum",
                options=list(CATALOG.event_types.names()),
                json_attributes_topic=events,
                icon="mdi:cctv",
            ),
        }
        if self.snapshots:
            configs[self._topic("camera", f"{camera}_snapshot")] = self._payload(
                f"{camera} snapshot",
                f"{camera}_snapshot",
                topic=snapshot_topic(self.prefix, camera),
            )
        return configs

    def zone_class(self, camera: str, zone: str, class_name: str) -> dict[str, bytes]:
        """A zone x class: an occupancy binary sensor and a count sensor, both reading the
        retained count on `PREFIX/<camera>/zones/<zone>/<class>`."""
        state = zone_topic(self.prefix, camera, zone, class_name)
        base = f"{camera}_{zone}_{class_name}"
        return {
            self._topic("binary_sensor", f"{base}_occupancy"): self._payload(
                f"{camera} {zone} {class_name} occupancy",
                f"{base}_occupancy",
                state_topic=state,
                device_class="occupancy",
                payload_on="ON",
                payload_off="OFF",
                value_template="{{ 'ON' if (value | int(0)) > 0 else 'OFF' }}",
            ),
            self._topic("sensor", f"{base}_count"): self._payload(
                f"{camera} {zone} {class_name} count",
                f"{base}_count",
                state_topic=state,
                state_class="measurement",
                unit_of_measurement="objects",
                icon="mdi:counter",
            ),
        }

    def _topic(self, component: str, object_id: str) -> str:
        return f"{self.discovery_prefix}/{component}/{safe_id(self.client_id)}/{safe_id(object_id)}/config"

    def _payload(self, name: str, object_id: str, **keys: object) -> bytes:
        config = {
            "name": name,
            "unique_id": f"vigil_{safe_id(self.client_id)}_{safe_id(object_id)}",
            "availability_topic": self.availability_topic,
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": self.device(),
            **keys,
        }
        return json.dumps(config, separators=(",", ":")).encode()


def state_topic(prefix: str, camera: str) -> str:
    return f"{prefix}/{topic_level(camera)}/state"


def snapshot_topic(prefix: str, camera: str) -> str:
    return f"{prefix}/{topic_level(camera)}/snapshot"


def belongs(prefix: str, topic: str, payload: bytes) -> tuple[str, str | None] | None:
    """The (camera, zone or None) a retained topic found at start-up is about: one of vigil's
    own (`PREFIX/<camera>/...`), or a discovery config, by the topic its payload reads. None:
    not recognised."""
    if "/config" == topic[-7:]:
        try:
            config = json.loads(payload)
            topic = str(config.get("state_topic") or config.get("topic") or "")
        except (ValueError, AttributeError):
            return None
    if not topic.startswith(f"{prefix}/"):
        return None
    levels = topic[len(prefix) + 1 :].split("/")  # a camera name holds no `/` (sources[].name)
    if len(levels) == 4 and levels[1] == "zones":
        return levels[0], levels[2]
    return (levels[0], None) if len(levels) == 2 else None


@dataclass
class Owned:
    """The retained topics this run published, by what they belong to: a camera (`(camera,)`)
    or one of its zones (`(camera, zone)`), so they can be removed when it goes."""

    topics: dict[tuple[str, ...], set[str]] = field(default_factory=dict)

    def add(self, key: tuple[str, ...], topic: str) -> None:
        self.topics.setdefault(key, set()).add(topic)

    def zones(self, camera: str) -> set[str]:
        return {key[1] for key in self.topics if len(key) == 2 and key[0] == camera}

    def cameras(self) -> set[str]:
        return {key[0] for key in self.topics}

    def drop(self, camera: str, zone: str | None = None) -> set[str]:
        """Forget a zone (or a whole camera, zones and all) and return its topics."""
        keys = [k for k in self.topics if k[0] == camera and (zone is None or k[1:] == (zone,))]
        return set().union(*(self.topics.pop(k) for k in keys))


def zone_topic(prefix: str, camera: str, zone: str, class_name: str) -> str:
    # A class name comes from the model: it may hold anything (a NUL, `+`, `#`, `/`).
    return f"{prefix}/{topic_level(camera)}/zones/{topic_level(zone)}/{topic_level(class_name)}"


@dataclass
class Occupancy:
    """Who is in each zone, from the events whose type counts an object in or out (zone_enter,
    zone_exit, object_end: their `occupancy` in the catalog, the zone the field their `area` names),
    as the daemon's metrics count it: (camera, zone) -> {tracker id: class name at its zone_enter}."""

    inside: dict[tuple[str, str], dict[int, str]] = field(default_factory=dict)

    def enter(self, camera: str, zone: str, tracker_id: int, class_name: str) -> tuple[str, str, str] | None:
        """The (camera, zone, class) whose count changed, or None (an enter already counted)."""
        members = self.inside.setdefault((camera, zone), {})
        if tracker_id in members:
            return None
        members[tracker_id] = class_name
        return camera, zone, class_name

    def exit(self, camera: str, zone: str, tracker_id: int) -> tuple[str, str, str] | None:
        class_name = self.inside.get((camera, zone), {}).pop(tracker_id, None)
        return None if class_name is None else (camera, zone, class_name)

    def end(self, camera: str, tracker_id: int) -> list[tuple[str, str, str]]:
        """An object ended: out of every zone of its camera it was still counted in."""
        changed = [self.exit(cam, zone, tracker_id) for cam, zone in list(self.inside) if cam == camera]
        return [c for c in changed if c is not None]

    def apply(self, event: Event) -> list[tuple[str, str, str]]:
        """The (camera, zone, class) counts `event` changed, as its type's declared `occupancy` says."""
        kind = CATALOG.event_types.find(event.type)
        occupancy = kind.occupancy if kind is not None else None
        zone = event.value_of(kind.area) if kind is not None and kind.area else None
        if occupancy == "enter" and zone is not None:
            entered = self.enter(event.source, str(zone), event.tracker_id, class_label(event))
            return [entered] if entered else []
        if occupancy == "exit" and zone is not None:
            left = self.exit(event.source, str(zone), event.tracker_id)
            return [left] if left else []
        if occupancy == "end":
            return self.end(event.source, event.tracker_id)
        return []

    def forget(self, camera: str, zone: str | None = None) -> None:
        for key in [k for k in self.inside if k[0] == camera and zone in (None, k[1])]:
            del self.inside[key]

    def count(self, camera: str, zone: str, class_name: str) -> int:
        return sum(1 for name in self.inside.get((camera, zone), {}).values() if name == class_name)


class Entities:
    """The retained topics and Home Assistant entities of one sink's cameras and zones, kept in
    line with the events and with the cameras the daemon tells of: `publish(topic, payload)` is
    the sink's (retained; an empty payload removes the topic). No I/O here."""

    def __init__(self, discovery: Discovery, publish: Callable[[str, bytes], None], *, announce: bool = True) -> None:
        self.discovery, self.publish, self.announce = discovery, publish, announce  # announce: discovery configs
        self.cameras: dict[str, CameraStatus] | None = None  # the latest set told (None: never told)
        self.gone: set[str] = set()  # cameras removed from the set, until they are in it again
        self._occupancy = Occupancy()
        self._known: set[tuple[str, ...]] = set()  # cameras, and zone x class, with their entities published
        self._owned = Owned()
        self._sent: dict[str, tuple[str, float, float]] = {}  # camera -> (state, fps, when) published

    def tell(self, cameras: Sequence[CameraStatus]) -> set[str]:
        """The whole current set: each camera's state and entities; what belonged to a camera
        no longer in it, or to a zone no longer among its camera's zones, removed. Returns the
        cameras removed."""
        now, before = {c.name: c for c in cameras}, self.cameras or {}
        removed = (self._owned.cameras() | {k[0] for k in self._known}) - set(now)
        for camera in removed:
            self.forget(camera)
        self.gone = (self.gone | removed) - set(now)
        for status in now.values():
            self.see(status.name)
            old = before.get(status.name)
            for zone in set(old.zones if old is not None else ()) - set(status.zones):
                self.forget(status.name, zone)
            self._state(status)
        self.cameras = now
        return removed

    def see(self, camera: str) -> None:
        """A camera's entities, once (not for one removed: its last frames come after)."""
        if (camera,) in self._known or camera in self.gone:
            return
        self._known.add((camera,))
        if self.announce:
            for topic, payload in self.discovery.camera(camera).items():
                self._own((camera,), topic, payload)

    def count(self, event: Event) -> None:
        """The zone counts `event` changed, with the entities of a zone x class seen first."""
        for camera, zone, class_name in self._occupancy.apply(event):
            if (camera, zone, class_name) not in self._known:
                self._known.add((camera, zone, class_name))
                if self.announce:
                    for topic, payload in self.discovery.zone_class(camera, zone, class_name).items():
                        self._own((camera, zone), topic, payload)
            count = str(self._occupancy.count(camera, zone, class_name)).encode()
            self._own((camera, zone), zone_topic(self.discovery.prefix, camera, zone, class_name), count)

    def picture(self, camera: str, jpeg: bytes) -> None:
        if camera not in self.gone:
            self._own((camera,), snapshot_topic(self.discovery.prefix, camera), jpeg)

    def settle(self, leftovers: dict[str, bytes], said: Container[str]) -> None:
        """What an earlier run left retained (and this one has not `said`) stays when it belongs
        to a camera and zone of the set (a count restarts at 0: nobody is counted yet), and is
        removed otherwise (all of it when no set was told)."""
        for topic, payload in leftovers.items():
            if topic in said:
                continue
            owner = belongs(self.discovery.prefix, topic, payload)
            levels = {topic_level(name): status for name, status in (self.cameras or {}).items()}  # topics hold levels
            status = levels.get(owner[0]) if owner is not None else None
            zones = {topic_level(zone): zone for zone in status.zones} if status is not None else {}
            if owner is None or status is None or (owner[1] is not None and owner[1] not in zones):
                self.publish(topic, b"")
                continue
            key = (status.name, zones[owner[1]]) if owner[1] is not None else (status.name,)
            self._own(key, topic, b"0" if self.is_count(topic) else payload)  # republished after a broker restart

    def counts(self) -> list[str]:
        """The zone count topics published."""
        return [t for key, topics in self._owned.topics.items() if len(key) == 2 for t in topics if self.is_count(t)]

    def is_count(self, topic: str) -> bool:
        owner = None if topic.endswith("/config") else belongs(self.discovery.prefix, topic, b"")
        return owner is not None and owner[1] is not None

    def forget(self, camera: str, zone: str | None = None) -> None:
        """Remove the retained topics and entities of a camera (or of one of its zones)."""
        for topic in self._owned.drop(camera, zone):
            self.publish(topic, b"")
        self._known = {k for k in self._known if k[0] != camera or (zone is not None and (len(k) < 3 or k[1] != zone))}
        self._occupancy.forget(camera, zone)
        if zone is None:
            self._sent.pop(camera, None)

    def _state(self, status: CameraStatus) -> None:
        """`PREFIX/<camera>/state` when the state changed, the fps moved by more than 0.5, or a
        minute went by: not at every tick."""
        now, last = time.monotonic(), self._sent.get(status.name)
        if last is not None and last[0] == status.state and abs(last[1] - status.fps) <= 0.5 and now - last[2] < _STATE_EVERY_S:
            return
        self._sent[status.name] = (status.state, status.fps, now)
        payload = json.dumps({"state": status.state, "fps": round(status.fps, 2)}).encode()
        self._own((status.name,), state_topic(self.discovery.prefix, status.name), payload)

    def _own(self, key: tuple[str, ...], topic: str, payload: bytes) -> None:
        self._owned.add(key, topic)
        self.publish(topic, payload)


def class_label(event: Event) -> str:
    return event.class_name if event.class_name is not None else str(event.class_id)


def event_picture(event: Event) -> bytes:
    """The event's frame as JPEG bytes, its object's box drawn in."""
    assert event.frame is not None
    image = np.ascontiguousarray(event.frame.image).copy()
    if event.box is not None:
        x0, y0, x1, y1 = (int(round(v)) for v in event.box)
        cv2.rectangle(image, (x0, y0), (x1, y1), (0, 200, 255), 2)
        label = f"{class_label(event)} #{event.tracker_id}" + (f" {event.zone}" if event.zone else "")
        cv2.putText(image, label, (x0, max(y0 - 6, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 200, 255), 1, cv2.LINE_AA)
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise SinkError(f"OpenCV could not encode the picture of event {event.event_id} as JPEG")
    return bytes(jpeg.tobytes())
