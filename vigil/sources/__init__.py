"""Frames in: sources turn cameras and files into `Frame`s."""

from vigil.sources.base import Source, SourceState, SourceStats
from vigil.sources.file import FileSource
from vigil.sources.rtsp import ReconnectPolicy, RTSPSource, mask_url
from vigil.sources.webcam import WebcamSource

__all__ = [
    "FileSource",
    "ReconnectPolicy",
    "RTSPSource",
    "Source",
    "SourceState",
    "SourceStats",
    "WebcamSource",
    "mask_url",
]
