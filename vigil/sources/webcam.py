"""Webcams through FFmpeg's capture inputs (V4L2 on Linux), decoded by the source's decoder."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from typing import TYPE_CHECKING

from vigil.errors import SourceOpenError
from vigil.sources._decoding import DecodingSource
from vigil.sources._scaling import DecodeSize
from vigil.sources.decode.base import Decoder, DecoderInput, InputSpec, NoVideoStream, OpenFailed
from vigil.sources.gate import FrameGate

if TYPE_CHECKING:
    from vigil.clips import ClipRecorder

__all__ = ["WebcamSource"]

_DEVICE_DRIVERS = frozenset({"video4linux2", "v4l2"})  # a device node: it must be a character device


class WebcamSource(DecodingSource):
    """A capture device, e.g. `/dev/video0` with `driver="video4linux2"` (the default),
    `size=(1280, 720)`, `fps=30`, `input_format="mjpeg"`. Live: the newest frames are kept
    when downstream is slow. Any FFmpeg input format works the same way (`driver="lavfi"` with
    `device="testsrc=size=640x480:rate=30"` is a synthetic camera)."""

    live = True
    input_kind = "device"

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
        decoder: str | Decoder = "auto",
        decode_size: DecodeSize | tuple[int, int] | None = None,
    ) -> None:
        super().__init__(
            source_id,
            queue_size=queue_size,
            decode_threads=decode_threads,
            max_fps=max_fps,
            gates=gates,
            clips=clips,
            decoder=decoder,
            decode_size=decode_size,
        )
        self.device, self.driver = device, driver
        self.size, self.fps, self.input_format = size, fps, input_format

    def _spec(self) -> InputSpec:
        return InputSpec(
            "device",
            self.device,
            driver=self.driver,
            size=self.size,
            fps=self.fps,
            input_format=self.input_format,
            threads=self.decode_threads,
        )

    def _open(self) -> DecoderInput:
        if self.driver in _DEVICE_DRIVERS:
            self._check_device()
        try:
            return self.scaling.open(self.decoder, self._spec())
        except NoVideoStream:
            raise SourceOpenError(f"source '{self.source_id}': {self.device} delivers no video") from None
        except OpenFailed as exc:
            raise SourceOpenError(
                f"source '{self.source_id}': cannot open {self.driver} device {self.device} "
                f"({exc.reason}); check the device path, and that size/fps/input_format are supported"
            ) from exc

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
                f"source '{self.source_id}': {self.device} is not a capture device (a character device such as /dev/video0)"
            )
