"""How vigil reaches a NATS server: the servers and one way to authenticate, checked alike for
the nats sink (`kind: nats`) and the fleet (`fleet:`), which both subclass `NatsConnection`."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator
from typing_extensions import Self

from vigil.config._section import Section

__all__ = ["NatsConnection"]


class NatsConnection(Section):
    """NATS servers and credentials (never in the URLs: in files, masked everywhere)."""

    servers: list[str] = Field(
        min_length=1,
        max_length=64,
        description="NATS server URLs, nats://HOST:PORT or tls://HOST:PORT (a leaf node, or the nodes of a cluster); "
        "credentials go in user + password_file, token_file or credentials_file, never in the URL.",
    )
    user: str | None = Field(None, min_length=1, max_length=1024, description="User name given to the server.")
    password_file: str | None = Field(None, min_length=1, description="File holding the password of `user`.")
    token_file: str | None = Field(None, min_length=1, description="File holding the server's authentication token.")
    credentials_file: str | None = Field(
        None,
        min_length=1,
        description="A NATS .creds file (user JWT and NKey seed), for decentralized auth.",
    )
    tls: bool = Field(False, description="Connect with TLS (also implied by tls:// URLs), checking the server's certificate.")
    ca_file: str | None = Field(
        None,
        min_length=1,
        description="With tls, a PEM file of the CA(s) the server's certificate is checked against (absent: the system's CAs).",
    )

    @field_validator("servers")
    @classmethod
    def _urls(cls, servers: list[str]) -> list[str]:
        for url in servers:
            if not re.fullmatch(r"(nats|tls)://[^\s/@]+(:\d{1,5})?/?", url):
                if "@" in url:
                    raise ValueError(
                        "a server URL holds credentials; give them as user + password_file, token_file or credentials_file"
                    )
                raise ValueError("each server is nats://HOST[:PORT] or tls://HOST[:PORT]")
        return servers

    @model_validator(mode="after")
    def _one_way_in(self) -> Self:
        if (self.password_file is None) != (self.user is None):
            raise ValueError("user and password_file go together; give both or neither")
        ways = [name for name in ("user", "token_file", "credentials_file") if getattr(self, name) is not None]
        if len(ways) > 1:
            raise ValueError(f"{' and '.join(ways)} are given; authenticate one way only")
        if self.ca_file is not None and not self.uses_tls:
            raise ValueError("ca_file is given without tls: true or tls:// servers; turn tls on or drop ca_file")
        return self

    @property
    def uses_tls(self) -> bool:
        return self.tls or any(url.startswith("tls://") for url in self.servers)
