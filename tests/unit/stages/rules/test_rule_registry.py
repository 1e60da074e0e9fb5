"""Which rules a zones stage is made of: the built-in ones its config asks for, lifecycle first,
by name; a name is registered once and the built-in ones stay."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.stages.rules.scene import LINE, ZONE
from vigil.config.zones import ZonesStageConfig
from vigil.stages.base import StageContext
from vigil.stages.rules import register_rule, rule_names, unregister_rule
from vigil.stages.rules.lifecycle import LifecycleRule
from vigil.stages.zones import ZoneStage


@pytest.mark.parametrize(
    "config, names",
    [
        ({}, ["lifecycle"]),
        ({"zones": [ZONE]}, ["lifecycle", "zones"]),
        ({"lines": [LINE]}, ["lifecycle", "lines"]),
        ({"zones": [{**ZONE, "dwell_s": 5}], "lines": [LINE]}, ["lifecycle", "zones", "lines", "dwell"]),
        ({"zones": [ZONE], "dwell_s": 5}, ["lifecycle", "zones", "dwell"]),
    ],
)
def test_the_stage_composes_the_rules_its_config_asks_for(config: dict[str, Any], names: list[str]):
    stage = ZoneStage(ZonesStageConfig.model_validate(config), StageContext("cam"))
    assert [name for name, _ in stage.rules] == names
    assert isinstance(stage.rules[0][1], LifecycleRule)


def test_the_builtin_rules_are_named_in_their_order():
    assert rule_names()[:4] == ("lifecycle", "zones", "lines", "dwell")


def test_a_rule_name_is_registered_once_and_builtin_rules_stay():
    with pytest.raises(ValueError, match="'zones' is registered already"):
        register_rule("zones", LifecycleRule)
    with pytest.raises(ValueError, match="built in"):
        unregister_rule("lifecycle")
    assert "lifecycle" in rule_names()
