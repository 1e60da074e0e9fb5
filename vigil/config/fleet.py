"""`fleet:`: this box is one of many sharing the cameras of a NATS JetStream key-value bucket
(vigil/fleet, docs/SCALING.md). The servers and credentials are given as for the nats sink."""

from __future__ import annotations

import re
import socket

from pydantic import Field, field_validator, model_validator

from vigil.config._section import Section

__all__ = ["BOX_PATTERN", "FleetCapacity", "FleetConfig", "box_name"]

# A KV key and a NATS subject token: letters, digits, '_', '-'; dots inside only.
BOX_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


class FleetCapacity(Section):
    """How much this box takes on: cameras, frames per second (the cameras' max_fps), or both."""

    cameras: int | None = Field(None, ge=0, le=10_000, description="Most fleet cameras this box runs (null: no limit).")
    fps: float | None = Field(
        None, ge=0, le=1_000_000, description="Most frames per second (the sum of its cameras' max_fps) (null: no limit)."
    )


class FleetConfig(Section):
    """The NATS servers of the fleet's buckets, this box's name and capacity, and the lease timings."""

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
        None, min_length=1, description="A NATS .creds file (user JWT and NKey seed), for decentralized auth."
    )
    tls: bool = Field(False, description="Connect with TLS (also implied by tls:// URLs), checking the server's certificate.")
    ca_file: str | None = Field(None, min_length=1, description="With tls, a PEM file of the CA(s) to check the server against.")
    box: str | None = Field(
        None, pattern=BOX_PATTERN, description="This box's name in the fleet, unique per box (null: the host name)."
    )
    capacity: FleetCapacity = Field(default_factory=FleetCapacity, description="{cameras: N, fps: F}, either or both.")
    bucket_prefix: str = Field(
        "vigil_fleet",
        pattern=r"^[A-Za-z0-9_-]{1,100}$",
        description="The buckets are PREFIX_cameras, PREFIX_members, PREFIX_leases and PREFIX_moves.",
    )
    lease_ttl_s: float = Field(
        6.0, ge=1.0, le=3600.0, description="A camera's lease expires this long after its last renewal (every third of it)."
    )
    member_ttl_s: float = Field(
        6.0, ge=1.0, le=3600.0, description="A box not heard of for this long has left (it heartbeats every third of it)."
    )
    connect_timeout_s: float = Field(3.0, gt=0, le=600, description="Longest wait for a server to accept a connection.")

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
    def _consistent(self) -> FleetConfig:
        if (self.password_file is None) != (self.user is None):
            raise ValueError("user and password_file go together; give both or neither")
        ways = [name for name in ("user", "token_file", "credentials_file") if getattr(self, name) is not None]
        if len(ways) > 1:
            raise ValueError(f"{' and '.join(ways)} are given; authenticate one way only")
        if self.ca_file is not None and not (self.tls or any(url.startswith("tls://") for url in self.servers)):
            raise ValueError("ca_file is given without tls: true or tls:// servers; turn tls on or drop ca_file")
        return self

    @property
    def uses_tls(self) -> bool:
        return self.tls or any(url.startswith("tls://") for url in self.servers)


def box_name(config: FleetConfig) -> str:
    """`config.box`, else the host name made a valid box name (its first label, other characters as '-')."""
    if config.box is not None:
        return config.box
    host = socket.gethostname().split(".")[0] or "box"
    name = re.sub(r"[^A-Za-z0-9_-]", "-", host)[:64]
    return name if name[0].isalnum() else f"b{name[:63]}"
