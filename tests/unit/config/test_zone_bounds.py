"""Bounded work per camera's shapes (issue 26, item 6): polygons of at most MAX_POINTS corners,
at most MAX_ZONES zones and MAX_LINES lines, wherever they come from (the YAML, the API, its
state file), and a self-intersection check that agrees with the pair-by-pair definition."""

from __future__ import annotations

import json
import logging
import math
import random

import pytest
from pydantic import ValidationError

from vigil.api.state import StreamLayer
from vigil.config import SourceConfig
from vigil.config.motion import MotionConfig
from vigil.config.zones import MAX_LINES, MAX_POINTS, MAX_ZONES, ZonesStageConfig, _orient, _overlap_adjacent, self_intersection


def circle(n: int, r: float = 500.0) -> list[list[float]]:
    """A simple (never crossing) polygon of `n` corners: the worst case of a pairwise check."""
    return [[1000 + r * math.cos(2 * math.pi * k / n), 1000 + r * math.sin(2 * math.pi * k / n)] for k in range(n)]


def camera(**extra: object) -> dict:
    return {"name": "gate", "url": "rtsp://127.0.0.1:9/s", **extra}


def test_a_polygon_of_4000_points_is_refused_naming_the_bound():
    with pytest.raises(ValidationError, match=rf"zones\.0\.polygon\n  List should have at most {MAX_POINTS} items"):
        SourceConfig.model_validate(camera(zones=[{"name": "huge", "polygon": circle(4000)}]))


def test_a_polygon_at_the_bound_loads():
    config = SourceConfig.model_validate(camera(zones=[{"name": "round", "polygon": circle(MAX_POINTS)}]))
    assert len(config.zones[0].polygon) == MAX_POINTS


@pytest.mark.parametrize(
    "entry, where",
    [
        (camera(zones=[{"name": f"z{i}", "polygon": circle(3)} for i in range(MAX_ZONES + 1)]), "zones"),
        (camera(lines=[{"name": f"l{i}", "start": [0, i], "end": [9, i]} for i in range(MAX_LINES + 1)]), "lines"),
        (
            camera(stages=[{"kind": "zones", "zones": [{"name": f"z{i}", "polygon": circle(3)} for i in range(MAX_ZONES + 1)]}]),
            "stages",
        ),
        (camera(motion={"enabled": True, "masks": [{"polygon": circle(MAX_POINTS + 1)}]}), "motion"),
    ],
)
def test_too_many_shapes_or_corners_anywhere_are_refused(entry, where):
    with pytest.raises(ValidationError, match=rf"{where}.*\n  List should have at most \d+ items"):
        SourceConfig.model_validate(entry)


def test_a_zones_stage_has_the_same_bounds():
    with pytest.raises(ValidationError, match="List should have at most"):
        ZonesStageConfig.model_validate({"zones": [{"name": "z", "polygon": circle(MAX_POINTS + 1)}]})
    assert MotionConfig.model_validate({"masks": [{"polygon": circle(MAX_POINTS)}]}).masks


def _on_segment(a, b, p) -> bool:
    return min(a[0], b[0]) <= p[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])


def _meet(a, b, c, d) -> bool:
    o1, o2, o3, o4 = _orient(a, b, c), _orient(a, b, d), _orient(c, d, a), _orient(c, d, b)
    if ((o1 > 0 > o2) or (o1 < 0 < o2)) and ((o3 > 0 > o4) or (o3 < 0 < o4)):
        return True
    return (
        (o1 == 0 and _on_segment(a, b, c))
        or (o2 == 0 and _on_segment(a, b, d))
        or (o3 == 0 and _on_segment(c, d, a))
        or (o4 == 0 and _on_segment(c, d, b))
    )


