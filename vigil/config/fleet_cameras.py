"""`vigil fleet apply`'s file (`CameraFile`: a `sources:` list, each entry as a configuration's)
and the rule for a fleet camera's name, which is a key of the fleet's buckets (`valid_key`)."""

from __future__ import annotations

from pydantic import Field, field_validator

from vigil.config._section import Section
from vigil.config.sources import SourceConfig

__all__ = ["CameraFile", "valid_key"]


def valid_key(name: str) -> bool:
    """A name usable as a KV key as it is (camera names: letters, digits, '_', '-', '.' inside)."""
    return bool(name) and not name.startswith(".") and not name.endswith(".") and ".." not in name


class CameraFile(Section):
    """`vigil fleet apply`'s file: a `sources:` list, each entry as a configuration's."""

    sources: list[SourceConfig] = Field(description="The fleet's cameras, each a sources entry.")

    @field_validator("sources")
    @classmethod
    def _names(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        names = [s.name for s in sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique; repeated: {', '.join(dupes)}")
        bad = [n for n in names if not valid_key(n)]
        if bad:
            raise ValueError(f"a fleet camera's name neither starts nor ends with '.' nor holds '..': {', '.join(bad)}")
        return sources
