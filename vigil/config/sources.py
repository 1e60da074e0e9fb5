"""The `sources` section: files, cameras (rtsp) and webcams, each kind with only its own settings."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from vigil.config._section import Section
from vigil.config.stages import StageSpec
from vigil.config.zones import MAX_LINES, MAX_ZONES, LineConfig, ZoneConfig, repeated_name
from vigil.config.tracking import TrackingSettings
from vigil.config.clips import ClipsConfig
from vigil.config.motion import MotionConfig
from vigil.config.cascade import CascadeConfig, repeated_cascade
from vigil.config.model import MODEL_NAME

__all__ = [
    "AnySourceConfig",
    "FileSourceConfig",
    "ReconnectConfig",
    "RtspSourceConfig",
    "SOURCE_FIELDS",
    "SourceConfig",
    "WebcamSourceConfig",
    "kind_of_url",
]

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
    """What every source has. A `sources:` entry is one of its kinds (`FileSourceConfig`,
    `RtspSourceConfig`, `WebcamSourceConfig`), chosen by `kind` or, when that is absent, by the
    URL (`rtsp://` a camera, `v4l2:` a webcam, anything else a file), so a config written before
    `kind` existed still loads. Validating (or constructing) `SourceConfig` itself gives an
    instance of the right kind; a key of another kind is an error naming the key and the kind."""

    # Dumped as the kind it is (a field typed SourceConfig keeps the kind's own keys).
    model_config = ConfigDict(polymorphic_serialization=True)  # merged with Section's

    kind: str = Field(description="file, rtsp or webcam; inferred from the URL when absent.")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="Source id used in results.")
    url: str = Field(
        min_length=1,
        description="A video file path, an rtsp:// camera URL, or v4l2:/dev/videoN for a webcam.",
    )
    max_fps: float | None = Field(None, gt=0, le=1000, description="Sample the source down to this rate.")
    decode_threads: int = Field(0, ge=0, le=64, description="FFmpeg decoder threads for this source (0: FFmpeg picks).")
    sinks: list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]] | None = Field(
        None, min_length=1, description="The names of the configured sinks this source's results go to (null: all of them)."
    )
    stages: list[StageSpec] = Field(
        default_factory=list,
        description="Processing of this source's results between the model and the sinks, in order: "
        "[{kind: filter, classes: [...]}, ...] (the kinds: vigil.stages.registry).",
    )
    zones: list[ZoneConfig] = Field(
        default_factory=list,
        max_length=MAX_ZONES,
        description=f"Areas of this camera ({{name, polygon, classes, dwell_s, normalized}}), at most {MAX_ZONES}: a "
        "zones stage, after tracking.",
    )
    lines: list[LineConfig] = Field(
        default_factory=list,
        max_length=MAX_LINES,
        description=f"Lines of this camera ({{name, start, end, classes, normalized}}), at most {MAX_LINES}: a zones "
        "stage, after tracking.",
    )
    tracking: TrackingSettings | None = Field(
        None,
        description="Track objects on this camera (a tracking stage put first in its stages); a camera with "
        "zones or lines is tracked with the defaults when this is absent.",
    )
    clips: ClipsConfig | None = Field(
        None,
        description="Record an MP4 clip of each tracked object ({directory, pre_roll_s, post_roll_s, max_open, "
        "buffer_mb}); the camera is then tracked, with the defaults when tracking is absent.",
    )
    motion: MotionConfig | None = Field(
        None,
        description="Motion gating ({enabled, keepalive_s, threshold, min_area, masks, ...}): frames without "
        "motion skip inference (README, Motion gating). Off unless enabled.",
    )
    models: list[Annotated[str, StringConstraints(pattern=MODEL_NAME)]] | None = Field(
        None,
        min_length=1,
        description="The models (names in models:) run on this camera's whole frames, a single name or a list; "
        "the first is its primary: its results go through the camera's tracking, cascades, zones and stages, "
        "the others' results straight to the sinks (null: the first model of models:).",
    )
    cascades: list[CascadeConfig] = Field(
        default_factory=list,
        description="Secondary models run on crops of the primary model's detections ({model, name, classes, "
        "min_confidence, min_size, pad, top_k, every, vote}), their outputs attached to those detections; "
        "every: once_per_track or a number of seconds makes the camera tracked.",
    )

    def __new__(cls, *args: Any, **data: Any) -> SourceConfig:
        # SourceConfig(...) builds the kind the data describes (pydantic then runs its __init__).
        if cls is SourceConfig:
            return super().__new__(_SOURCE_KINDS.get(str(_kind_of(data)), FileSourceConfig))
        return super().__new__(cls)

    @field_validator("tracking")
    @classmethod
    def _one_tracker(cls, tracking: TrackingSettings | None, info: ValidationInfo) -> TrackingSettings | None:
        if tracking is not None and any(spec.kind == "tracking" for spec in info.data.get("stages", [])):
            raise ValueError("this source lists a tracking stage in stages: give its settings there or here, not both")
        return tracking

    @field_validator("models", mode="before")
    @classmethod
    def _one_or_many_models(cls, models: object) -> object:
        return [models] if isinstance(models, str) else models

    @field_validator("models")
    @classmethod
    def _no_repeated_model(cls, models: list[str] | None) -> list[str] | None:
        for i, name in enumerate(models or ()):
            if models and name in models[:i]:
                raise ValueError(f"model '{name}' is listed twice; a camera runs each model once")
        return models

    @field_validator("url")
    @classmethod
    def _usable_url(cls, url: str) -> str:
        problem = url_problem(url)
        if problem:
            raise ValueError(problem)  # never the URL itself: it may hold a password
        return url

    @model_validator(mode="after")
    def _unique_names(self) -> SourceConfig:
        problem = repeated_name(self.zones, self.lines)
        if problem:
            raise ValueError(problem)
        repeated = repeated_cascade(self.cascades)
        if repeated:
            index, message = repeated
            raise _located_error(("cascades", index, "name"), message)
        return self

    @property
    def needs_tracking(self) -> bool:
        """Whether this camera's results are tracked: it has tracking settings or a tracking stage,
        or something that follows objects rather than boxes (zones, lines, clips, a cascade run
        once per track or every N seconds per track)."""
        return (
            self.tracking is not None
            or any(spec.kind == "tracking" for spec in self.stages)
            or bool(self.zones or self.lines)
            or self.clips is not None
            or any(cascade.per_track for cascade in self.cascades)
        )

    @model_validator(mode="wrap")
    @classmethod
    def _of_its_kind(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if cls is not SourceConfig or not isinstance(data, dict):
            return handler(data)
        kind = _kind_of(data)
        if not isinstance(kind, str) or kind not in _SOURCE_KINDS:
            known = ", ".join(_SOURCE_KINDS)
            raise _key_error("kind", f"unknown source kind {kind!r}; use one of {known}")
        config = _SOURCE_KINDS[kind]
        for key in data:
            owner = _FIELD_OWNERS.get(key)
            if key not in config.model_fields and owner is not None:
                how = "" if "kind" in data else " (inferred from its url)"
                raise _key_error(key, f"'{key}' is a setting of {owner} sources; this is a {kind} source{how}")
        return config.model_validate({**data, "kind": kind})

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        if cls is not SourceConfig:
            return handler(core_schema)
        kinds = [handler(kind.__pydantic_core_schema__) for kind in _SOURCE_KINDS.values()]
        return {"title": "SourceConfig", "description": cls.__doc__, "oneOf": kinds}


class FileSourceConfig(SourceConfig):
    """A video file, read as fast as the model takes it (nothing dropped) or paced like a camera."""

    kind: Literal["file"] = Field("file", description="A video file.")
    realtime: bool = Field(False, description="Pace frames by their timestamps, like a camera.")
    loop: bool = Field(False, description="Start again at the end.")

    @model_validator(mode="after")
    def _a_path(self) -> FileSourceConfig:
        if kind_of_url(self.url) != "file":
            raise ValueError("a file source's url is a path or file://...; for a camera or webcam set kind to match")
        return self


class RtspSourceConfig(SourceConfig):
    """A network camera: reconnected forever with backoff, its password masked everywhere."""

    kind: Literal["rtsp"] = Field("rtsp", description="An rtsp:// or rtsps:// camera.")
    transport: Literal["tcp", "udp"] = Field("tcp", description="Carry the stream over TCP or UDP.")
    password_file: str | None = Field(
        None, min_length=1, description="File holding the camera's password, put into the URL's user part."
    )
    open_timeout_s: float = Field(10.0, gt=0, le=600, description="Longest wait to connect.")
    stall_timeout_s: float = Field(10.0, gt=0, le=600, description="Reconnect after this long without a frame.")
    reconnect: ReconnectConfig = Field(default_factory=lambda: ReconnectConfig(), description="Retries.")

    @model_validator(mode="after")
    def _an_rtsp_url(self) -> RtspSourceConfig:
        if kind_of_url(self.url) != "rtsp":
            raise ValueError("an rtsp source's url starts with rtsp:// or rtsps://")
        if self.password_file is not None and not urlsplit(self.url).username:
            raise ValueError("password_file needs the user in the URL: write rtsp://USER@host/...")
        return self


class WebcamSourceConfig(SourceConfig):
    """A capture device through FFmpeg (V4L2 on Linux): `url: v4l2:/dev/video0`."""

    kind: Literal["webcam"] = Field("webcam", description="A capture device (v4l2:/dev/videoN).")
    size: tuple[Annotated[int, Field(ge=16, le=16384)], Annotated[int, Field(ge=16, le=16384)]] | None = Field(
        None, description="Ask the device for this [width, height] (null: its default)."
    )
    fps: float | None = Field(None, gt=0, le=1000, description="Ask the device for this frame rate (null: its default).")
    input_format: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_]{1,32}$", description="Ask the device for this pixel format, e.g. mjpeg or yuyv422."
    )

    @model_validator(mode="after")
    def _a_device(self) -> WebcamSourceConfig:
        if kind_of_url(self.url) != "webcam":
            raise ValueError("a webcam source's url is v4l2:DEVICE, e.g. v4l2:/dev/video0")
        return self


AnySourceConfig = FileSourceConfig | RtspSourceConfig | WebcamSourceConfig
_SOURCE_KINDS: dict[str, type[SourceConfig]] = {
    "file": FileSourceConfig,
    "rtsp": RtspSourceConfig,
    "webcam": WebcamSourceConfig,
}
# Each key that only one kind has -> that kind, for the message when it is given to another.
_FIELD_OWNERS = {
    key: kind
    for kind, config in _SOURCE_KINDS.items()
    for key in config.model_fields
    if key not in SourceConfig.model_fields
}
SOURCE_FIELDS = frozenset(SourceConfig.model_fields) | frozenset(_FIELD_OWNERS)  # every key a source may have


def kind_of_url(url: object) -> str:
    """The kind a URL implies: rtsp://, rtsps:// -> rtsp; v4l2: -> webcam; anything else -> file."""
    if not isinstance(url, str):
        return "file"
    scheme = _SCHEME.match(url)
    if scheme and scheme.group(1).lower() in _RTSP:
        return "rtsp"
    return "webcam" if url.startswith("v4l2:") else "file"


def _kind_of(data: Mapping[str, Any]) -> object:
    """The entry's `kind` as written (any value: checked by the caller), else its URL's."""
    kind = data.get("kind")
    return kind_of_url(data.get("url")) if kind is None else kind


def _key_error(key: str, message: str) -> ValidationError:
    """An error at `key` of the source (so the loader names its line), never repeating its value."""
    error = PydanticCustomError("source_kind", message)
    return ValidationError.from_exception_data("SourceConfig", [{"type": error, "loc": (key,), "input": None}])


def _located_error(loc: tuple[str | int, ...], message: str) -> ValidationError:
    """An error at `loc` inside the source (the loader names its line)."""
    error = PydanticCustomError("source", "{message}", {"message": message})
    return ValidationError.from_exception_data("SourceConfig", [{"type": error, "loc": loc, "input": None}])


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
