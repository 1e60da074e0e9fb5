"""Turn a `PipelineConfig` into live parts: the model, the sources, the sinks, the pipeline."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit, urlunsplit

import cv2

from vigil.config import PipelineConfig, SourceConfig
from vigil.config.sources import FileSourceConfig, RtspSourceConfig, WebcamSourceConfig
from vigil.config.files import read_password_file
from vigil.config.sink_list import SinkEntry
from vigil.config.stages import StageSpec
from vigil.config.zones import ZonesStageConfig
from vigil.pipeline.runner import Pipeline, PipelineOptions
from vigil.pipeline.runner import FrameModel
from vigil.pipeline.observer import PipelineObserver
from vigil.engine import AutoModel, DetectionOptions, ObjectDetectionModel, TextRecognitionModel
from vigil.errors import ConfigError
from vigil.pipeline.fanout import Outlet
from vigil.sinks.filters import ResultFilter
from vigil.sinks.registry import build_sink
from vigil.sources import FileSource, ReconnectPolicy, RTSPSource, Source, WebcamSource
from vigil.sources.gate import FrameGate
from vigil.sources.rtsp import mask_url
from vigil.stages.base import Stage
from vigil.stages.registry import build_stages
from vigil.stages.tracking import TrackingStageConfig

if TYPE_CHECKING:
    from vigil.clips import ClipRecorder

__all__ = ["build_pipeline", "load_model", "make_camera", "make_clips", "make_gates", "make_outlet", "make_sinks", "make_source", "make_stages", "pipeline_options", "routes",
           "tracking_spec", "with_zones"]


def make_camera(config: SourceConfig) -> tuple[Source, list[Stage]]:
    """The source of one `sources:` entry and its stages, sharing one clip recorder when the
    entry records clips (the source hands it packets, the zones stage objects)."""
    clips = make_clips(config)
    return make_source(config, clips), make_stages(config, clips)


def make_clips(config: SourceConfig) -> ClipRecorder | None:
    """The clip recorder of a source with `clips:`, else None."""
    if config.clips is None:
        return None
    from vigil.clips import ClipRecorder

    return ClipRecorder(config.name, config.clips)


def make_source(config: SourceConfig, clips: ClipRecorder | None = None) -> Source:
    """The source of one `sources:` entry, by its kind (not started), with its frame gates (the
    motion gate when `motion.enabled`); `clips` gets its packets."""
    gates = make_gates(config)
    if isinstance(config, RtspSourceConfig):
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
            gates=gates,
            clips=clips,
        )
    if isinstance(config, WebcamSourceConfig):
        return WebcamSource(
            config.name,
            config.url[len("v4l2:") :],
            size=config.size,
            fps=config.fps,
            input_format=config.input_format,
            max_fps=config.max_fps,
            decode_threads=config.decode_threads,
            gates=gates,
            clips=clips,
        )
    if isinstance(config, FileSourceConfig):
        path = config.url[len("file://") :] if config.url.startswith("file://") else config.url
        return FileSource(
            config.name,
            path,
            max_fps=config.max_fps,
            realtime=config.realtime,
            loop=config.loop,
            decode_threads=config.decode_threads,
            gates=gates,
            clips=clips,
        )
    raise ConfigError(f"source '{config.name}': no source of kind '{config.kind}'; use file, rtsp or webcam")


def make_gates(config: SourceConfig) -> list[FrameGate]:
    """The frame gates of one source: its motion gate when `motion.enabled`."""
    if config.motion is None or not config.motion.enabled:
        return []
    from vigil.sources.motion import MotionGate

    return [MotionGate(config.motion, config.name)]


def make_stages(config: SourceConfig, clips: ClipRecorder | None = None) -> list[Stage]:
    """The stages of one source (fresh state), by their kinds' factories (`vigil.stages.registry`):
    its tracking first when it has one (`tracking_spec`), then its `stages:` in order; `clips`
    goes to the zones stage, which opens and closes the objects' clips."""
    tracking = tracking_spec(config)
    specs = ([tracking] if tracking is not None else []) + list(config.stages)
    return build_stages(with_zones(specs, config), config.name, clips)


def with_zones(specs: list[StageSpec], config: SourceConfig) -> list[StageSpec]:
    """`specs` with the `zones` stage that `sources[].zones` / `lines` stand for, right after the
    tracking stage (its results carry the tracker ids the zones need). A source with `clips:` and
    neither gets a zones stage without zones: its objects' starts and ends delimit the clips."""
    clips_only = config.clips is not None and not any(spec.kind == "zones" for spec in specs)
    if not (config.zones or config.lines or clips_only):
        return specs
    zones = StageSpec("zones", ZonesStageConfig(zones=config.zones, lines=config.lines))
    tracking = [i for i, spec in enumerate(specs) if spec.kind == "tracking"]
    at = tracking[-1] + 1 if tracking else 0
    return [*specs[:at], zones, *specs[at:]]


def tracking_spec(config: SourceConfig) -> StageSpec | None:
    """The tracking stage a source gets ahead of its `stages:`: its `tracking:` settings, or the
    defaults when it has zones or lines (they follow objects, not boxes), unless its `stages:`
    list a tracking stage already."""
    if any(spec.kind == "tracking" for spec in config.stages):
        return None
    if config.tracking is not None:
        return StageSpec("tracking", TrackingStageConfig(**config.tracking.model_dump()))
    if getattr(config, "zones", None) or getattr(config, "lines", None) or getattr(config, "clips", None):
        return StageSpec("tracking", TrackingStageConfig())
    return None


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
            min_int8_agreement=m.min_int8_agreement,
            device=m.device,
            package_id=m.package_id,
            options=options,
            batch_size=config.batch.max_batch,
            intra_op_threads=m.onnxruntime.intra_op_threads,
            allow_spinning=m.onnxruntime.allow_spinning,
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
    cameras = {s.name: make_camera(s) for s in config.sources}
    sources = [source for source, _ in cameras.values()]
    sinks = await make_sinks(config)
    model = await load_model(config)
    stages = {name: chain for name, (_, chain) in cameras.items()}
    pipeline = Pipeline(model, sources, sinks, pipeline_options(config), observer, stages)
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


async def make_sinks(config: PipelineConfig) -> list[Outlet]:
    """Every sink of `config` (not started), in the order of its `sinks:` list."""
    return [await make_outlet(entry) for entry in config.sinks]


async def make_outlet(entry: SinkEntry) -> Outlet:
    """The sink of one `sinks:` entry (built by its kind's factory in the registry), with the
    entry's filter, which the fanout applies."""
    return Outlet(await build_sink(entry), ResultFilter.from_settings(entry.filter))
