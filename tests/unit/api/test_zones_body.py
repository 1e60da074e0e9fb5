"""`PUT /api/v1/streams/{name}/zones` parses its body into `ZonesBody` (each shape checked there)
and then the camera's whole configuration (what holds between the shapes: names used once), with
the messages the YAML gives; its answer is the typed `Zones`, the shapes as they were sent."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from tests.unit.api.control_doubles import NothingRunning
from vigil.api.app import make_app
from vigil.config import SourceConfig

WRITE = {"X-Vigil-Console": "1"}
SQUARE = [[0, 0], [100, 0], [100, 100], [0, 100]]


class OneCamera(NothingRunning):
    def __init__(self) -> None:
        self.config = SourceConfig(name="door", url="rtsp://127.0.0.1:9/door")
        self.staged: list[SourceConfig] = []

    def source_config(self, name: str) -> SourceConfig | None:
        return self.config if name == "door" else None

    def frame_size(self, name: str) -> tuple[int, int] | None:
        return (320, 240)

    async def set_source_stages(self, config: SourceConfig) -> None:
        self.staged.append(config)
        self.config = config


async def put(body: object) -> tuple[int, dict, OneCamera]:
    control = OneCamera()
    async with TestClient(TestServer(make_app(control))) as client:
        response = await client.put("/api/v1/streams/door/zones", json=body, headers=WRITE)
        return response.status, await response.json(), control


async def test_the_shapes_are_applied_and_answered_as_sent():
    zone = {"name": "porch", "polygon": SQUARE, "classes": ["person"]}
    line = {"name": "sill", "start": [0, 230], "end": [320, 230]}
    status, answer, control = await put({"zones": [zone], "lines": [line]})
    assert status == 200, answer
    assert [z.name for z in control.staged[0].zones] == ["porch"] and [x.name for x in control.staged[0].lines] == ["sill"]
    assert control.staged[0].url == "rtsp://127.0.0.1:9/door"  # the rest of the camera kept
    assert answer["width"] == 320 and answer["height"] == 240
    assert {k: answer["zones"][0][k] for k in zone} == zone and answer["lines"][0]["start"] == [0, 230]


async def test_a_bad_shape_is_named_with_the_yamls_message():
    bow = {"name": "bow", "polygon": [[0, 0], [100, 100], [100, 0], [0, 100]]}
    status, answer, control = await put({"zones": [bow]})
    assert status == 422 and control.staged == []
    assert answer["error"].startswith("zones.0: zone 'bow': the polygon crosses itself (edge "), answer


async def test_too_many_zones_and_a_name_used_twice_are_refused():
    many = [{"name": f"z{n}", "polygon": SQUARE} for n in range(33)]
    status, answer, _ = await put({"zones": many})
    assert status == 422 and answer["error"] == "zones: List should have at most 32 items after validation, not 33"
    twice = [{"name": "porch", "polygon": SQUARE}, {"name": "porch", "polygon": SQUARE}]
    status, answer, _ = await put({"zones": twice})
    assert status == 422 and answer["error"] == "zone name 'porch' is used twice; names must be unique", answer


async def test_a_body_with_other_keys_keeps_its_message():
    status, answer, _ = await put({"zones": [], "cameras": 1})
    assert status == 422
    assert answer == {"error": 'the body must be a JSON object {"zones": [...], "lines": [...]} and nothing else'}
