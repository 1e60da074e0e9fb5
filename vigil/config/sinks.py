"""The settings of the built-in sink kinds (`jsonl`, `webhook`, `video`, `snapshot`) and of the
per-sink `filter:`. Each kind's class is registered in `vigil.sinks.registry`; the `sinks:` list
entries built from them (with `kind`, `name` and `filter`) are in `vigil.config.sink_list`."""

from __future__ import annotations

import re

from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from vigil.config._section import Section
from vigil.events import EventType

__all__ = ["FilterSettings", "JsonlSinkConfig", "SnapshotSinkConfig", "VideoSinkConfig", "WebhookSinkConfig"]


class FilterSettings(Section):
    """What a sink keeps: the `filter:` of a sink in the YAML, and the fields of ResultFilter."""

    classes: frozenset[int | str] | None = Field(
        None, description="Keep only detections of these classes, by id (int) or name (str); None keeps all."
    )
    min_confidence: float = Field(0.0, ge=0.0, le=1.0, description="Keep only detections at least this confident.")
    only_with_detections: bool = Field(False, description="Drop results with no detection left after filtering.")
    cooldown_s: float = Field(
        0.0, ge=0.0, le=86_400.0,
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
    path: str = Field(
        min_length=1, description="File the JSON lines are appended to; with per_source, a path holding {source}."
    )
    per_source: bool = Field(False, description="One file per source: {source} in the path is the source's name.")
    rotate_mb: float | None = Field(None, gt=0, le=1_000_000, description="Start a new file once this many MiB are written.")
    rotate_minutes: float | None = Field(None, gt=0, le=527_040, description="Start a new file after this many minutes.")
    gzip: bool = Field(False, description="Compress rotated files to .jsonl.gz.")
    flush: Literal["os", "fsync", "buffered"] = Field(
        "os",
        description="After each batch of lines: hand them to the OS (survives a crash of vigil), also fsync them "
        "(survives a power cut), or keep them buffered until the buffer fills (fastest).",
    )


class WebhookSinkConfig(Section):
    url: str = Field(pattern=r"^https?://\S+$", description="URL the results are POSTed to (docs/OUTPUT.md).")
    secret_file: str | None = Field(
        None, min_length=1, description="File holding the HMAC-SHA256 signing secret (surrounding whitespace stripped)."
    )
    spool_dir: str = Field(min_length=1, description="Directory where results wait on disk until delivered.")
    spool_max_mb: int = Field(
        512, ge=2, le=1_048_576,
        description="Most MiB the spool keeps on disk; at the cap the oldest undelivered results are dropped "
        "(counted and logged) and /readyz reports the webhook unhealthy from 90% on.",
    )
    request_timeout_s: float = Field(
        10.0, gt=0, le=600, description="A request unanswered by then is sent again, with the same Idempotency-Key."
    )
    connect_timeout_s: float = Field(5.0, gt=0, le=600, description="Longest wait for a connection to the receiver.")
    retry_initial_s: float = Field(
        0.5, gt=0, le=3600, description="Wait after a first failed request; it doubles with every further failure."
    )
    retry_max_s: float = Field(30.0, gt=0, le=3600, description="Longest wait between two attempts (without Retry-After).")
    max_retry_after_s: float = Field(300.0, gt=0, le=86_400, description="Longest Retry-After of the receiver obeyed.")
    probe_after_s: float = Field(
        2.0, ge=0, le=3600,
        description="A wait longer than this ends as soon as a HEAD probe finds the receiver answering again.",
    )
    probe_interval_s: float = Field(1.0, gt=0, le=60, description="How often the receiver is probed during such a wait.")
    unhealthy_after_s: float = Field(
        30.0, gt=0, le=86_400,
        description="/readyz reports the webhook unhealthy once delivery has failed for this long with results waiting.",
    )

    @model_validator(mode="after")
    def _retry_bounds(self) -> WebhookSinkConfig:
        if self.retry_max_s < self.retry_initial_s:
            raise ValueError(f"retry_max_s ({self.retry_max_s}) must be at least retry_initial_s ({self.retry_initial_s})")
        return self


class VideoSinkConfig(Section):
    # A continuous annotated video has no place for events: `records: [events]` is a config error.
    takes_events: ClassVar[bool] = False
    directory: str = Field(min_length=1, description="Directory the annotated MP4 segments go to, a folder per source.")
    segment_minutes: float = Field(
        5.0, gt=0.0, le=1440.0, description="Capture time covered by one segment file before the next one starts."
    )


class SnapshotSinkConfig(Section):
    directory: str = Field(min_length=1, description="Directory the JPEG snapshots and their JSON go to, a folder per source.")
    interval_s: float = Field(
        10.0, ge=0.0, le=86_400.0, description="At most one snapshot per source in this many seconds of capture time."
    )
    event_types: frozenset[EventType] | None = Field(
        None, min_length=1,
        description="With records: [events], the event types saved (picture, crop, JSON); absent: every type.",
    )
