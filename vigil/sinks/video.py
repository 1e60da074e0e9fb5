"""Annotated video: every frame with its detections drawn, as H.264 MP4 segments per source.

Layout, naming and segment rules: docs/OUTPUT.md ("Annotated video"). Drawing and encoding run
on the sink's own thread (`ThreadedSink`): a sink that falls behind drops frames, counted,
rather than holding up the pipeline.
"""

from __future__ import annotations

import logging
import os
from contextlib import suppress
from datetime import timedelta
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, cast

import av
import cv2
import numpy as np

from vigil.errors import ConfigError, SinkError
from vigil.frame import Frame
from vigil.result import InferenceResult
from vigil.sinks._threaded import PictureSink
from vigil.sinks.files import open_output, source_folder, utc_stamp

if TYPE_CHECKING:
    from vigil.config.sinks import VideoSinkConfig
    from vigil.sinks.registry import SinkContext

__all__ = ["AnnotatedVideoSink", "make_video_sink"]

log = logging.getLogger(__name__)

# MPEG's 90 kHz clock: fine enough that any frame rate, variable or not, keeps its real timing.
TICKS_PER_SECOND = 90_000
TIME_BASE = Fraction(1, TICKS_PER_SECOND)
PARTIAL = ".partial"  # suffix of a segment being written: `*.mp4` never matches an unfinished one
# x264/x265 options: the quality knob, and a preset that keeps several camera streams up on one CPU.
_CRF_CODECS = ("libx264", "libx265")
_PRESET = "veryfast"
# Fragmented MP4, a fragment per second, each handed to the OS as it is cut (flush_packets;
# otherwise FFmpeg's buffer holds them): a crash leaves a `.mp4.partial` that plays up to its
# last second or so, where a plain MP4 (index written at the end) is unreadable. delay_moov
# writes the header with the first fragment, once the B-frame delay is known, so its edit list
# keeps the first frame at time 0 (B-frames halve the size of a noisy pan at crf 23).
_FRAGMENTED = {"movflags": "delay_moov+default_base_moof", "frag_duration": "1000000", "flush_packets": "1"}


class AnnotatedVideoSink(PictureSink):
    """Writes `{directory}/{source}/{source}_{UTC start}.mp4`, one segment per source per
    `segment_minutes` of the frames' capture time.

        sink = AnnotatedVideoSink("/var/lib/vigil/video", segment_minutes=10)

    `codec` is an FFmpeg video encoder in PyAV's build; `crf` (0-51, lower: better and larger)
    applies to libx264 and libx265. Every queued frame holds its image (0.9 MB at 640x480), so
    `queue_size` bounds that memory. Counters: `written` (frames encoded), `dropped` (frames
    lost to a full queue: the video skips them, its timing stays right).
    """

    kind = "video"

    def __init__(
        self,
        directory: str | Path,
        *,
        segment_minutes: float = 5.0,
        annotate: bool = True,
        codec: str = "libx264",
        crf: int = 23,
        queue_size: int = 32,
        name: str = "video",
    ) -> None:
        super().__init__(name, directory, annotate, queue_size)
        if not 0 < segment_minutes <= 24 * 60:
            raise ConfigError(f"sink '{self.name}': segment_minutes must be above 0 and at most 1440, got {segment_minutes}")
        if not 0 <= crf <= 51:
            raise ConfigError(f"sink '{self.name}': crf must be between 0 and 51, got {crf}")
        _check_encoder(codec, self.name)
        self._segment_length = timedelta(minutes=segment_minutes)
        self._codec = codec
        # x264 starts 1.5 threads per core for every encoder, and each source has one open: on
        # a 12-core Jetson with 8 cameras that is 144 threads. Two each keep up with a camera.
        self._options = {"crf": str(crf), "preset": _PRESET, "threads": "2"} if codec in _CRF_CODECS else {}
        self._segments: dict[str, _Segment] = {}  # the open segment of each source

    async def publish(self, result: InferenceResult) -> None:
        self._ensure_running()
        self._offer(result)

    # -- the writer thread --------------------------------------------------------------------

    def _write(self, result: InferenceResult) -> None:
        frame = result.frame
        image = self._picture(result)
        segment = self._segments.get(frame.source_id)
        if segment is not None and not segment.takes(frame):
            self._segments.pop(frame.source_id).close()
            segment = None
        if segment is None:
            segment = self._segments[frame.source_id] = self._new_segment(frame)
        segment.add(image, frame.pts)
        self.written += 1

    def _finish(self) -> None:
        segments, self._segments = list(self._segments.values()), {}
        errors = []
        for segment in segments:  # one failing segment must not leave the others unfinished
            try:
                segment.close()
            except SinkError as exc:
                errors.append(exc)
        if errors:
            raise SinkError("; ".join(str(exc) for exc in errors))

    def _reset(self) -> None:
        """After a failed write (a full disk): end every open segment as well as the disk lets,
        so the next frames start new ones; one that cannot be finished stays `.mp4.partial`
        (it plays up to its last fragment)."""
        segments, self._segments = list(self._segments.values()), {}
        for segment in segments:
            try:
                segment.close()
            except SinkError:
                segment.abandon()

    def _new_segment(self, frame: Frame) -> _Segment:
        folder, name = source_folder(self.directory, frame.source_id, self.name)
        stem, n = f"{name}_{utc_stamp(frame.capture_time)}", 2
        path = folder / f"{stem}.mp4"
        # Short segments can start within the same second, and a restart can reuse a second.
        while path.exists() or _partial(path).exists():
            path, n = folder / f"{stem}_{n}.mp4", n + 1
        return _Segment(path, frame, self._codec, self._options, self._segment_length, self.name)


