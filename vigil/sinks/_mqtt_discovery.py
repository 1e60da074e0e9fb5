"""Home Assistant MQTT discovery for the MQTT sink: the config payloads of the entities one vigil
box shows (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery), and the retained
state the sink keeps for them (zone occupancy counts, the event picture). Plain functions and
state: the sink publishes what they return.

Config topics are `<discovery_prefix>/<component>/<node_id>/<object_id>/config`, the node id
being the sink's client id (made safe), so two boxes never overwrite each other's entities.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import cv2
import numpy as np

import vigil
from vigil.errors import SinkError
from vigil.events import Event

__all__ = ["Discovery", "Occupancy", "class_label", "event_picture", "safe_id", "zone_topic"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


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
        """Config topic -> payload of a camera's entities: its last event (a sensor whose
        attributes are the event's record) and, with snapshots, its latest event picture."""
        events = f"{self.prefix}/{camera}/events"
        configs = {
            self._topic("sensor", f"{camera}_last_event"): self._payload(
                f"{camera} last event", f"{camera}_last_event",
                state_topic=events, value_template="{{ value_json.type }}", json_attributes_topic=events,
                icon="mdi:cctv",
            ),
        }
        if self.snapshots:
            configs[self._topic("camera", f"{camera}_snapshot")] = self._payload(
                f"{camera} snapshot", f"{camera}_snapshot", topic=f"{self.prefix}/{camera}/snapshot",
            )
        return configs

    def zone_class(self, camera: str, zone: str, class_name: str) -> dict[str, bytes]:
        """A zone x class: an occupancy binary sensor and a count sensor, both reading the
        retained count on `PREFIX/<camera>/zones/<zone>/<class>`."""
        state = zone_topic(self.prefix, camera, zone, class_name)
        base = f"{camera}_{zone}_{class_name}"
        return {
            self._topic("binary_sensor", f"{base}_occupancy"): self._payload(
                f"{camera} {zone} {class_name} occupancy", f"{base}_occupancy",
                state_topic=state, device_class="occupancy", payload_on="ON", payload_off="OFF",
                value_template="{{ 'ON' if (value | int(0)) > 0 else 'OFF' }}",
            ),
            self._topic("sensor", f"{base}_count"): self._payload(
                f"{camera} {zone} {class_name} count", f"{base}_count",
                state_topic=state, state_class="measurement", unit_of_measurement="objects", icon="mdi:counter",
            ),
        }

    def _topic(self, component: str, object_id: str) -> str:
        return f"{self.discovery_prefix}/{component}/{safe_id(self.client_id)}/{safe_id(object_id)}/config"

    def _payload(self, name: str, object_id: str, **keys: str) -> bytes:
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


def zone_topic(prefix: str, camera: str, zone: str, class_name: str) -> str:
    # `+`, `#` and `/` cannot be in a topic level; a class name may hold them.
    return f"{prefix}/{camera}/zones/{zone}/{class_name.replace('/', '_').replace('+', '_').replace('#', '_')}"


@dataclass
class Occupancy:
    """Who is in each zone, from zone_enter / zone_exit / object_end events (as the daemon's
    metrics count it): (camera, zone) -> {tracker id: class name at its zone_enter}."""

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
        """The (camera, zone, class) counts `event` changed."""
        if event.type == "zone_enter" and event.zone is not None:
            entered = self.enter(event.source, event.zone, event.tracker_id, class_label(event))
            return [entered] if entered else []
        if event.type == "zone_exit" and event.zone is not None:
            left = self.exit(event.source, event.zone, event.tracker_id)
            return [left] if left else []
        if event.type == "object_end":
            return self.end(event.source, event.tracker_id)
        return []

    def count(self, camera: str, zone: str, class_name: str) -> int:
        return sum(1 for name in self.inside.get((camera, zone), {}).values() if name == class_name)


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
