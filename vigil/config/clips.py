"""Event clips of a camera: `sources[].clips` (`vigil.clips`, docs/OUTPUT.md "Clips")."""

from __future__ import annotations

from pydantic import Field

from vigil.config._section import Section

__all__ = ["ClipsConfig"]


class ClipsConfig(Section):
    """`clips: {directory: /var/lib/vigil/clips}`: an MP4 per tracked object, remuxed from the
    camera's own packets (never re-encoded), from `pre_roll_s` before the object's first
    sighting to `post_roll_s` after its last. A source with clips is tracked (with the defaults
    when it has no `tracking:`), so its objects have a start and an end."""

    directory: str = Field(min_length=1, description="Clips go to DIRECTORY/SOURCE/YYYY-MM-DD/.")
    pre_roll_s: float = Field(5.0, ge=0, le=60, description="Seconds of video kept before an object's first sighting.")
    post_roll_s: float = Field(5.0, ge=0, le=300, description="Seconds of video kept after an object's last sighting.")
    max_open: int = Field(4, ge=1, le=64, description="Clips written at once per camera; an object beyond gets none.")
    buffer_mb: float = Field(
        32.0, ge=1, le=4096, description="Most memory of encoded video this camera keeps for pre-roll (oldest GOPs go first)."
    )
