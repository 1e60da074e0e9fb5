"""Stages: per-source processing of results between the model and the sinks (`base.Stage`),
one module per kind (`filter`), declared in the catalog (`vigil.catalog.builtin`; made by
`registry.build_stages`); the pipeline runs a source's stages as a chain (`vigil.pipeline.chain`)."""

from vigil.stages.base import Stage, StageContext, StageOutput

__all__ = ["Stage", "StageContext", "StageOutput"]
