"""The settings of the built-in sink kinds (`jsonl`, `webhook`, `video`, `snapshot`) and of the
per-sink `filter:`. Each kind's class is declared in `vigil.catalog.builtin`; the `sinks:` list
entries built from them (with `kind`, `name` and `filter`) are in `vigil.config.sink_list`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator
from typing_extensions import Self

from vigil.catalog import CATALOG
from vigil.config._section import Section
from vigil.config.files import state_directory
from vigil.config.nats import NatsConnection

__all__ = [
    "DeliverySettings",
    "FilterSettings",
    "JsonlSinkConfig",
    "MqttSinkConfig",
    "NatsSinkConfig",
    "SnapshotSinkConfig",
    "VideoSinkConfig",
    "WebhookSinkConfig",
    "spool_directory",
]


class FilterSettings(Section):
    """What a sink keeps: the `filter:` of a sink in the YAML, and the fields of ResultFilter."""

    classes: frozenset[int | str] | None = Field(
        None, description="Keep only detections of these classes, by id (int) or name (str); None keeps all."
    )
    min_confidence: float = Field(0.0, ge=0.0, le=1.0, description="Keep only detections at least this confident.")
    only_with_detections: bool = Field(False, description="Drop results with no detection left after filtering.")
    cooldown_s: float = Field(
        0.0,
        ge=0.0,
        le=86_400.0,
        description="After a source's result is published, drop that source's results for this many seconds.",
    )
    attached: dict[str, str] | None = Field(
        None,
        description="Keep only detections whose cascade output matches: {cascade name: regular expression searched "
        "in its label (the text read, or the top class)}, e.g. {plate: '^AB'}; a detection without that output is "
        "left out.",
    )

    @field_validator("attached")
    @classmethod
    def _patterns(cls, attached: dict[str, str] | None) -> dict[str, str] | None:
        for name, pattern in (attached or {}).items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"attached.{name}: {pattern!r} is not a regular expression ({exc})") from None
        return attached


class JsonlSinkConfig(Section):
    path: str = Field(min_length=1, description="File the JSON lines are appended to; with per_source, a path holding {source}.")
    per_source: bool = Field(False, description="One file per source: {source} in the path is the source's name.")
    rotate_mb: float | None = Field(None, gt=0, le=1_000_000, description="Start a new file once this many MiB are written.")
    rotate_minutes: float | None = Field(None, gt=0, le=527_040, description="Start a new file after this many minutes.")
    gzip: bool = Field(False, description="Compress rotated files to .jsonl.gz.")
    flush: Literal["os", "fsync", "buffered"] = Field(
        "os",
        description="After each batch of lines: hand them to the OS (survives a crash of vigil), also fsync them "
        "(survives a power cut), or keep them buffered until the buffer fills (fastest).",
    )


class DeliverySettings(Section):
    """What the sinks that deliver through the durable spool (`vigil.sinks.durable`: webhook,
    MQTT, NATS) share: the spool's place and size, the retries and probes, and when they turn
    unhealthy."""

    spool_dir: str | None = Field(
        None,
        min_length=1,
        description="Directory where records wait on disk until delivered, one per sink (absent: spool-<sink name> in "
        "the state directory: $STATE_DIRECTORY under systemd, else ~/.local/state/vigil/; vigil check says where).",
    )
    spool_max_mb: int = Field(
        512,
        ge=2,
        le=1_048_576,
        description="Most MiB the spool keeps on disk; at the cap the oldest undelivered records are dropped "
        "(counted and logged) and /readyz reports the sink unhealthy from 90% on.",
    )
    retry_initial_s: float = Field(
        0.5, gt=0, le=3600, description="Wait after a first failed attempt; it doubles with every further failure."
    )
    retry_max_s: float = Field(
        30.0, gt=0, le=3600, description="Longest wait between two attempts (a webhook's Retry-After aside)."
    )
    probe_after_s: float = Field(
        2.0,
        ge=0,
        le=3600,
        description="A wait longer than this ends as soon as a probe finds the other end answering again (a HEAD "
        "request for the webhook, a connection for MQTT, JetStream's account info for NATS).",
    )
    probe_interval_s: float = Field(1.0, gt=0, le=60, description="How often the other end is probed during such a wait.")
    unhealthy_after_s: float = Field(
        30.0,
        gt=0,
        le=86_400,
        description="/readyz reports the sink unhealthy once delivery has failed for this long with records waiting.",
    )

    @model_validator(mode="after")
    def _retry_bounds(self) -> Self:
        if self.retry_max_s < self.retry_initial_s:
            raise ValueError(f"retry_max_s ({self.retry_max_s}) must be at least retry_initial_s ({self.retry_initial_s})")
        return self


def spool_directory(settings: DeliverySettings, sink: str, environ: Mapping[str, str]) -> Path:
    """The spool of the sink named `sink`: its `spool_dir`, or `spool-<sink>` in the state
    directory (`vigil.config.files.state_directory`, beside the API's state file)."""
    return Path(settings.spool_dir) if settings.spool_dir else state_directory(environ) / f"spool-{sink}"


class WebhookSinkConfig(DeliverySettings):
    url: str = Field(pattern=r"^https?://\S+$", description="URL the results are POSTed to (docs/OUTPUT.md).")
    secret_file: str | None = Field(
        None,
        min_length=1,
        description="File holding the HMAC-SHA256 signing secret (surrounding whitespace stripped); "
        "with signing: standard, a Standard Webhooks secret whsec_<base64 of 24 to 64 bytes>.",
    )
    signing: Literal["vigil", "standard"] = Field(
        "vigil",
        description="How requests are signed with the secret: vigil (X-Vigil-Timestamp, X-Vigil-Signature: sha256=<hex>) "
        "or standard (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature: v1,<base64>), which "
        "receivers verify with that spec's libraries (docs/OUTPUT.md).",
    )
    request_timeout_s: float = Field(
        10.0, gt=0, le=600, description="A request unanswered by then is sent again, with the same Idempotency-Key."
    )
    connect_timeout_s: float = Field(5.0, gt=0, le=600, description="Longest wait for a connection to the receiver.")
    max_retry_after_s: float = Field(300.0, gt=0, le=86_400, description="Longest Retry-After of the receiver obeyed.")

    @model_validator(mode="after")
    def _standard_needs_a_secret(self) -> Self:
        if self.signing == "standard" and self.secret_file is None:
            raise ValueError("signing: standard needs secret_file (a file holding whsec_<base64>); give one, or drop signing")
        return self


class VideoSinkConfig(Section):
    # A continuous annotated video has no place for events: the catalog's video kind does not take them.
    directory: str = Field(min_length=1, description="Directory the annotated MP4 segments go to, a folder per source.")
    segment_minutes: float = Field(
        5.0, gt=0.0, le=1440.0, description="Capture time covered by one segment file before the next one starts."
    )


class SnapshotSinkConfig(Section):
    directory: str = Field(min_length=1, description="Directory the JPEG snapshots and their JSON go to, a folder per source.")
    interval_s: float = Field(
        10.0, ge=0.0, le=86_400.0, description="At most one snapshot per source in this many seconds of capture time."
    )
    event_types: frozenset[Annotated[str, AfterValidator(CATALOG.event_types.check)]] | None = Field(
        None,
        min_length=1,
        description="With records: [events], the event types saved (picture, crop, JSON); absent: every type.",
    )


class MqttSinkConfig(DeliverySettings):
    """`kind: mqtt`: events (and results) to an MQTT broker, with Home Assistant discovery
    (docs/OUTPUT.md, "MQTT")."""

    host: str = Field(min_length=1, max_length=253, pattern=r"^[^\s/]+$", description="The broker's host name or address.")
    port: int = Field(1883, ge=1, le=65_535, description="The broker's port (1883; 8883 is usual with tls).")
    tls: bool = Field(False, description="Connect with TLS, checking the broker's certificate.")
    ca_file: str | None = Field(
        None,
        min_length=1,
        description="With tls, a PEM file of the CA(s) the broker's certificate is checked against (absent: the system's CAs).",
    )
    username: str | None = Field(None, min_length=1, max_length=65_535, description="The user name given to the broker.")
    password_file: str | None = Field(
        None,
        min_length=1,
        description="File holding the broker password of `username` (surrounding whitespace stripped).",
    )
    client_id: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="The MQTT client id; absent: vigil-<hostname>-<sink name>, the same across restarts.",
    )
    topic_prefix: str = Field(
        "vigil",
        min_length=1,
        max_length=200,
        pattern=r"^[^#+\s/]([^#+\s]*[^#+\s/])?$",
        description="First level(s) of every topic: PREFIX/<camera>/events, PREFIX/status, ...",
    )
    protocol: Literal["5", "3.1.1"] = Field("5", description="MQTT protocol version spoken to the broker.")
    qos: Literal[1, 2] = Field(1, description="QoS of events and results (1: at least once; 2: exactly once, slower).")
    discovery: bool = Field(True, description="Publish Home Assistant MQTT discovery configs for cameras and zones.")
    discovery_prefix: str = Field(
        "homeassistant",
        min_length=1,
        max_length=200,
        pattern=r"^[^#+\s/]([^#+\s]*[^#+\s/])?$",
        description="Home Assistant's discovery prefix.",
    )
    snapshots: bool = Field(True, description="Publish the latest event's picture (JPEG, retained) to PREFIX/<camera>/snapshot.")
    publish_timeout_s: float = Field(
        10.0,
        gt=0,
        le=600,
        description="A message the broker has not acknowledged by then is sent again (after reconnecting).",
    )
    connect_timeout_s: float = Field(5.0, gt=0, le=600, description="Longest wait for the broker to accept a connection.")
    keepalive_s: int = Field(30, ge=5, le=65_535, description="MQTT keep-alive: how soon a silent broker is seen gone.")

    @model_validator(mode="after")
    def _consistent(self) -> MqttSinkConfig:
        if self.password_file is not None and self.username is None:
            raise ValueError("password_file is given without username; give the broker user name too")
        if self.ca_file is not None and not self.tls:
            raise ValueError("ca_file is given without tls: true; turn tls on or drop ca_file")
        return self


