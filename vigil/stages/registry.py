"""Stages by kind: the catalog's stage section (`STAGES`) and `build_stages`.

    from vigil.stages.registry import STAGES
    STAGES.register("counter", CounterConfig, "my_package.counter:CounterStage")

The built-in kinds are declared in `vigil.catalog.builtin`. A factory is called as
`factory(config, context)` (`config`: the entry validated by the kind's config class, without
`kind`; `context`: a `StageContext` naming the source) and returns a `Stage`, once per source.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from vigil.catalog import CATALOG, Registry, StageKind
from vigil.stages.base import Stage, StageContext

if TYPE_CHECKING:
    from vigil.clips import ClipRecorder
    from vigil.config.stages import StageSpec

__all__ = ["STAGES", "build_stages"]

STAGES: Registry[StageKind] = CATALOG.stages


def build_stages(specs: Iterable[StageSpec], source: str, clips: ClipRecorder | None = None) -> list[Stage]:
    """The stages of one source, in order: each made by its kind's factory, fresh state;
    `clips`: the source's clip recorder, for the stage that makes object events."""
    context = StageContext(source, clips)
    return [STAGES.make(spec.kind, spec.config, context) for spec in specs]
