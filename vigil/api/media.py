"""What a stream added through the API may open, and how many streams it may add.

A request names only network cameras (`rtsp://`, `rtsps://`: the only network sources vigil
reads), and a video file or capture device (`v4l2:DEVICE`) only under a folder `api.allowed_media`
lists (empty by default), its path judged with symlinks and `..` resolved and then run from that
resolved path. A path that is refused, missing or not a video vigil reads gets one and the same
answer, so the API never tells whether a file exists. Every source, the API's or the YAML's, is
opened with FFmpeg's format and protocol whitelists (`vigil.sources.decode.pyav`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from vigil.config import SourceConfig
from vigil.config.api import ApiConfig

__all__ = ["StreamPolicy"]


@dataclass(frozen=True)
class StreamPolicy:
    """`api.allowed_media` and `api.max_streams`, as the stream routes apply them."""

    allowed_media: tuple[str, ...] = ()
    max_streams: int = 64

    @classmethod
    def of(cls, api: ApiConfig) -> StreamPolicy:
        return cls(tuple(api.allowed_media), api.max_streams)

    def refusal(self) -> str:
        """The one answer to a file or device the API will not open, whatever the reason."""
        where = ", ".join(self.allowed_media) if self.allowed_media else "none are listed"
        return (
            "url: a stream added through the API is an rtsp:// or rtsps:// camera, or a video file or capture "
            f"device under a folder api.allowed_media lists ({where}); this one is not (missing, outside "
            "them, or not a video vigil reads): give a camera URL, or add the stream to the YAML configuration"
        )

    def admit(self, config: SourceConfig) -> SourceConfig | None:
        """`config` as it may run (a file or device at its resolved path), or None when refused.
        Resolves paths on the disk: call it off the event loop."""
        if config.kind == "rtsp":
            return config
        given = config.url or ""  # validated: a file or webcam source has a url
        prefix = "v4l2:" if config.kind == "webcam" else "file://" if given.startswith("file://") else ""
        resolved = self._inside(given[len(prefix) :])
        if resolved is None:
            return None
        url = f"v4l2:{resolved}" if config.kind == "webcam" else resolved
        return config.model_copy(update={"url": url})

    def _inside(self, path: str) -> str | None:
        """`path` resolved, when it lies under (or is) an allowed entry; None otherwise. Only an
        absolute path counts: `concat:...`, `subfile:...` or a relative name never does."""
        if not path.startswith("/") or "\x00" in path:
            return None
        resolved = os.path.realpath(path)
        for entry in self.allowed_media:
            root = os.path.realpath(entry)
            if resolved == root or resolved.startswith(root.rstrip("/") + "/"):
                return resolved
        return None
