"""The `api` section: where the management API listens and who may use it."""

from __future__ import annotations

import ipaddress
import re

from pydantic import Field, field_validator, model_validator

from vigil.config._section import Section
from vigil.config.files import read_token_file, token_problem
from vigil.errors import ConfigError

__all__ = ["ApiConfig"]

_HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_.-]{0,251}[a-z0-9_])?")


class ApiConfig(Section):
    enabled: bool = Field(True, description="Serve the management API (health, metrics, streams).")
    host: str = Field("127.0.0.1", min_length=1, description="Address to listen on; off loopback a token is required.")
    port: int = Field(8080, ge=0, le=65535, description="TCP port (0: any free port, logged at start).")
    token: str | None = Field(
        None,
        repr=False,
        json_schema_extra={"minLength": 16},  # checked by _usable_token, with the same rule as token_file
        description="Bearer token clients must send: at least 16 visible ASCII characters.",
    )
    token_file: str | None = Field(
        None,
        min_length=1,
        description="File holding the bearer token (whitespace stripped; the same rules as token), read at load.",
    )
    state_file: str | None = Field(
        None,
        min_length=1,
        description="Where streams added or deleted through the API are kept across reloads and restarts "
        "(default: $STATE_DIRECTORY/api-streams.json under systemd, else ~/.local/state/vigil/).",
    )

    console: bool = Field(True, description="Serve the web console at / and the cameras' live views (MJPEG).")
    live_fps: float = Field(5.0, gt=0, le=30, description="Most frames a second a live view sends (encoded only while watched).")
    live_max_width: int = Field(1280, ge=160, le=3840, description="Widest a live view's picture is, in pixels.")

    events_kept: int = Field(
        1000, ge=1, le=100_000, description="How many of the latest events GET /api/v1/events keeps in memory."
    )

    # What a stream added through the API may open, and how many streams it may add.
    allowed_media: list[str] = Field(
        default_factory=list,
        description="Absolute paths of folders (or single device files) under which a stream added through the "
        "API may name a video file or a capture device (v4l2:...), symlinks and '..' resolved first; empty (the "
        "default): the API adds only network cameras (rtsp://, rtsps://).",
    )
    max_streams: int = Field(
        64, ge=1, le=10_000, description="POST /api/v1/streams refuses a new stream once this many run (the YAML's included)."
    )

    # Who may reach the API from a browser, and how much of the process a client may hold.
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names (without port) the API answers besides loopback names and api.host, e.g. "
        "[vigil.lan]: a request whose Host header names another host is refused (DNS rebinding).",
    )
    max_connections: int = Field(
        100,
        ge=4,
        le=10_000,
        description="Most API connections open at once (at most a quarter of the open-file limit); beyond it the "
        "oldest idle or half-open connection is closed.",
    )
    header_timeout_s: float = Field(
        5.0, gt=0, le=300, description="Seconds a connection may take to send a request's headers, or stay idle between requests."
    )
    body_timeout_s: float = Field(10.0, gt=0, le=300, description="Seconds a client may take to send a request's body.")
    session_idle_s: float = Field(
        12 * 3600, ge=60, le=30 * 86400, description="A console sign-in ends after this many seconds without a request."
    )
    session_max_age_s: float = Field(
        7 * 86400, ge=60, le=365 * 86400, description="A console sign-in ends this many seconds after it began, used or not."
    )
    max_sessions: int = Field(
        100, ge=1, le=10_000, description="Most console sign-ins kept at once; a new one beyond it ends the oldest."
    )

    @field_validator("token")
    @classmethod
    def _usable_token(cls, token: str | None) -> str | None:
        problem = None if token is None else token_problem(token)
        if problem:
            raise ValueError(problem)  # never the token itself: error messages reach logs
        return None if token is None else token.strip()

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, hosts: list[str]) -> list[str]:
        names = []
        for host in hosts:
            name = host.strip().lower().removeprefix("[").removesuffix("]")
            if not (_is_ip(name) or _HOST_NAME.fullmatch(name)):
                raise ValueError(
                    f"allowed_hosts: '{host}' is not a host name; give names like vigil.lan or "
                    "192.168.1.20, without scheme or port"
                )
            names.append(name)
        return names

    @field_validator("allowed_media")
    @classmethod
    def _absolute_media_paths(cls, paths: list[str]) -> list[str]:
        for path in paths:
            if not path.startswith("/") or "\x00" in path:
                raise ValueError(f"allowed_media: '{path}' is not an absolute path; give folders like /srv/videos")
        return paths

    @model_validator(mode="after")
    def _token_off_loopback(self) -> ApiConfig:
        if self.token and self.token_file:
            raise ValueError("give token or token_file, not both")
        if self.enabled and not self.loopback and not (self.token or self.token_file):
            raise ValueError(
                f"the API listens on {self.host}, off loopback: set token_file (or token) so it needs a bearer token"
            )
        return self

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def read_token(self) -> str | None:
        """The configured token, reading `token_file` now (at start-up, not at import). The loader
        checked the file already; this checks it again, since it may have changed since."""
        if self.token_file:
            try:
                return read_token_file(self.token_file)
            except ConfigError as exc:
                raise ConfigError(f"api.token_file: {exc}") from None
        return self.token


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
