"""Frames in: sources turn cameras and files into `Frame`s."""

from vigil.sources.base import Source
from vigil.sources.file import FileSource

__all__ = ["FileSource", "Source"]