def pairwise(polygon):
    """The definition: the first pair of edges, in order, that meet other than at their shared corner."""
    n = len(polygon)
    edges = [(polygon[i], polygon[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                if _overlap_adjacent(edges[i], edges[j]):
                    return i, j
            elif _meet(*edges[i], *edges[j]):
                return i, j
    return None


def test_the_vectorised_check_finds_the_same_first_crossing_as_the_pairwise_definition():
    rng = random.Random(26)
    crossing = 0
    for _ in range(2000):  # small grids: many collinear, touching and repeated corners
        polygon = [(float(rng.randint(0, 6)), float(rng.randint(0, 6))) for _ in range(rng.randint(3, 14))]
        expected = pairwise(polygon)
        assert self_intersection(polygon) == expected, polygon
        crossing += expected is not None
    for n in (4, 5, 70, MAX_POINTS):  # more rows than one block of the vectorised check
        polygon = [tuple(p) for p in circle(n)]
        assert self_intersection(polygon) is None and pairwise(polygon) is None
        polygon[n - 3], polygon[n - 2] = polygon[n - 2], polygon[n - 3]  # a bow tie near the end
        assert self_intersection(polygon) == pairwise(polygon) is not None
    assert 200 < crossing < 2000  # both kinds were tried


def _state(tmp_path, streams: dict) -> StreamLayer:
    path = tmp_path / "api-streams.json"
    path.write_text(json.dumps({"version": 1, "streams": streams}))
    return StreamLayer.load(path)


def test_an_oversized_stream_in_the_state_file_is_left_out_by_name_and_the_rest_loads(tmp_path, caplog):
    streams = {
        "good": {"source": camera(name="good", zones=[{"name": "z", "polygon": circle(8)}]), "yaml": None},
        "huge": {"source": camera(name="huge", zones=[{"name": "z", "polygon": circle(4000)}]), "yaml": None},
        "crowded": {
            "source": camera(
                name="crowded", lines=[{"name": f"l{i}", "start": [0, i], "end": [9, i]} for i in range(MAX_LINES + 1)]
            ),
            "yaml": None,
        },
    }
    with caplog.at_level(logging.ERROR, logger="vigil.api.state"):
        layer = _state(tmp_path, streams)
    assert [(s.name, origin) for s, origin in layer.apply([])] == [("good", "api")]
    refused = [r.getMessage() for r in caplog.records]
    assert len(refused) == 2, refused
    assert "stream 'huge' refused and left out (zones.0.polygon: List should have at most 100 items" in refused[0]
    assert "stream 'crowded' refused and left out (lines: List should have at most 32 items" in refused[1]
    assert all("the other streams load" in message for message in refused)


def test_a_state_file_stream_is_held_to_what_the_api_may_open_today(tmp_path, caplog):
    """A file stream saved by an older vigil, or before api.allowed_media changed, is not trusted
    for having been saved: it is left out with the API's one refusal, cameras and allowed files load."""
    from vigil.api.media import StreamPolicy

    media = tmp_path / "media"
    media.mkdir()
    (media / "clip.mp4").write_bytes(b"")
    streams = {
        "cam": {"source": camera(name="cam"), "yaml": None},
        "passwd": {"source": {"name": "passwd", "url": "/etc/passwd"}, "yaml": None},
        "allowed": {"source": {"name": "allowed", "url": str(media / "clip.mp4")}, "yaml": None},
    }
    path = tmp_path / "api-streams.json"
    path.write_text(json.dumps({"version": 1, "streams": streams}))
    assert sorted(s.name for s, _ in StreamLayer.load(path).apply([])) == ["allowed", "cam", "passwd"]  # no policy: as saved
    policy = StreamPolicy(allowed_media=(str(media),))
    with caplog.at_level(logging.ERROR, logger="vigil.api.state"):
        layer = StreamLayer.load(path, policy)
    assert sorted(s.name for s, _ in layer.apply([])) == ["allowed", "cam"]
    assert [r.getMessage() for r in caplog.records] == [
        f"API state file {path}: stream 'passwd' refused and left out: {policy.refusal()}"
    ]
