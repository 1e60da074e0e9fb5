"""The runtime: frames from sources are batched (`batcher`), run through the model's three
stages and handed to the sinks (`runner.Pipeline`); an observer hears what happens
(`observer`), a report sums it up (`report`) and a snapshot gives its gauges (`snapshot`)."""

from vigil.pipeline.observer import PipelineObserver
from vigil.pipeline.report import PipelineReport, SourceReport
from vigil.pipeline.runner import FrameModel, Pipeline, PipelineOptions
from vigil.pipeline.snapshot import PipelineSnapshot, SourceSnapshot

__all__ = [
    "FrameModel",
    "Pipeline",
    "PipelineObserver",
    "PipelineOptions",
    "PipelineReport",
    "PipelineSnapshot",
    "SourceReport",
    "SourceSnapshot",
]
