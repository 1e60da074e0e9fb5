"""Per-sink filters: `ResultFilter` lives with the `filter` stage (`vigil.stages.filter`), which
applies the same rules to everything a source sends; this name is kept for the sinks."""

from vigil.stages.filter import ResultFilter

__all__ = ["ResultFilter"]
