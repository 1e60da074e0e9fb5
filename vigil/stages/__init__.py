"""Stages: per-source processing of results between the model and the sinks (`base.Stage`),
one module per kind (`filter`), registered in `registry.STAGES`; the pipeline runs a source's
stages as a chain (`vigil.pipeline.chain`)."""

from vigil.stages.base import Stage, StageContext, StageOutput
from vigil.stages.registry import STAGES

__all__ = ["STAGES", "Stage", "StageContext", "StageOutput"]
