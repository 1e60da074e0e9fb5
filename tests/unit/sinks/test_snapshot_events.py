"""The snapshot sink's choices for events, without writing: the crop's region (margin, whole
pixels, clipped to the frame), the box's label, and which event types it is set to save."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import photo
from tests.support.results import T0
from vigil.config.loader import parse_config
from vigil.errors import ConfigError
from vigil.events import Event
from vigil.sinks.snapshot import SnapshotSink, crop_box, event_label


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return photo("astronaut")  # 512x512


@pytest.mark.parametrize(
    ("box", "region"),  # region: (top, bottom, left, right) of the crop in the image
    [
        ((100, 50, 200, 250), (30, 270, 90, 210)),  # 10% of 100 wide, 10% of 200 high, each side
        ((100.4, 50.6, 199.5, 249.2), (30, 270, 90, 210)),  # out to whole pixels: never smaller
        ((5, 0, 105, 100), (0, 110, 0, 115)),  # past the top-left corner: clipped
        ((450, 480, 510, 512), (476, 512, 444, 512)),  # past the bottom-right corner: clipped
    ],
)
def test_the_crop_is_the_box_grown_by_a_tenth_on_each_side_and_clipped(astronaut, box, region):
    top, bottom, left, right = region
    crop = crop_box(astronaut, box)
    assert crop is not None
    assert np.array_equal(crop, astronaut[top:bottom, left:right])


@pytest.mark.parametrize("box", [(600, 10, 700, 50), (-90, -90, -50, -50), (100, 100, 100, 100)])
def test_a_box_with_nothing_inside_the_frame_has_no_crop(astronaut, box):
    assert crop_box(astronaut, box) is None


def _event(**fields) -> Event:
    base = dict(type="zone_enter", source="cam", tracker_id=7, class_name="person", class_id=0, capture_time=T0, seq=3)
    return Event(**{**base, **fields})


@pytest.mark.parametrize(
    ("fields", "label"),
    [
        ({"type": "object_start"}, "person #7"),
        ({"zone": "yard"}, "person #7 zone yard"),
        ({"type": "line_cross", "line": "door", "direction": "in"}, "person #7 line door in"),
        ({"class_name": None, "class_id": 12}, "12 #7"),
    ],
)
def test_an_events_box_is_labelled_with_class_track_and_zone_or_line(fields, label):
    assert event_label(_event(**fields)) == label


def test_unknown_event_types_are_refused_naming_them(tmp_path):
    with pytest.raises(ConfigError, match="event_types has unknown type.*zone_entered.*known: object_start"):
        SnapshotSink(tmp_path, event_types=["object_end", "zone_entered"])


def test_event_types_in_the_yaml_default_to_every_type_and_are_checked_with_their_line(tmp_path):
    def config(extra: str):
        return parse_config(
            f"""model: {{path: m.onnx}}
sources: [{{name: cam, url: cam.mp4}}]
sinks:
  - kind: snapshot
    directory: {tmp_path}
    records: [events]{extra}
""",
            "cam.yaml",
            {},
        )

    assert config("").sinks[0].event_types is None
    assert config("\n    event_types: [object_end, dwell]").sinks[0].event_types == {"object_end", "dwell"}
    with pytest.raises(ConfigError, match=r"line 7.*event_types"):
        config("\n    event_types: [object_end, entering]")