class NatsSinkConfig(DeliverySettings, NatsConnection):
    """`kind: nats`: events (and results) to a NATS JetStream stream, for fleets of boxes
    (docs/OUTPUT.md, "NATS JetStream"; docs/SCALING.md)."""

    subject_prefix: str = Field(
        "vigil",
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$",
        description="First token(s) of every subject: PREFIX.<camera>.events and PREFIX.<camera>.results.",
    )
    stream: str = Field(
        "VIGIL",
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The JetStream stream that stores the subjects PREFIX.>.",
    )
    create_stream: bool = Field(
        True,
        description="Create the stream when it does not exist (file storage, subjects PREFIX.>, max_age_days, "
        "duplicate_window_s, replicas); an existing stream is left as it is.",
    )
    replicas: int = Field(1, ge=1, le=5, description="Copies of the stream it creates (3 on a 3-node cluster).")
    max_age_days: float = Field(
        7.0,
        gt=0,
        le=36_500,
        description="The stream it creates keeps a message this many days, then discards it.",
    )
    duplicate_window_s: float = Field(
        120.0,
        ge=1,
        le=86_400,
        description="The stream it creates drops a message whose Nats-Msg-Id it stored within this many seconds "
        "(a record resent after a crash or a lost acknowledgement is stored once).",
    )
    connect_timeout_s: float = Field(5.0, gt=0, le=600, description="Longest wait for a server to accept a connection.")
    publish_timeout_s: float = Field(
        5.0,
        gt=0,
        le=600,
        description="A message JetStream has not acknowledged by then is sent again (same Nats-Msg-Id).",
    )
