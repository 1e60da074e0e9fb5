"""The factories of the built-in source kinds (declared in `vigil.catalog.builtin`).

A source kind's factory is called as `factory(config, context)`: `config` the validated
`sources:` entry (an instance of the kind's config class), `context` what assembly made for
that camera (its frame gates, its clip recorder). It returns the `Source`, not started.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

from vigil.config.files import read_password_file
from vigil.config.inputs import detect_input, record_input
from vigil.config.sources import FileSourceConfig, RtspSourceConfig, WebcamSourceConfig
from vigil.errors import ConfigError
from vigil.redact import mask_url
from vigil.sources import FileSource, ReconnectPolicy, RTSPSource, WebcamSource
from vigil.sources._scaling import decode_size_of

if TYPE_CHECKING:
    from vigil.clips import ClipRecorder
    from vigil.sources.gate import FrameGate
    from vigil.sources.record import RecordInput

__all__ = ["SourceContext", "make_file_source", "make_rtsp_source", "make_webcam_source", "with_password"]


@dataclass(frozen=True)
class SourceContext:
    """What a source factory gets besides its config: the camera's frame gates (its motion
    gate) and its clip recorder (handed the packets), when it has them."""

    gates: Sequence[FrameGate] = ()
    clips: ClipRecorder | None = None
    model_input: tuple[int, int] | None = None  # (width, height) of its primary model's input, when known


def make_file_source(config: FileSourceConfig, context: SourceContext) -> FileSource:
    url = config.url or ""  # validated: a file source has a url
    path = url[len("file://") :] if url.startswith("file://") else url
    return FileSource(
        config.name,
        path,
        max_fps=config.max_fps,
        realtime=config.realtime,
        loop=config.loop,
        decode_threads=config.decode_threads,
        decoder=config.decoder,
        gates=context.gates,
        decode_size=decode_size_of(config, context.model_input),
        clips=context.clips,
    )


def make_rtsp_source(config: RtspSourceConfig, context: SourceContext) -> RTSPSource:
    """A camera: its `url`, or its `inputs` (the detect input decoded by the source, a record
    input of its own demuxed for the clips: `vigil.sources.record`)."""
    r = config.reconnect
    link: dict[str, Any] = {
        "transport": config.transport,
        "open_timeout_s": config.open_timeout_s,
        "stall_timeout_s": config.stall_timeout_s,
        "reconnect": ReconnectPolicy(r.initial_s, r.max_s, r.multiplier, r.jitter, r.max_attempts),
    }
    url, index, record = with_password(config.url or "", config.password_file), None, None
    if config.inputs:
        index, detect = detect_input(config.inputs)
        url = with_password(detect.url, detect.password_file)
        record = _record_input(config, context, link)
    return RTSPSource(
        config.name,
        url,
        **link,
        max_fps=config.max_fps,
        decode_threads=config.decode_threads,
        decoder=config.decoder,
        gates=context.gates,
        decode_size=decode_size_of(config, context.model_input),
        clips=context.clips,
        record=record,
        input_index=index,
    )


def _record_input(config: RtspSourceConfig, context: SourceContext, link: dict[str, Any]) -> RecordInput | None:
    """The camera's record input when it is another than its detect input (and it has clips);
    either way, its clips say which input they come from."""
    found = record_input(config.inputs or ())
    if found is None or context.clips is None:
        return None
    index, item = found
    separate = "detect" not in item.roles
    context.clips.from_input(index, mask_url(item.url), separate=separate)
    if not separate:
        return None
    from vigil.sources.record import RecordInput

    return RecordInput(config.name, with_password(item.url, item.password_file), clips=context.clips, index=index, **link)


def make_webcam_source(config: WebcamSourceConfig, context: SourceContext) -> WebcamSource:
    return WebcamSource(
        config.name,
        (config.url or "")[len("v4l2:") :],
        size=config.size,
        fps=config.fps,
        input_format=config.input_format,
        max_fps=config.max_fps,
        decode_threads=config.decode_threads,
        decoder=config.decoder,
        gates=context.gates,
        decode_size=decode_size_of(config, context.model_input),
        clips=context.clips,
    )


def with_password(url: str, password_file: str | None) -> str:
    """`rtsp://user@host/...` with the password read from `password_file` (read now, at start)."""
    if password_file is None:
        return url
    try:
        password = read_password_file(password_file)  # the loader checked it; it may have changed since
    except ConfigError as exc:
        raise ConfigError(f"password_file {exc}") from None
    parts = urlsplit(url)
    user = parts.username or ""
    if not user:
        raise ConfigError(f"password_file given for {mask_url(url)}, but the URL has no user: write rtsp://USER@host/...")
    host = parts.hostname or ""
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
