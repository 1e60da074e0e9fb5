"""The process: wiring sources, engine and sinks into a running pipeline, and the CLI."""

from vigil.daemon.pipeline import Pipeline, PipelineOptions, PipelineReport

__all__ = ["Pipeline", "PipelineOptions", "PipelineReport"]
