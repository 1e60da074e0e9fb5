"""RTSP cameras: TCP by default, timeouts, stall detection and reconnects with backoff."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import av

from vigil.errors import SourceDecodeError, SourceOpenError
from vigil.sources._pyav import PyAVSource, _Stopped
from vigil.sources.base import SourceState

__all__ = ["ReconnectPolicy", "RTSPSource", "mask_url"]

_CREDENTIALS = re.compile(r"(?<=://)([^:/@\s]+):([^@/\s]*)@")


def mask_url(text: str) -> str:
    """Hide the password of every `scheme://user:password@` in `text`."""
    return _CREDENTIALS.sub(lambda m: f"{m.group(1)}:***@", text)


@dataclass(frozen=True)
class ReconnectPolicy:
    """Exponential backoff with jitter between attempts; `max_attempts=None` never gives up."""

    initial_s: float = 0.5
    max_s: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.2
    max_attempts: int | None = None

    def delay(self, attempt: int) -> float:
        base = min(self.max_s, self.initial_s * self.multiplier ** max(attempt - 1, 0))
        return base * random.uniform(1 - self.jitter, 1 + self.jitter)


class RTSPSource(PyAVSource):
    """A camera. Live: the newest frames are kept when downstream is slow. The source never
    fails on a network problem: it reports `reconnecting` and tries again with backoff, and a
    stream that delivers no frame for `stall_timeout_s` is reconnected. Decoding restarts at a
    key frame after every (re)connection. The password in the URL never reaches a log line,
    error message or state report."""

    live = True

    def __init__(
        self,
        source_id: str,
        url: str,
        *,
        transport: str = "tcp",
        open_timeout_s: float = 10.0,
        stall_timeout_s: float = 10.0,
        reconnect: ReconnectPolicy | None = None,
        queue_size: int = 2,
        max_fps: float | None = None,
    ) -> None:
        super().__init__(source_id, queue_size=queue_size, max_fps=max_fps)
        if transport not in ("tcp", "udp"):
            raise ValueError(f"source '{source_id}': transport must be 'tcp' or 'udp', got {transport!r}")
        self.url, self.transport = url, transport
        self.open_timeout_s, self.stall_timeout_s = open_timeout_s, stall_timeout_s
        self.reconnect = reconnect or ReconnectPolicy()
        self.attempts = 0
        self.last_error: str | None = None

    def _open(self) -> Any:
        return None  # connecting happens on the thread, with retries; start() never fails on it

    def _connect(self) -> Any:
        try:
            return av.open(
                self.url,
                options={"rtsp_transport": self.transport},
                timeout=(self.open_timeout_s, self.stall_timeout_s),
            )
        except av.FFmpegError as exc:
            raise SourceOpenError(
                f"source '{self.source_id}': cannot open {mask_url(self.url)} ({mask_url(str(exc.strerror or exc))})"
            ) from exc

    def _stream(self, container: Any) -> None:
        seq, attempt = 0, 0
        policy = self.reconnect
        while not self._stopping.is_set():
            attempt += 1
            self.attempts += 1
            try:
                container = self._connect()
            except SourceOpenError as exc:
                self._retry_later(str(exc), attempt)
                continue
            try:
                if not container.streams.video:
                    raise SourceDecodeError(f"source '{self.source_id}': {mask_url(self.url)} has no video stream")
                self._set_state(SourceState.STREAMING)
                self._configure(container)
                started = datetime.now(timezone.utc)
                realtime_start = getattr(container, "start_time_realtime", None)
                if realtime_start:  # the camera's own clock (RTCP/NTP) when FFmpeg exposes it
                    started = datetime.fromtimestamp(realtime_start / 1e6, timezone.utc)
                before = seq
                seq, _ = self._read(container, seq=seq, pts_offset=0.0, started=started, from_key=True)
                if seq > before:
                    attempt = 0  # frames flowed: the next failure starts the backoff afresh
                self._retry_later(f"source '{self.source_id}': stream ended or stalled", attempt)
            except SourceDecodeError as exc:
                self._retry_later(str(exc), attempt)
            finally:
                container.close()
            if policy.max_attempts is not None and attempt >= policy.max_attempts:
                raise SourceDecodeError(f"source '{self.source_id}': gave up after {attempt} attempts ({self.last_error})")
        raise _Stopped

    def _retry_later(self, error: str, attempt: int) -> None:
        self.last_error = mask_url(error)
        if self._stopping.is_set():
            raise _Stopped
        delay = self.reconnect.delay(max(attempt, 1))
        self._set_state(SourceState.RECONNECTING, f"{self.last_error}; retrying in {delay:.1f}s")
        if self._stopping.wait(delay):
            raise _Stopped
