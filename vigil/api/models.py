"""The management API's JSON answers and request bodies as pydantic models: the OpenAPI document
(`vigil.api.openapi`) is generated from them, so it says what the handlers send.

Objects the daemon closes (a stream, a model, a readiness check) refuse fields they do not
declare (`additionalProperties: false`), so a field a handler starts sending without saying so
here fails the response tests; an event record is open-ended (a type's own fields, a cascade's
`attached`), as docs/OUTPUT.md, Events, describes.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer
from pydantic.json_schema import SkipJsonSchema

from vigil.api.state import Origin
from vigil.config.zones import MAX_LINES, MAX_ZONES, LineConfig, ZoneConfig
from vigil.sources.base import SourceState
from vigil.store.base import EventFile

__all__ = [
    "EVENT_FILES",
    "Answer",
    "AuthMethod",
    "BatchInfo",
    "ClipsCheck",
    "DecoderChoice",
    "ModelCheck",
    "ReadinessChecks",
    "SinkCheck",
    "SourceCheck",
    "Error",
    "EventList",
    "EventRecord",
    "Health",
    "InputStream",
    "ModelInfo",
    "ModelList",
    "Readiness",
    "Removed",
    "SearchHit",
    "SearchResults",
    "SessionInfo",
    "SignIn",
    "Stream",
    "StreamList",
    "Zones",
    "ZonesBody",
    "EffectiveConfig",
]

# How a request is authenticated (`vigil.api.auth`).
AuthMethod = Literal["none", "bearer", "cookie"]

# The event files' routes (/api/v1/events/{id}/NAME) and their content types.
EVENT_FILES: dict[EventFile, tuple[str, str]] = {
    "snapshot": ("snapshot.jpg", "image/jpeg"),
    "crop": ("crop.jpg", "image/jpeg"),
    "clip": ("clip.mp4", "video/mp4"),
}


def _absent(description: str) -> Any:
    """A field left out of the answer when it does not apply (never null)."""
    return Field(None, description=description, json_schema_extra=_no_default)


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class Answer(BaseModel):
    """A JSON answer of the API: dumped (`vigil.api.answers.answer`) as its schema says, the
    fields made with `_absent` left out when None and every other field sent, null included."""

    _absent_keys: ClassVar[frozenset[str]] = frozenset()  # the `_absent` fields' names and aliases

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        absent = [(name, f.alias) for name, f in cls.model_fields.items() if f.json_schema_extra is _no_default]
        cls._absent_keys = frozenset(key for pair in absent for key in pair if key)

    # Not annotated: pydantic would take a return type for the answer's schema instead of its fields.
    @model_serializer(mode="wrap")
    def _leave_out_absent(self, handler: SerializerFunctionWrapHandler):
        dumped = handler(self)
        if not self._absent_keys or not isinstance(dumped, dict):
            return dumped
        return {key: value for key, value in dumped.items() if value is not None or key not in self._absent_keys}


class _Closed(Answer):
    model_config = ConfigDict(extra="forbid")


class Error(_Closed):
    """Every refusal (4xx), and an unexpected failure (500, without details)."""

    error: str = Field(description="What was wrong and what to do.")


class Health(_Closed):
    status: Literal["ok"]


class ModelCheck(_Closed):
    ok: bool
    model_id: str | SkipJsonSchema[None] = _absent("The serving model, once loaded.")
    reason: str | SkipJsonSchema[None] = _absent("Why not ok (the model is loading).")


class RecordCheck(_Closed):
    state: SourceState
    reason: str | SkipJsonSchema[None] = _absent("Why it is not streaming, credentials masked.")


class SourceCheck(_Closed):
    ok: bool = Field(description="Streaming, or a file that ended normally.")
    state: SourceState
    reason: str | SkipJsonSchema[None] = _absent("Why not ok, credentials masked.")
    record: RecordCheck | SkipJsonSchema[None] = _absent(
        "A camera's record input (inputs: with roles), when it has one: its clips wait while it reconnects. "
        "Shown, but it does not decide `ok` (the detect input does)."
    )


class SinkCheck(_Closed):
    ok: bool
    kind: str = Field(description="The sink's kind (jsonl, webhook, mqtt, ...).")
    published: int = Field(ge=0)
    dropped: int = Field(ge=0)
    backlog: int = Field(ge=0)
    errors: int = Field(ge=0)
    reason: str | SkipJsonSchema[None] = _absent("Why not ok, credentials masked.")
    last_error: str | SkipJsonSchema[None] = _absent("The sink's last error, credentials masked.")
    dropped_by_reason: dict[str, int] = Field(default_factory=dict, description="`dropped` by why (queue_full, disk_full ...).")


class ClipsCheck(_Closed):
    ok: bool = Field(description="False while clips fail to be written (a full disk ...).")
    written: int = Field(ge=0)
    errors: int = Field(ge=0)
    dropped_by_reason: dict[str, int] = Field(default_factory=dict, description="Clips and packets lost by why.")
    reason: str | SkipJsonSchema[None] = _absent("Why not ok.")


class CountsCheck(_Closed):
    ok: bool = Field(
        description="False while the counts over time cannot be written (a full disk ...); they are kept and retried."
    )
    failed_writes: int = Field(ge=0, description="Writes of the counts' file that failed since the start.")
    reason: str | SkipJsonSchema[None] = _absent("Why not ok.")


class ReadinessChecks(_Closed):
    model: ModelCheck
    sources: dict[str, SourceCheck] = Field(description="By stream name.")
    sinks: dict[str, SinkCheck] = Field(description="By the sink's configured name.")
    clips: dict[str, ClipsCheck] = Field(default_factory=dict, description="Event clips, by stream name.")
    counts: CountsCheck | SkipJsonSchema[None] = _absent("The counts over time (`counts:`), when they are kept in a file.")


class Readiness(_Closed):
    """`GET /readyz`: 200 when ready, else 503 with the failing checks' reasons."""

    ready: bool
    reasons: list[str] = Field(description="Why not ready (empty when ready).")
    checks: ReadinessChecks


