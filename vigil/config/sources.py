"""The `sources` section: files, cameras (rtsp) and webcams, each kind with only its own settings.

The kinds are the catalog's source section (`vigil.catalog`, declared in `vigil.catalog.builtin`
or by plugins), read at validation time: a kind's config class is a subclass of `SourceConfig`
with `kind: Literal["its name"]`."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
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

from vigil.catalog import CATALOG
from vigil.config._section import Section
from vigil.config.cascade import CascadeConfig, repeated_cascade
from vigil.config.clips import ClipsConfig
from vigil.config.decode_size import DecodeSizeSetting, decode_size_field
from vigil.config.decoding import DecoderName, decoder_field
from vigil.config.inputs import MAX_INPUTS, InputConfig, check_inputs, input_url
from vigil.config.model import MODEL_NAME
from vigil.config.motion import MotionConfig
from vigil.config.speed import SpeedConfig, limit_problem
from vigil.config.stages import StageSpec
from vigil.config.tracking import TrackingSettings
from vigil.config.urls import kind_of_url, url_problem
from vigil.config.zones import MAX_LINES, MAX_ZONES, LineConfig, ZoneConfig, repeated_name
from vigil.errors import ConfigError

__all__ = [
    "AnySourceConfig",
    "FileSourceConfig",
    "ReconnectConfig",
    "RtspSourceConfig",
    "SourceConfig",
    "WebcamSourceConfig",
    "source_fields",
    "source_kinds",
]


class ReconnectConfig(Section):
    initial_s: float = Field(0.5, gt=0, le=3600, description="First wait before reconnecting.")
    max_s: float = Field(30.0, gt=0, le=86_400, description="Longest wait between attempts.")
    multiplier: float = Field(2.0, ge=1.0, le=10.0, description="Each wait is the previous one times this.")
    jitter: float = Field(0.2, ge=0.0, le=1.0, description="Random spread of each wait, as a fraction.")
    max_attempts: int | None = Field(None, ge=1, description="Give up after this many attempts in a row (null: never).")


class SourceConfig(Section):
    """What every source has. A `sources:` entry is one of its kinds (the catalog's: `FileSourceConfig`,
    `RtspSourceConfig`, `WebcamSourceConfig` built in), chosen by `kind` or, when that is absent, by
    the URL (the kinds' `url_prefixes`: `rtsp://` a camera, `v4l2:` a webcam, anything else a file), so a config written before
    `kind` existed still loads. Validating (or constructing) `SourceConfig` itself gives an
    instance of the right kind; a key of another kind is an error naming the key and the kind."""

    # Dumped as the kind it is (a field typed SourceConfig keeps the kind's own keys).
    model_config = ConfigDict(polymorphic_serialization=True)  # merged with Section's

    kind: str = Field(description="file, rtsp or webcam; inferred from the URL when absent.")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="Source id used in results.")
    url: str | None = Field(
        None,
        min_length=1,
        description="A video file path, an rtsp:// camera URL, or v4l2:/dev/videoN for a webcam (a camera may list inputs: instead).",
    )
    max_fps: float | None = Field(None, gt=0, le=1000, description="Sample the source down to this rate.")
    decode_threads: int = Field(0, ge=0, le=64, description="FFmpeg decoder threads for this source (0: FFmpeg picks).")
    decoder: DecoderName = decoder_field()
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
    speed: SpeedConfig | None = Field(
        None,
        description="Speed calibration ({image: [4 points], world: [4 points in metres], window_s, normalized}): "
        "speed_kmh in records and events, speeding in zones with speed_limit_kmh; a zones stage, after tracking.",
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
    decode_size: DecodeSizeSetting | None = decode_size_field()  # after zones, lines, stages, motion: it checks them
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
            return super().__new__(source_kinds().get(str(_kind_of(data)), FileSourceConfig))
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
    def _usable_url(cls, url: str | None) -> str | None:
        problem = url_problem(url) if url is not None else None  # no url: check_inputs says what is missing
        if problem:
            raise ValueError(problem)  # never the URL itself: it may hold a password
        return url

    @model_validator(mode="after")
    def _unique_names(self) -> SourceConfig:
        check_inputs(self)  # url, or a camera's inputs (vigil.config.inputs)
        problem = repeated_name(self.zones, self.lines) or limit_problem(list(self.zones), self.speed)
        if problem:
            raise ValueError(problem)
        repeated = repeated_cascade(self.cascades)
        if repeated:
            index, message = repeated
            raise _located_error(("cascades", index, "name"), message)
        for i, line in enumerate(self.lines):
            if line.relink_appearance is not None and not self.cascades:
                raise _located_error(
                    ("lines", i, "relink_appearance"),
                    "re-linking by appearance needs an embedding model (a CLIP hf package) as a cascade on this "
                    "camera: add cascades: [{model: NAME}], or set relink_appearance: null",
                )
        return self

    @property
    def needs_tracking(self) -> bool:
        """Whether this camera's results are tracked: it has tracking settings or a tracking stage,
        or something that follows objects rather than boxes (zones, lines, clips, a cascade run
        once per track or every N seconds per track)."""
        return (
            self.tracking is not None
            or any(spec.kind == "tracking" for spec in self.stages)
            or bool(self.zones or self.lines or self.speed)
            or self.clips is not None
            or any(cascade.per_track for cascade in self.cascades)
        )

    def implied_stages(self) -> dict[str, str]:
        """The stage kinds this source's own sections put in its chain (tracking, cascade,
        zones; `vigil.daemon.assemble.implied_stages` makes them), each with the first key that
        implies it."""
        implied: dict[str, str] = {}
        if self.needs_tracking and not any(spec.kind == "tracking" for spec in self.stages):
            keys = ("tracking", "zones", "lines", "speed", "clips", "cascades")
            implied["tracking"] = next(key for key in keys if getattr(self, key))
        if self.cascades:
            implied["cascade"] = "cascades"
        if self.zones or self.lines or self.speed or (self.clips is not None and not any(s.kind == "zones" for s in self.stages)):
            implied["zones"] = "zones" if self.zones else "lines" if self.lines else "speed" if self.speed else "clips"
        return implied

    @model_validator(mode="wrap")
    @classmethod
    def _of_its_kind(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if cls is not SourceConfig or not isinstance(data, dict):
            return handler(data)
        kind = _kind_of(data)
        kinds = source_kinds()
        if not isinstance(kind, str) or kind not in kinds:
            failures = "".join(f"; {failure}" for failure in CATALOG.failures)
            raise _key_error("kind", f"unknown source kind {kind!r}; use one of {', '.join(kinds)}{failures}")
        config = kinds[kind]
        owners = _field_owners(CATALOG.sources.version)
        for key in data:
            owner = owners.get(key)
            if key not in config.model_fields and owner is not None:
                how = "" if "kind" in data else " (inferred from its url)"
                raise _key_error(key, f"'{key}' is a setting of {owner} sources; this is a {kind} source{how}")
        return config.model_validate({**data, "kind": kind})

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        if cls is not SourceConfig:
            return handler(core_schema)
        kinds = [handler(kind.__pydantic_core_schema__) for kind in source_kinds().values()]
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
    inputs: list[InputConfig] | None = Field(
        None, min_length=1, max_length=MAX_INPUTS, description="Instead of url: [{url, roles: [detect]}, {url, roles: [record]}]."
    )

    @model_validator(mode="after")
    def _an_rtsp_url(self) -> RtspSourceConfig:
        if self.url is not None and kind_of_url(self.url) != "rtsp":
            raise ValueError("an rtsp source's url starts with rtsp:// or rtsps://")
        if self.password_file is not None and self.url is not None and not urlsplit(self.url).username:
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


AnySourceConfig = FileSourceConfig | RtspSourceConfig | WebcamSourceConfig  # the built-in kinds


def source_kinds() -> dict[str, type[SourceConfig]]:
    """Every source kind of the catalog: its name -> its config class."""
    return _source_kinds(CATALOG.sources.version)


@lru_cache(maxsize=4)
def _source_kinds(version: int) -> dict[str, type[SourceConfig]]:
    kinds: dict[str, type[SourceConfig]] = {}
    for kind in CATALOG.sources.kinds():
        config = kind.load_config()
        if not (isinstance(config, type) and issubclass(config, SourceConfig)):
            raise ConfigError(f"source kind '{kind.name}' ({kind.origin}): its config class must subclass SourceConfig")
        kinds[kind.name] = config
    return kinds


@lru_cache(maxsize=4)
def _field_owners(version: int) -> dict[str, str]:
    """Each key that only one kind has -> that kind, for the message when it is given to another."""
    return {
        key: kind
        for kind, config in source_kinds().items()
        for key in config.model_fields
        if key not in SourceConfig.model_fields
    }


def source_fields() -> frozenset[str]:
    """Every key a source of any kind may have."""
    return frozenset(SourceConfig.model_fields) | frozenset(_field_owners(CATALOG.sources.version))


def _kind_of(data: Mapping[str, Any]) -> object:
    """The entry's `kind` as written (any value: checked by the caller), else its URL's."""
    kind = data.get("kind")
    return kind_of_url(data.get("url") or input_url(data)) if kind is None else kind


def _key_error(key: str, message: str) -> ValidationError:
    """An error at `key` of the source (so the loader names its line), never repeating its value."""
    error = PydanticCustomError("source_kind", message)
    return ValidationError.from_exception_data("SourceConfig", [{"type": error, "loc": (key,), "input": None}])


def _located_error(loc: tuple[str | int, ...], message: str) -> ValidationError:
    """An error at `loc` inside the source (the loader names its line)."""
    error = PydanticCustomError("source", "{message}", {"message": message})
    return ValidationError.from_exception_data("SourceConfig", [{"type": error, "loc": loc, "input": None}])
