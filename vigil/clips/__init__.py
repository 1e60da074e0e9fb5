"""Event clips: an MP4 per tracked object, remuxed from the camera's own packets
(`ClipRecorder`; docs/OUTPUT.md, "Clips")."""

from vigil.clips.recorder import ClipRecorder, ClipStats

__all__ = ["ClipRecorder", "ClipStats"]