def make_video_sink(config: VideoSinkConfig, context: SinkContext) -> AnnotatedVideoSink:
    """The registry's factory for `kind: video`."""
    return AnnotatedVideoSink(config.directory, segment_minutes=config.segment_minutes, name=context.name)


class _Segment:
    """One MP4 being written: one source, one frame size, one stretch of capture time, one
    unbroken PTS clock. Written as `NAME.mp4.partial`, renamed to `NAME.mp4` when complete."""

    def __init__(self, path: Path, first: Frame, codec: str, options: dict[str, str], length: timedelta, sink: str) -> None:
        self.path, self.sink = path, sink
        self.size = (first.width, first.height)
        self.ends = first.capture_time + length
        self.frames = 0
        self._first_pts = self._last_pts = first.pts
        self._last_tick = -1
        # Written through a Python file of our own: FFmpeg's own file writes ignore a full disk
        # (the MP4 silently stays empty), a Python file's errors reach the muxer's caller. 0640,
        # and a link planted at the path is refused.
        self._file = open(open_output(_partial(path), f"sink '{sink}'", exclusive=True), "wb", buffering=0)
        try:
            self._container = av.open(self._file, "w", format="mp4", options=dict(_FRAGMENTED))
            stream = cast(av.VideoStream, self._container.add_stream(codec))  # a video encoder: checked at init
            stream.width, stream.height = _even(first.width), _even(first.height)
            stream.pix_fmt = "yuv420p"
            stream.codec_context.time_base = stream.time_base = TIME_BASE
            stream.options = dict(options)
            self._stream = stream
        except (OSError, av.FFmpegError) as exc:
            with suppress(OSError):
                self._file.close()
                _partial(path).unlink(missing_ok=True)  # ours: made just now
            raise self._error("cannot create", exc) from exc

    def takes(self, frame: Frame) -> bool:
        """Whether `frame` continues this segment: same size, still within its capture time, and
        a PTS not before the last one (a PTS that goes back is a new clock: a camera reconnected)."""
        return (frame.width, frame.height) == self.size and frame.capture_time < self.ends and frame.pts >= self._last_pts

    def add(self, image: np.ndarray, pts: float) -> None:
        # Real timing from the PTS; strictly increasing, which the encoder and MP4 require.
        tick = max(round((pts - self._first_pts) * TICKS_PER_SECOND), self._last_tick + 1)
        picture = av.VideoFrame.from_ndarray(_pad_even(image), format="bgr24")
        picture.pts, picture.time_base = tick, TIME_BASE
        try:
            self._container.mux(self._stream.encode(picture))
        except (OSError, av.FFmpegError) as exc:
            raise self._error("cannot write", exc) from exc
        self._last_pts, self._last_tick = pts, tick
        self.frames += 1

    def close(self) -> None:
        """Drain the encoder, write the MP4 index, and give the file its final name."""
        try:
            self._container.mux(self._stream.encode())
            self._container.close()
            self._file.close()
            os.replace(_partial(self.path), self.path)
        except (OSError, av.FFmpegError) as exc:
            self.abandon()  # its file is let go of whatever happens (a full disk)
            raise self._error("cannot finish", exc) from exc
        log.debug("sink '%s': %s finished, %d frame(s)", self.sink, self.path, self.frames)

    def abandon(self) -> None:
        """Let go of the file after an error, leaving the `.mp4.partial`."""
        try:
            self._container.close()
        except (OSError, av.FFmpegError, ValueError):
            log.debug("sink '%s': closing %s after an error failed too", self.sink, _partial(self.path), exc_info=True)
        with suppress(OSError):
            self._file.close()

    def _error(self, what: str, exc: Exception) -> SinkError:
        return SinkError(
            f"sink '{self.sink}': {what} video segment {_partial(self.path)} ({exc}); "
            "check free space and permissions of the video directory"
        )


def _check_encoder(codec: str, sink: str) -> None:
    try:
        found = av.Codec(codec, "w")
    except ValueError:  # PyAV's UnknownCodecError
        found = None
    if found is None or found.type != "video":
        raise ConfigError(f"sink '{sink}': '{codec}' is not a video encoder in this PyAV build; use libx264")


def _partial(path: Path) -> Path:
    return path.with_name(path.name + PARTIAL)


def _even(n: int) -> int:
    return n + n % 2


def _pad_even(image: np.ndarray) -> np.ndarray:
    """yuv420p stores colour per 2x2 block, so both sides must be even: an odd side gets one
    more row or column, a copy of the last (cropping would lose picture)."""
    h, w = image.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return image
    return cv2.copyMakeBorder(image, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
