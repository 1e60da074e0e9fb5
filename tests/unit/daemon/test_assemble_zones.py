"""`sources[].zones` / `lines` become a `zones` stage right after the source's tracking stage."""

from __future__ import annotations

from vigil.config import SourceConfig
from vigil.daemon.assemble import make_stages
from vigil.stages.filter import FilterStage
from vigil.stages.zones import ZoneStage

LINE = {"name": "door", "start": [0, 0], "end": [10, 10]}
ZONE = {"name": "yard", "polygon": [[0, 0], [9, 0], [9, 9]]}


def kinds(**source):
    config = SourceConfig.model_validate({"name": "cam", "url": "a.mp4", **source})
    return [type(stage).__name__ for stage in make_stages(config)]


def test_zones_and_lines_make_one_zones_stage_after_tracking_and_before_the_listed_stages():
    assert kinds(lines=[LINE], zones=[ZONE], stages=[{"kind": "filter"}]) == ["TrackingStage", "ZoneStage", "FilterStage"]


def test_the_zones_stage_follows_a_tracking_stage_listed_in_stages():
    listed = [{"kind": "filter"}, {"kind": "tracking"}, {"kind": "filter"}]
    assert kinds(zones=[ZONE], stages=listed) == ["FilterStage", "TrackingStage", "ZoneStage", "FilterStage"]


def test_the_zones_stage_holds_the_sources_zones_and_lines():
    config = SourceConfig.model_validate({"name": "cam", "url": "a.mp4", "zones": [ZONE], "lines": [LINE]})
    [stage] = [s for s in make_stages(config) if isinstance(s, ZoneStage)]
    assert [z.name for z in stage.config.zones] == ["yard"] and [line.name for line in stage.config.lines] == ["door"]
    assert not any(isinstance(s, FilterStage) for s in make_stages(config))


def test_a_source_without_zones_or_lines_gets_no_zones_stage():
    assert "ZoneStage" not in kinds(stages=[{"kind": "filter"}])
