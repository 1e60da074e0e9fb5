"""The `sources` section: cameras, files and webcams, with sampling and reconnects."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, StringConstraints, field_validator, model_validator

from vigil.config._section import Section

__all__ = ["ReconnectConfig", "SourceConfig"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_HOST_NAME = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$")
_RTSP = ("rtsp", "rtsps")


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
    sinks: list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]] | None = Field(
        None, min_length=1, description="The names of the configured sinks this source's results go to (null: all of them)."
    )

    @field_validator("url")
    @classmethod
    def _usable_url(cls, url: str) -> str:
        problem = url_problem(url)
        if problem:
            raise ValueError(problem)  # never the URL itself: it may hold a password
        return url

    @model_validator(mode="after")
    def _password_file_needs_a_user(self) -> SourceConfig:
        if self.password_file is not None:
            scheme = _SCHEME.match(self.url)
            if not scheme or scheme.group(1) not in _RTSP:
                raise ValueError("password_file is for rtsp:// cameras; remove it from this source")
            if not urlsplit(self.url).username:
                raise ValueError("password_file needs the user in the URL: write rtsp://USER@host/...")
        return self


def url_problem(url: str) -> str | None:
    """What is wrong with a source URL, or None; known without connecting. Cameras are retried
    forever, so a URL that can never work must be refused here rather than retried. A path or
    `v4l2:DEVICE` (no `://`) is left to the source to open."""
    scheme = _SCHEME.match(url)
    if not scheme:
        return None
    if scheme.group(1) == "file":
        return None
    if scheme.group(1) not in _RTSP:
        return f"'{scheme.group(1)}://' sources are not supported; give a video file, an rtsp:// URL or v4l2:/dev/videoN"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ("is not a valid rtsp:// URL (an unclosed '[' or a port that is not a number 1-65535); a password "
                "holding '/', '?', '#' or '@' must be percent-encoded, or kept in password_file")
    host = parts.hostname or ""
    if not host:
        return "the rtsp:// URL has no host; write rtsp://[USER@]HOST[:PORT]/PATH"
    if port == 0:
        return "the rtsp:// URL has port 0; give the camera's port (554 by default) or none"
    bracketed = "[" in parts.netloc.rpartition("@")[2]
    if bracketed:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return "the rtsp:// URL's host in [brackets] is not an IPv6 address"
    elif not _HOST_NAME.match(host):
        return "the rtsp:// URL's host is not a host name or IP address (letters, digits, '.', '-', '_')"
    return None
