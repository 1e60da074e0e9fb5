"""Frames in: sources turn cameras and files into `Frame`s.

The source kinds are imported when first asked for (`vigil.sources.FileSource`), so that
`vigil.sources.base` and `vigil.sources.gate` come without a decoder library."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from vigil.sources.base import Source, SourceState, SourceStats

if TYPE_CHECKING:
    from vigil.sources.file import FileSource
    from vigil.sources.rtsp import ReconnectPolicy, RTSPSource
    from vigil.sources.webcam import WebcamSource

__all__ = [
    "FileSource",
    "ReconnectPolicy",
    "RTSPSource",
    "Source",
    "SourceState",
    "SourceStats",
    "WebcamSource",
]

_KINDS = {
    "FileSource": "vigil.sources.file",
    "ReconnectPolicy": "vigil.sources.rtsp",
    "RTSPSource": "vigil.sources.rtsp",
    "WebcamSource": "vigil.sources.webcam",
}


def __getattr__(name: str) -> Any:
    module = _KINDS.get(name)
    if module is None:
        raise AttributeError(f"module 'vigil.sources' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
