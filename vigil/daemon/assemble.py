"""Turn a `PipelineConfig` into live parts: the model, the sources, the sinks, the pipeline."""

from __future__ import annotations

import asyncio
from functools import partial
from urllib.parse import urlsplit

import cv2

from vigil.config import PipelineConfig, SourceConfig
from vigil.daemon.pipeline import Pipeline, PipelineOptions
from vigil.engine import AutoModel, DetectionOptions, ObjectDetectionModel
from vigil.errors import ConfigError
from vigil.sinks import JsonlSink, Sink
from vigil.sinks.jsonl import JsonlOptions
from vigil.sources import FileSource, RTSPSource, Source, WebcamSource

__all__ = ["build_pipeline", "make_sinks", "make_source"]


def make_source(config: SourceConfig) -> Source:
    if config.url.startswith(("rtsp://", "rtsps://")):
        return RTSPSource(config.name, config.url, max_fps=config.max_fps, decode_threads=config.decode_threads)
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


async def load_model(config: PipelineConfig) -> ObjectDetectionModel:
    m = config.model
    options = DetectionOptions(confidence=m.confidence, iou=m.iou, max_det=m.max_det, image_size=m.image_size)
    # Loading builds an onnxruntime session: seconds of CPU, so off the event loop.
    model = await asyncio.to_thread(
        partial(
            AutoModel.from_pretrained,
            m.path,
            options=options,
            batch_size=config.batch.max_batch,
            intra_op_threads=m.intra_op_threads,
            allow_spinning=m.allow_spinning,
        )
    )
    if not isinstance(model, ObjectDetectionModel):
        model.close()
        raise ConfigError(
            f"model '{m.path}' is a {type(model).__name__}; the pipeline runs detection, segmentation and pose "
            "models (classification and OCR pipelines come later)"
        )
    return model


async def build_pipeline(config: PipelineConfig) -> Pipeline:
    sources = [make_source(s) for s in config.sources]
    sinks = await make_sinks(config)
    model = await load_model(config)
    batch = config.batch
    if batch.opencv_threads is not None:  # process-wide; the daemon owns the process
        cv2.setNumThreads(batch.opencv_threads)
    options = PipelineOptions(
        max_batch=batch.max_batch,
        max_delay_ms=batch.max_delay_ms,
        max_staleness_ms=batch.max_staleness_ms,
        worker_threads=batch.worker_threads,
        drain_timeout_s=batch.drain_timeout_s,
    )
    return Pipeline(model, sources, sinks, options)


async def make_sinks(config: PipelineConfig) -> list[Sink]:
    sinks: list[Sink] = []
    if config.jsonl is not None:
        jsonl = config.jsonl
        options = JsonlOptions(
            per_source=jsonl.per_source,
            rotate_bytes=int(jsonl.rotate_mb * 2**20) if jsonl.rotate_mb else None,
            rotate_seconds=jsonl.rotate_minutes * 60 if jsonl.rotate_minutes else None,
            gzip=jsonl.gzip,
            flush=jsonl.flush,
        )
        sinks.append(JsonlSink(jsonl.path, options=options))
    if config.webhook is not None:
        from vigil.sinks.webhook import WebhookOptions, WebhookSink, read_secret_file

        hook = config.webhook
        secret = await asyncio.to_thread(read_secret_file, hook.secret_file) if hook.secret_file else None
        sinks.append(WebhookSink(hook.url, hook.spool_dir, options=WebhookOptions(secret=secret)))
    return sinks
