"""The `sources` section: cameras, files and webcams, with sampling and reconnects."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vigil.config._section import Section

__all__ = ["ReconnectConfig", "SourceConfig"]


class ReconnectConfig(Section):
    initial_s: float = Field(0.5, gt=0, le=3600, description="First wait before reconnecting.")
    max_s: float = Field(30.0, gt=0, le=86_400, description="Longest wait between attempts.")
    multiplier: float = Field(2.0, ge=1.0, le=10.0, description="Each wait is the previous one times this.")
    jitter: float = Field(0.2, ge=0.0, le=1.0, description="Random spread of each wait, as a fraction.")
    max_attempts: int | None = Field(None, ge=1, description="Give up after this many attempts in a row (null: never).")


class SourceConfig(Section):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="Source id used in results.")
    url: str = Field(
        min_length=1,
        description="A video file path, an rtsp:// camera URL, or v4l2:/dev/videoN for a webcam.",
    )
    max_fps: float | None = Field(None, gt=0, le=1000, description="Sample the source down to this rate.")
    realtime: bool = Field(False, description="Files: pace frames by their timestamps, like a camera.")
    loop: bool = Field(False, description="Files: start again at the end.")
    decode_threads: int = Field(0, ge=0, le=64, description="FFmpeg decoder threads for this source (0: FFmpeg picks).")
    transport: Literal["tcp", "udp"] = Field("tcp", description="RTSP: carry the stream over TCP or UDP.")
    password_file: str | None = Field(
        None, min_length=1, description="RTSP: file holding the camera's password, put into the URL's user part."
    )
    open_timeout_s: float = Field(10.0, gt=0, le=600, description="RTSP: longest wait to connect.")
    stall_timeout_s: float = Field(10.0, gt=0, le=600, description="RTSP: reconnect after this long without a frame.")
    reconnect: ReconnectConfig = Field(default_factory=lambda: ReconnectConfig(), description="RTSP: retries.")
    sinks: list[Literal["jsonl", "webhook", "video", "snapshot"]] | None = Field(
        None, min_length=1, description="The configured sinks this source's results go to (null: all of them)."
    )