class InputStream(_Closed):
    """One input of a camera (`inputs:`; a camera with `url:` has one)."""

    index: int | None = Field(description="Its place in the camera's inputs: (null: the camera's url:).")
    roles: list[Literal["detect", "record"]] = Field(description="detect: decoded for the model; record: feeds the clips.")
    url: str = Field(description="Credentials masked.")
    state: SourceState
    last_error: str | None = Field(description="Why it last reconnected, credentials masked.")
    attempts: int = Field(ge=0, description="Connection attempts since the start.")
    connections: int = Field(ge=0, description="Connections made since the start (reconnects: this minus 1).")
    retry_in_s: float | None = Field(description="While reconnecting: the wait (backoff, with jitter) before the next attempt.")
    packets: int | SkipJsonSchema[None] = _absent("A record input's packets demuxed for the clips (absent for others).")
    clock: Literal["camera", "arrival"] = Field(
        description="Where its capture times come from on this connection: the camera's RTCP sender reports, or arrival."
    )


class DecoderChoice(_Closed):
    """The decoder a stream's video goes through, and why (as `vigil check --decoders` says)."""

    name: str = Field(description="pyav or gstreamer (or a plugin's decoder).")
    reason: str = Field(description="'asked for by name', or what decoder auto found on this machine (docs/JETSON.md, Decoding).")
    codec: str | SkipJsonSchema[None] = _absent("The stream's codec (FFmpeg's name: h264, hevc ...), once it is open.")
    element: str | SkipJsonSchema[None] = _absent("The GStreamer element decoding it, once it is open (gstreamer only).")


class Stream(_Closed):
    name: str
    origin: Origin = Field(description="From the YAML, or added over the API.")
    url: str | None = Field(description="Credentials masked.")
    state: SourceState
    last_error: str | None = Field(description="Credentials masked.")
    fps: float = Field(ge=0, description="Frames per second reaching the model, recently.")
    latency_ms: float | None = Field(description="Median capture-to-result time of the last results.")
    results: int = Field(ge=0, description="Results made from this stream.")
    dropped: int = Field(ge=0, description="Frames lost to load (not those skipped on purpose).")
    models: list[str] = Field(description="The models run on its whole frames, the primary first.")
    width: int | None = Field(description="Its latest frame's width (null before one, or without the console).")
    height: int | None
    inputs: list[InputStream] = Field(default_factory=list, description="A camera's inputs and their states.")
    decoder: DecoderChoice | SkipJsonSchema[None] = _absent("Its decoder and why (absent: a source kind without one).")


class StreamList(_Closed):
    streams: list[Stream]


