"""The `api` section: where the management API listens and who may use it."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import Field, model_validator

from vigil.config._section import Section

__all__ = ["ApiConfig"]


class ApiConfig(Section):
    enabled: bool = Field(True, description="Serve the management API (health, metrics, streams).")
    host: str = Field("127.0.0.1", min_length=1, description="Address to listen on; off loopback a token is required.")
    port: int = Field(8080, ge=0, le=65535, description="TCP port (0: any free port, logged at start).")
    token: str | None = Field(None, min_length=16, repr=False, description="Bearer token clients must send.")
    token_file: str | None = Field(None, min_length=1, description="File holding the bearer token (whitespace stripped).")

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
        """The configured token, reading `token_file` now (at start-up, not at import)."""
        if self.token_file:
            return Path(self.token_file).read_text(encoding="utf-8").strip() or None
        return self.token
