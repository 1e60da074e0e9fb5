"""The `api` section: where the management API listens and who may use it."""

from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator, model_validator

from vigil.config._section import Section
from vigil.config.files import read_token_file, token_problem
from vigil.errors import ConfigError

__all__ = ["ApiConfig"]


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
        None, min_length=1, description="File holding the bearer token (whitespace stripped; the same rules as token), read at load."
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

    @field_validator("token")
    @classmethod
    def _usable_token(cls, token: str | None) -> str | None:
        problem = None if token is None else token_problem(token)
        if problem:
            raise ValueError(problem)  # never the token itself: error messages reach logs
        return None if token is None else token.strip()

    @model_validator(mode="after")
    def _token_off_loopback(self) -> ApiConfig:
        if self.token and self.token_file:
            raise ValueError("give token or token_file, not both")
        if self.enabled and not self.loopback and not (self.token or self.token_file):
            raise ValueError(f"the API listens on {self.host}, off loopback: set token_file (or token) so it needs a bearer token")
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
