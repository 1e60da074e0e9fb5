"""Turn a `PipelineConfig` into live parts: the model, the sources, the sinks, the pipeline."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit, urlunsplit

import cv2

from vigil.config import PipelineConfig, SourceConfig
from vigil.config.files import read_password_file
from vigil.config.sinks import WebhookSinkConfig
from vigil.pipeline.runner import Pipeline, PipelineOptions
from vigil.pipeline.runner import FrameModel
from vigil.pipeline.observer import PipelineObserver
from vigil.engine import AutoModel, DetectionOptions, ObjectDetectionModel, TextRecognitionModel
from vigil.errors import ConfigError
from vigil.sinks import JsonlSink, Sink
from vigil.sinks.filters import ResultFilter
from vigil.sinks.jsonl import JsonlOptions
from vigil.sources import FileSource, ReconnectPolicy, RTSPSource, Source, WebcamSource
from vigil.sources.rtsp import mask_url

if TYPE_CHECKING:
    from vigil.sinks.webhook import WebhookOptions

__all__ = ["build_pipeline", "load_model", "make_sinks", "make_source", "pipeline_options", "routes", "webhook_options"]


def make_source(config: SourceConfig) -> Source:
    if config.url.startswith(("rtsp://", "rtsps://")):
        r = config.reconnect
        return RTSPSource(
            config.name,
            _with_password(config.url, config.password_file),
            transport=config.transport,
            open_timeout_s=config.open_timeout_s,
            stall_timeout_s=config.stall_timeout_s,
            reconnect=ReconnectPolicy(r.initial_s, r.max_s, r.multiplier, r.jitter, r.max_attempts),
            max_fps=config.max_fps,
            decode_threads=config.decode_threads,
        )
    if config.url.startswith("v4l2:"):
        return WebcamSource(
            config.name, config.url[len("v4l2:") :], max_fps=config.max_fps, decode_threads=config.decode_threads
        )
    scheme = urlsplit(config.url).scheme
    if scheme in ("", "file") or len(scheme) == 1:  # a one-letter scheme is a Windows drive
        path = config.url[len("file://") :] if scheme == "file" else config.url
        return FileSource(
            config.name,
            path,
            max_fps=config.max_fps,
            realtime=config.realtime,
            loop=config.loop,
            decode_threads=config.decode_threads,
        )
    raise ConfigError(
        f"source '{config.name}': '{scheme}://' sources are not supported; pass a video file, rtsp:// URL or v4l2:DEVICE"
    )


def _with_password(url: str, password_file: str | None) -> str:
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


async def load_model(config: PipelineConfig) -> FrameModel:
    m = config.model
    options = DetectionOptions(confidence=m.confidence, iou=m.iou, max_det=m.max_det, image_size=m.image_size)
    # Loading builds an onnxruntime session: seconds of CPU, so off the event loop.
    model = await asyncio.to_thread(
        partial(
            AutoModel.from_pretrained,
            m.path,
            backend=m.backend,
            quantization=m.quantization,
            device=m.device,
            package_id=m.package_id,
            options=options,
            batch_size=config.batch.max_batch,
            intra_op_threads=m.intra_op_threads,
            allow_spinning=m.allow_spinning,
        )
    )
    if not isinstance(model, (ObjectDetectionModel, TextRecognitionModel)):
        model.close()
        raise ConfigError(
            f"model '{m.path}' is a {type(model).__name__}; the pipeline runs detection, segmentation, pose "
            "and OCR models (classification comes later)"
        )
    return model


async def build_pipeline(config: PipelineConfig, observer: PipelineObserver | None = None) -> Pipeline:
    sources = [make_source(s) for s in config.sources]
    sinks = await make_sinks(config)
    model = await load_model(config)
    pipeline = Pipeline(model, sources, sinks, pipeline_options(config), observer)
    pipeline.routes = routes(config.sources)
    return pipeline


def routes(sources: Iterable[SourceConfig]) -> dict[str, frozenset[str]]:
    """Which sinks each source publishes to, for the sources that name them."""
    return {s.name: frozenset(s.sinks) for s in sources if s.sinks is not None}


def pipeline_options(config: PipelineConfig, *, keep_running: bool = False) -> PipelineOptions:
    """The runtime settings of `config`; sets OpenCV's thread count, which is process-wide (the
    daemon owns the process)."""
    batch = config.batch
    if batch.opencv_threads is not None:
        cv2.setNumThreads(batch.opencv_threads)
    return PipelineOptions(
        max_batch=batch.max_batch,
        max_delay_ms=batch.max_delay_ms,
        max_staleness_ms=batch.max_staleness_ms,
        worker_threads=batch.worker_threads,
        drain_timeout_s=batch.drain_timeout_s,
        keep_running=keep_running,
    )


SINK_KINDS = ("jsonl", "webhook", "video", "snapshot")  # the sink sections of the config, in publishing order


async def make_sinks(config: PipelineConfig) -> list[Sink]:
    sinks = [await make_sink(kind, config) for kind in SINK_KINDS]
    return [sink for sink in sinks if sink is not None]


async def make_sink(kind: str, config: PipelineConfig) -> Sink | None:
    """The sink of section `kind` of `config` (not started), or None when it is not configured."""
    if kind == "jsonl" and config.jsonl is not None:
        jsonl = config.jsonl
        options = JsonlOptions(
            per_source=jsonl.per_source,
            rotate_bytes=int(jsonl.rotate_mb * 2**20) if jsonl.rotate_mb else None,
            rotate_seconds=jsonl.rotate_minutes * 60 if jsonl.rotate_minutes else None,
            gzip=jsonl.gzip,
            flush=jsonl.flush,
        )
        return JsonlSink(jsonl.path, options=options, filter=ResultFilter.from_settings(jsonl.filter))
    if kind == "webhook" and config.webhook is not None:
        from vigil.sinks.webhook import WebhookSink, read_secret_file

        hook = config.webhook
        secret = await asyncio.to_thread(read_secret_file, hook.secret_file) if hook.secret_file else None
        return WebhookSink(hook.url, hook.spool_dir, options=webhook_options(hook, secret),
                           filter=ResultFilter.from_settings(hook.filter))
    if kind == "video" and config.video is not None:
        from vigil.sinks.video import AnnotatedVideoSink

        return AnnotatedVideoSink(config.video.directory, segment_minutes=config.video.segment_minutes)
    if kind == "snapshot" and config.snapshot is not None:
        from vigil.sinks.snapshot import SnapshotSink

        snap = config.snapshot
        return SnapshotSink(snap.directory, interval_s=snap.interval_s, filter=ResultFilter.from_settings(snap.filter))
    return None


def webhook_options(hook: WebhookSinkConfig, secret: bytes | None) -> WebhookOptions:
    """The webhook section as the sink's options. Spool segments are a sixteenth of the cap
    (1 to 8 MiB), so reaching the cap drops a small part of the backlog, not half of it."""
    from vigil.sinks.spool import SpoolOptions
    from vigil.sinks.webhook import Backoff, WebhookOptions

    cap = hook.spool_max_mb * 2**20
    return WebhookOptions(
        secret=secret,
        request_timeout_s=hook.request_timeout_s,
        connect_timeout_s=hook.connect_timeout_s,
        backoff=Backoff(initial_s=hook.retry_initial_s, max_s=hook.retry_max_s),
        max_retry_after_s=hook.max_retry_after_s,
        probe_after_s=hook.probe_after_s,
        probe_interval_s=hook.probe_interval_s,
        unhealthy_after_s=hook.unhealthy_after_s,
        spool=SpoolOptions(segment_bytes=min(8 * 2**20, max(2**20, cap // 16)), max_bytes=cap),
    )
