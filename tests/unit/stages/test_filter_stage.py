"""The `filter` stage: built through the registry from a `stages:` entry, one per source."""

from __future__ import annotations

from tests.support.results import make_result
from vigil.config import SourceConfig
from vigil.stages.filter import FilterStage
from vigil.stages.registry import build_stages


def test_the_filter_stage_keeps_named_classes_and_drops_empty_results():
    config = SourceConfig.model_validate(
        {
            "name": "cam",
            "url": "a.mp4",
            "stages": [{"kind": "filter", "classes": ["FACE_MALE", 0], "min_confidence": 0.5, "only_with_detections": True}],
        }
    )
    [stage] = build_stages(config.stages, "cam")
    assert isinstance(stage, FilterStage)
    kept = stage.process(make_result("cam", 0, class_ids=[0, 1, 2], confidences=[0.9, 0.4, 0.9]))
    assert kept is not None and kept.detections.class_id.tolist() == [0]  # FACE_MALE too weak, class 2 not named
    assert stage.process(make_result("cam", 1, class_ids=[2], confidences=[0.9])) is None


def test_each_source_gets_its_own_filter_state():
    config = SourceConfig.model_validate({"name": "cam", "url": "a.mp4", "stages": [{"kind": "filter", "cooldown_s": 10}]})
    [a], [b] = build_stages(config.stages, "a"), build_stages(config.stages, "b")
    assert a is not b
    assert a.process(make_result("a", 0)) is not None and a.process(make_result("a", 1)) is None  # cooling down
    assert b.process(make_result("b", 1)) is not None  # b's state is its own


def test_the_stage_entry_dumps_back_to_its_yaml_form():
    config = SourceConfig.model_validate({"name": "cam", "url": "a.mp4", "stages": [{"kind": "filter", "classes": [3]}]})
    dumped = config.model_dump(mode="json")["stages"]
    assert dumped == [
        {
            "kind": "filter",
            "classes": [3],
            "min_confidence": 0.0,
            "only_with_detections": False,
            "cooldown_s": 0.0,
            "attached": None,
        }
    ]
    assert SourceConfig.model_validate(config.model_dump(mode="json")) == config
