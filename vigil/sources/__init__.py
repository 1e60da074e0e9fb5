"""Frames in: sources turn cameras and files into `Frame`s."""

from vigil.sources.base import Source, SourceState, SourceStats
from vigil.sources.file import FileSource
from vigil.sources.webcam import WebcamSource

__all__ = ["FileSource", "Source", "SourceState", "SourceStats", "WebcamSource"]
