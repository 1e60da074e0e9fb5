"""The `zones` stage hands its zones and lines to the picture sinks as overlays: in the frame's
pixels, with the objects inside each zone and each line's crossings counted as the events go."""

from __future__ import annotations

import numpy as np

from tests.unit.stages.test_zones_stage import VERTICAL, result, walk
from vigil.config.zones import ZonesStageConfig
from vigil.result import InferenceResult
from vigil.sinks.records import result_to_record
from vigil.stages.base import StageContext
from vigil.stages.zones import ZoneStage

RIGHT = {"name": "right", "polygon": [[400, 0], [640, 0], [640, 480], [400, 480]]}


def stage(**config: object) -> ZoneStage:
    return ZoneStage(ZonesStageConfig.model_validate(config), StageContext("cam"))


def out(stage_: ZoneStage, res: InferenceResult) -> InferenceResult:
    output = stage_.process(res)
    assert output.result is not None
    return output.result


def test_overlays_are_the_zones_and_lines_in_pixels_of_the_frame_size():
    zones = stage(zones=[{**RIGHT, "polygon": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]], "normalized": True}], lines=[VERTICAL])
    small = out(zones, result(0, [], image=np.zeros((240, 320, 3), np.uint8)))
    (zone, line) = small.overlays
    assert (zone.name, zone.kind, zone.points) == ("right", "zone", ((160, 0), (320, 0), (320, 240), (160, 240)))
    assert (line.name, line.kind, line.points) == ("door", "line", ((320, 0), (320, 240)))  # clipped to the frame
    big = out(zones, result(1, []))
    assert big.overlays[0].points == ((320, 0), (640, 0), (640, 480), (320, 480))


def test_overlay_texts_count_objects_inside_a_zone_and_crossings_in_and_out():
    zones = stage(zones=[RIGHT], lines=[VERTICAL], min_seen_s=0.2, lost_s=1.0)
    xs = list(range(200, 520, 20)) + list(range(500, 180, -20))
    texts = [tuple(o.text for o in out(zones, res).overlays) for res in (result(i, f) for i, f in enumerate(walk(xs)))]
    assert texts[0] == ("0 inside", "in 0 out 0")
    right_turn = xs.index(500)
    assert texts[right_turn] == ("1 inside", "in 1 out 0")  # crossed the line, then entered the zone
    assert texts[-1] == ("0 inside", "in 1 out 1")  # back out of the zone and across the line


def test_overlays_leave_the_result_record_unchanged():
    zones = stage(zones=[RIGHT], lines=[VERTICAL])
    plain = result(0, [(1, (300, 300))])
    drawn = out(zones, plain)
    assert drawn.overlays and not plain.overlays
    assert result_to_record(drawn) == result_to_record(plain)
