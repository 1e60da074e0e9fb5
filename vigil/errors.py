"""The one exception tree: every error vigil raises on purpose derives from `VigilError`.

A message names the thing, says what was wrong and what to do about it, so the CLI can print it
as a single line without a traceback.
"""

from __future__ import annotations

__all__ = [
    "VigilError",
    "ConfigError",
    "MissingDependencyError",
    "ModelError",
    "ModelNotFoundError",
    "ModelResolutionError",
    "ModelLoadError",
    "ModelInputError",
    "SourceError",
    "SourceOpenError",
    "SourceDecodeError",
    "SinkError",
    "PipelineError",
]


class VigilError(Exception):
    """Root of every error vigil raises deliberately."""


class ConfigError(VigilError):
    """The configuration (CLI flags, later YAML) is invalid."""


class MissingDependencyError(VigilError):
    """An optional dependency is not installed; the message names the extra to install."""


class ModelError(VigilError):
    """Anything about finding, loading or running a model."""


class ModelNotFoundError(ModelError):
    """The model reference points at nothing."""


class ModelResolutionError(ModelError):
    """No package of the model can run here; the message lists every package and why."""


class ModelLoadError(ModelError):
    """The model exists but cannot be used (corrupt file, unsupported task or layout)."""


class ModelInputError(ModelError):
    """An input handed to a model has the wrong type, shape or dtype."""


class SourceError(VigilError):
    """A frame source failed."""


class SourceOpenError(SourceError):
    """A source could not be opened (missing file, not a video, no video stream)."""


class SourceDecodeError(SourceError):
    """A source was opened but decoding failed part-way."""


class SinkError(VigilError):
    """A result sink failed."""


class PipelineError(VigilError):
    """The pipeline runtime itself failed (wiring, lifecycle)."""
