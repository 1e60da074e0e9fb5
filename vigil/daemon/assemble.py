"""Turn a `PipelineConfig` into live parts: the model, the sources, the sinks, the pipeline."""

from __future__ import annotations

import asyncio
from functools import partial
from urllib.parse import urlsplit

from vigil.config import PipelineConfig, SourceConfig
from vigil.daemon.pipeline import Pipeline, PipelineOptions
from vigil.engine import AutoModel, DetectionOptions, ObjectDetectionModel
from vigil.errors import ConfigError
from vigil.sinks import JsonlSink
from vigil.sources import FileSource, RTSPSource, Source, WebcamSource

__all__ = ["build_pipeline", "make_source"]


def make_source(config: SourceConfig) -> Source:
    if config.url.startswith(("rtsp://", "rtsps://")):
        return RTSPSource(config.name, config.url, max_fps=config.max_fps)
    if config.url.startswith("v4l2:"):
        return WebcamSource(config.name, config.url[len("v4l2:") :], max_fps=config.max_fps)
    scheme = urlsplit(config.url).scheme
    if scheme in ("", "file") or len(scheme) == 1:  # a one-letter scheme is a Windows drive
        path = config.url[len("file://") :] if scheme == "file" else config.url
        return FileSource(config.name, path, max_fps=config.max_fps, realtime=config.realtime, loop=config.loop)
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
    model = await load_model(config)
    options = PipelineOptions(
        max_batch=config.batch.max_batch,
        max_delay_ms=config.batch.max_delay_ms,
        worker_threads=config.batch.worker_threads,
    )
    return Pipeline(model, sources, [JsonlSink(config.jsonl.path)], options)
