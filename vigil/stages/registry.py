"""The stage registry: every kind a `sources[].stages` entry may name, with its config class and
factory.

    from vigil.stages.registry import STAGES
    STAGES.register("tracker", TrackerConfig, "vigil.stages.tracker:ByteTrackStage")

A factory is called as `factory(config, context)` (`config`: the entry validated by the kind's
config class, without `kind`; `context`: a `StageContext` naming the source) and returns a
`Stage`, once per source. The config schema, `vigil check` and assembly read this registry; a
kind registered from outside vigil is usable in the YAML from then on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from vigil.registry import Registry
from vigil.stages.base import Stage, StageContext
from vigil.config.zones import ZonesStageConfig
from vigil.stages.filter import FilterStageConfig
from vigil.stages.tracking import TrackingStageConfig

if TYPE_CHECKING:
    from vigil.clips import ClipRecorder
    from vigil.config.stages import StageSpec

__all__ = ["STAGES", "build_stages"]

STAGES: Registry[Stage] = Registry("stage")
STAGES.register("filter", FilterStageConfig, "vigil.stages.filter:FilterStage")
STAGES.register("zones", ZonesStageConfig, "vigil.stages.zones:ZoneStage")
STAGES.register("tracking", TrackingStageConfig, "vigil.stages.tracking:TrackingStage")


def build_stages(specs: Iterable[StageSpec], source: str, clips: ClipRecorder | None = None) -> list[Stage]:
    """The stages of one source, in order: each made by its kind's factory, fresh state;
    `clips`: the source's clip recorder, for the stage that makes object events."""
    context = StageContext(source, clips)
    return [STAGES.make(spec.kind, spec.config, context) for spec in specs]