class Removed(_Closed):
    removed: str = Field(description="The stream's name.")


class BatchInfo(_Closed):
    min: int
    opt: int | None
    max: int | None = Field(description="null: no limit")
    static: bool


class ModelInfo(_Closed):
    name: str = Field(description="Its name in models:.")
    model_id: str
    package_id: str | None
    reference: str = Field(description="Where it came from, credentials masked.")
    kind: str = Field(description="The model's class.")
    classes: list[str]
    batch: BatchInfo
    batch_size: int = Field(ge=1, description="The batch the batcher forms.")
    sources: list[str] = Field(description="Cameras running it on their frames.")
    cascades: list[str] = Field(description="Cameras running it on crops of their detections.")


class ModelList(_Closed):
    models: list[ModelInfo]


class EventRecord(Answer):
    """An event's record (docs/OUTPUT.md, Events) plus the URLs of its files that exist. Each
    type adds its own fields (open-ended)."""

    model_config = ConfigDict(extra="allow")

    id: str
    record: Literal["event"]
    schema_: int = Field(alias="schema", description="The record's schema version.")
    type: str = Field(description="The event type (docs/OUTPUT.md, Events): a built-in one or a plugin's.")
    source: str
    seq: int
    capture_time: str = Field(description="ISO 8601, UTC (Z).")
    tracker_id: int
    class_id: int
    class_name: str | None
    confidence: float | SkipJsonSchema[None] = _absent("The track's best confidence so far.")
    zone: str | SkipJsonSchema[None] = _absent("Zone events: the zone.")
    line: str | SkipJsonSchema[None] = _absent("line_cross: the line.")
    direction: Literal["in", "out"] | SkipJsonSchema[None] = _absent("line_cross: the way it was crossed.")
    box: list[float] | SkipJsonSchema[None] = Field(
        None,
        min_length=4,
        max_length=4,
        description="The object's xyxy box in the event's frame (pixels).",
        json_schema_extra=_no_default,
    )
    clip: str | SkipJsonSchema[None] = _absent("The object's clip's path, when its source records clips.")
    first_seen: str | SkipJsonSchema[None] = _absent("object_start, object_end: ISO 8601.")
    last_seen: str | SkipJsonSchema[None] = _absent("object_end: ISO 8601.")
    duration_s: float | SkipJsonSchema[None] = _absent("object_end.")
    best: dict[str, Any] | SkipJsonSchema[None] = _absent("object_end: its best frame {seq, capture_time, confidence}.")
    dwell_s: float | SkipJsonSchema[None] = _absent("dwell.")
    entered_at: str | SkipJsonSchema[None] = _absent("dwell: ISO 8601.")
    attached: dict[str, Any] | SkipJsonSchema[None] = _absent("Cascades' outputs by cascade name.")
    snapshot_url: str | SkipJsonSchema[None] = _absent("When a snapshot sink wrote its picture.")
    crop_url: str | SkipJsonSchema[None] = _absent("When a snapshot sink wrote its crop.")
    clip_url: str | SkipJsonSchema[None] = _absent("When its clip exists.")


class EventList(_Closed):
    events: list[EventRecord] = Field(description="Newest first.")


class SearchHit(EventRecord):
    score: float = Field(description="Cosine likeness to the query.")
    description: str | SkipJsonSchema[None] = _absent("The picture described by search.describe's model.")


class SearchResults(_Closed):
    events: list[SearchHit] = Field(description="Best first.")


class Zones(_Closed):
    """A camera's zones and lines (as `sources[].zones` / `lines`) and its latest frame's size."""

    zones: list[ZoneConfig]
    lines: list[LineConfig]
    width: int | None = Field(description="null before a frame")
    height: int | None


class ZonesBody(_Closed):
    """`PUT /api/v1/streams/{name}/zones`: the camera's new shapes (absent: none)."""

    zones: list[ZoneConfig] = Field(default_factory=list, max_length=MAX_ZONES)
    lines: list[LineConfig] = Field(default_factory=list, max_length=MAX_LINES)


class EffectiveConfig(_Closed):
    config: dict[str, Any] = Field(description="The YAML with the API's changes on top, secrets masked.")


class SignIn(BaseModel):
    token: str


class SessionInfo(_Closed):
    auth: AuthMethod | None = Field(description="How this request is authenticated (null: it is not).")
    token_required: bool
