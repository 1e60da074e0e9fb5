"""Webcams through FFmpeg's capture inputs (V4L2 on Linux) with PyAV."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import av

from vigil.errors import SourceOpenError
from vigil.sources._pyav import PyAVSource
from vigil.sources._whitelists import FILE_PROTOCOLS
from vigil.sources.gate import FrameGate

if TYPE_CHECKING:
    from vigil.clips import ClipRecorder

__all__ = ["WebcamSource"]

_DEVICE_DRIVERS = frozenset({"video4linux2", "v4l2"})  # a device node: it must be a character device


class WebcamSource(PyAVSource):
    """A capture device, e.g. `/dev/video0` with `driver="video4linux2"` (the default),
    `size=(1280, 720)`, `fps=30`, `input_format="mjpeg"`. Live: the newest frames are kept
    when downstream is slow. Any FFmpeg input format works the same way (`driver="lavfi"` with
    `device="testsrc=size=640x480:rate=30"` is a synthetic camera)."""

    live = True

    def __init__(
        self,
        source_id: str,
        device: str = "/dev/video0",
        *,
        driver: str = "video4linux2",
        size: tuple[int, int] | None = None,
        fps: float | None = None,
        input_format: str | None = None,
        queue_size: int = 2,
        max_fps: float | None = None,
        decode_threads: int = 0,
        gates: Sequence[FrameGate] = (),
        clips: ClipRecorder | None = None,
    ) -> None:
        super().__init__(
            source_id, queue_size=queue_size, decode_threads=decode_threads, max_fps=max_fps, gates=gates, clips=clips
        )
        self.device, self.driver = device, driver
        self.options: dict[str, str] = {}
        if size:
            self.options["video_size"] = f"{size[0]}x{size[1]}"
        if fps:
            self.options["framerate"] = f"{fps:g}"
        if input_format:
            self.options["input_format"] = input_format

    def _open(self) -> Any:
        if self.driver in _DEVICE_DRIVERS:
            self._check_device()
        # The driver is the one demuxer allowed: nothing probed from the device decides another.
        options = {**self.options, "format_whitelist": self.driver, "protocol_whitelist": FILE_PROTOCOLS}
        try:
            container = av.open(self.device, format=self.driver, options=options)
        except av.FFmpegError as exc:
            raise SourceOpenError(
                f"source '{self.source_id}': cannot open {self.driver} device {self.device} "
                f"({exc.strerror or exc}); check the device path, and that size/fps/input_format are supported"
            ) from exc
        if not container.streams.video:
            container.close()
            raise SourceOpenError(f"source '{self.source_id}': {self.device} delivers no video")
        return container

    def _check_device(self) -> None:
        """V4L2 opens its device read-write: only a character device (a capture device node)."""
        try:
            mode = os.stat(self.device).st_mode
        except OSError as exc:
            raise SourceOpenError(
                f"source '{self.source_id}': cannot open {self.driver} device {self.device} ({exc.strerror}); "
                "check the device path"
            ) from None
        if not stat.S_ISCHR(mode):
            raise SourceOpenError(
                f"source '{self.source_id}': {self.device} is not a capture device (a character device such as "
                "/dev/video0)"
            )
