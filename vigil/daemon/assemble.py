"""Turn a `PipelineConfig` into live parts: the models, the sources, the sinks, the pipeline.

Models (`models:`) load once each: those cameras run on whole frames become the pipeline's
models (a lane each), those cameras' cascades name become `CascadeStep`s shared by every
camera's `CascadeStage` of that model (`load_models` -> `LoadedModels`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import cv2

from vigil.catalog import CATALOG, StageKind
from vigil.config import PipelineConfig, SourceConfig
from vigil.config.batch import BatchConfig
from vigil.config.cascade import CascadeConfig
from vigil.config.sink_list import SinkEntry
from vigil.config.stages import StageSpec
from vigil.config.zones import ZonesStageConfig
from vigil.daemon.decoders import look_for_decoders
from vigil.engine import (
    AutoModel,
    CascadeRule,
    ClassificationModel,
    DetectionOptions,
    Model,
    ObjectDetectionModel,
    PromptedDetector,
    TextRecognitionModel,
    check_secondary,
    validate_rule,
)
from vigil.errors import ConfigError, ModelLoadError
from vigil.pipeline.fanout import Outlet
from vigil.pipeline.observer import PipelineObserver
from vigil.pipeline.runner import FrameModel, Pipeline, PipelineOptions
from vigil.redact import mask_url
from vigil.sinks.filters import ResultFilter
from vigil.sinks.registry import build_sink
from vigil.sources import Source
from vigil.sources.gate import FrameGate
from vigil.stages.base import Stage
from vigil.stages.cascade import CascadeStage, CascadeStep
from vigil.stages.registry import build_stages
from vigil.stages.tracking import TrackingStageConfig

if TYPE_CHECKING:
    from vigil.clips import ClipRecorder

__all__ = [
    "LoadedModels",
    "build_pipeline",
    "implied_stages",
    "load_model",
    "load_models",
    "make_camera",
    "make_cascade",
    "make_cascades",
    "model_options",
    "make_clips",
    "make_gates",
    "make_outlet",
    "make_sinks",
    "make_source",
    "make_stages",
    "pipeline_options",
    "routes",
    "tracking_spec",
    "with_zones",
    "zones_spec",
]


@dataclass
class LoadedModels:
    """The models of a configuration, loaded: `frame` the ones run on whole frames (the
    pipeline's), `steps` the cascades' secondaries by model name."""

    frame: dict[str, FrameModel] = field(default_factory=dict)
    steps: dict[str, CascadeStep] = field(default_factory=dict)

    def input_size(self, name: str) -> tuple[int, int] | None:
        """(width, height) of the frame model `name`'s input, when it has a fixed one (YOLO's)."""
        size = getattr(self.frame.get(name), "input_size", None)
        return (int(size[1]), int(size[0])) if size is not None else None

    def close(self) -> None:
        for model in {id(m): m for m in [*self.frame.values(), *(s.model for s in self.steps.values())]}.values():
            model.close()


async def load_models(config: PipelineConfig) -> LoadedModels:
    """Every configured model, loaded once: the ones no camera runs on crops as frame models
    (unused ones too, for cameras added later), the cascades' secondaries as shared steps (a
    classifier, an OCR model or an embedding model; a detector is refused). One that fails closes the others."""
    loaded = LoadedModels()
    secondary = set(config.cascade_models())
    primary = set(config.primary_models())
    prompted: dict[str, PromptedDetector] = {}  # zero-shot weights loaded once, whatever the prompts
    try:
        for name in config.model_entries():
            frame = name in primary or name not in secondary
            model = _same_weights(config, name, prompted) or await load_model(config, name, frame=frame)
            if isinstance(model, PromptedDetector):
                prompted.setdefault(_weights_key(config, name), model)
            if frame:
                loaded.frame[name] = model  # type: ignore[assignment]  # checked by load_model(frame=True)
            if name in secondary:
                _check_secondary(config, name, model)
                loaded.steps[name] = CascadeStep(model, max_batch=config.batch_for(name).max_batch)
    except BaseException:
        loaded.close()
        raise
    return loaded


def _weights_key(config: PipelineConfig, name: str) -> str:
    """What makes two `models:` entries the same loaded weights: all but the prompts and what
    only post-processing and batching read."""
    entry = config.model_entries()[name]
    return entry.model_dump_json(exclude={"prompts", "confidence", "iou", "max_det", "batch"})


def _same_weights(config: PipelineConfig, name: str, prompted: Mapping[str, PromptedDetector]) -> PromptedDetector | None:
    """Prompts per camera are one `models:` entry per prompt list on one zero-shot model: the
    entry's detector on weights another entry loaded already, if any."""
    entry = config.model_entries()[name]
    first = prompted.get(_weights_key(config, name)) if entry.prompts else None
    return first.with_prompts(entry.prompts, entry.confidence) if first is not None and entry.prompts else None


def _check_secondary(config: PipelineConfig, name: str, model: Model[Any]) -> None:
    """A cascade's secondary must be a classifier, an OCR model or an embedding model; the error names the cascades
    that use it (and the model is closed)."""
    users = [f"source '{s.name}' cascade '{c.name}'" for s in config.sources for c in s.cascades if c.model == name]
    try:
        check_secondary(model, name)
    except ModelLoadError as exc:
        model.close()
        raise ModelLoadError(f"{', '.join(users)}: {exc}") from None


def make_camera(
    config: SourceConfig, steps: Mapping[str, CascadeStep] | None = None, model_input: tuple[int, int] | None = None
) -> tuple[Source, list[Stage]]:
    """The source of one `sources:` entry and its stages, sharing one clip recorder when the
    entry records clips (the source hands it packets, the zones stage objects); `steps` are the
    loaded secondaries its cascades name; `model_input` the (width, height) of its primary
    model's input (`decode_size: model`)."""
    clips = make_clips(config)
    return make_source(config, clips, model_input), make_stages(config, clips, steps)


def make_clips(config: SourceConfig) -> ClipRecorder | None:
    """The clip recorder of a source with `clips:`, else None."""
    if config.clips is None:
        return None
    from vigil.clips import ClipRecorder

    return ClipRecorder(config.name, config.clips)


def make_source(config: SourceConfig, clips: ClipRecorder | None = None, model_input: tuple[int, int] | None = None) -> Source:
    """The source of one `sources:` entry, made by its kind's factory in the catalog (not
    started), with its frame gates (the motion gate when `motion.enabled`); `clips` gets its
    packets."""
    if config.kind not in CATALOG.sources:
        raise ConfigError(f"source '{config.name}': {CATALOG.sources.unknown(config.kind)}")
    from vigil.sources.kinds import SourceContext

    source: Source = CATALOG.sources.make(config.kind, config, SourceContext(make_gates(config), clips, model_input))
    return source


def make_gates(config: SourceConfig) -> list[FrameGate]:
    """The frame gates of one source: its motion gate when `motion.enabled`."""
    if config.motion is None or not config.motion.enabled:
        return []
    from vigil.sources.motion import MotionGate

    return [MotionGate(config.motion, config.name)]


def make_stages(
    config: SourceConfig, clips: ClipRecorder | None = None, steps: Mapping[str, CascadeStep] | None = None
) -> list[Stage]:
    """The stages of one source (fresh state), each made by its kind's factory in the catalog:
    its `stages:` in order, with the stages its own sections imply (`implied_stages`) as one
    block right after the tracking stage it lists, or first. `steps`: the loaded secondaries
    by model name, for its cascades; `clips` goes to the zones stage, which opens and closes
    the objects' clips."""
    listed = build_stages(config.stages, config.name, clips)
    at = next((i + 1 for i, spec in enumerate(config.stages) if spec.kind == "tracking"), 0)
    return [*listed[:at], *implied_stages(config, clips, steps or {}), *listed[at:]]


def implied_stages(config: SourceConfig, clips: ClipRecorder | None, steps: Mapping[str, CascadeStep]) -> list[Stage]:
    """The stages a source's sections stand for (`SourceConfig.implied_stages`: its tracking,
    cascades, zones), in the order of their kinds' `place` in the catalog."""
    makers: dict[str, Callable[[], list[Stage]]] = {
        "tracking": lambda: build_stages([spec for spec in [tracking_spec(config)] if spec], config.name, clips),
        "cascade": lambda: make_cascades(config, steps),
        "zones": lambda: build_stages([spec for spec in [zones_spec(config.stages, config)] if spec], config.name, clips),
    }
    implied = sorted(config.implied_stages(), key=lambda kind: _place(CATALOG.stages.get(kind)))
    return [stage for kind in implied for stage in makers[kind]()]


def _place(kind: StageKind) -> int:
    if kind.place is None:
        raise ConfigError(f"stage kind '{kind.name}' has no place in a camera's chain; give it one in the catalog")
    return kind.place


def make_cascades(config: SourceConfig, steps: Mapping[str, CascadeStep]) -> list[Stage]:
    """One source's cascade stages, in order, each on its secondary's shared step (made by the
    `cascade` stage kind's factory)."""
    stages: list[Stage] = []
    kinds = set()
    for cascade in config.cascades:
        step = steps.get(cascade.model)
        if step is None:
            raise ConfigError(
                f"source '{config.name}' cascade '{cascade.name}': model '{cascade.model}' is not loaded "
                f"(loaded secondaries: {', '.join(steps) or 'none'})"
            )
        kinds.add(check_secondary(step.model, cascade.name))
        stages.append(CATALOG.stages.make("cascade", cascade, step, source=config.name))
    for line in (ln for ln in config.lines if ln.relink_appearance is not None and "embedding" not in kinds):
        raise ConfigError(
            f"source '{config.name}' line '{line.name}': relink_appearance needs an embedding model (a CLIP hf "
            "package) among the camera's cascades, which run none; add one or set relink_appearance: null"
        )
    return stages


def make_cascade(cascade: CascadeConfig, step: CascadeStep, *, source: str) -> CascadeStage:
    """The stage of one `cascades:` entry on its secondary's shared step; a rule whose
    `min_size` is below what the secondary can read is refused (`validate_rule`)."""
    rule = CascadeRule(
        cascade.name,
        frozenset(cascade.classes) if cascade.classes else None,
        cascade.min_confidence,
        cascade.min_size,
        cascade.pad,
        cascade.top_k,
    )
    try:
        validate_rule(rule, step.model)
    except ModelLoadError as exc:
        raise ConfigError(f"source '{source}': {exc}") from None
    return CascadeStage(rule, step, source=source, every=cascade.every, vote=cascade.vote)


def zones_spec(specs: Sequence[StageSpec], config: SourceConfig) -> StageSpec | None:
    """The `zones` stage that `sources[].zones` / `lines` stand for, or that a source with
    `clips:` and no zones stage in `specs` gets without zones (its objects' starts and ends
    delimit the clips); None when neither."""
    clips_only = config.clips is not None and not any(spec.kind == "zones" for spec in specs)
    if not (config.zones or config.lines or config.speed or clips_only):
        return None
    return StageSpec("zones", ZonesStageConfig(zones=config.zones, lines=config.lines, speed=config.speed))


def with_zones(specs: list[StageSpec], config: SourceConfig) -> list[StageSpec]:
    """`specs` with the source's `zones_spec` right after the tracking stage (its results carry
    the tracker ids the zones need)."""
    zones = zones_spec(specs, config)
    if zones is None:
        return specs
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
    if config.needs_tracking:  # zones, lines, clips, a cascade per track: they follow objects
        return StageSpec("tracking", TrackingStageConfig())
    return None


async def load_model(config: PipelineConfig, name: str | None = None, *, frame: bool = True) -> Model[Any]:
    """Load the model `name` of `config` (default: the first), batch sized by its batch
    settings; with `frame`, refuse one the pipeline cannot run on whole frames."""
    name = name or config.default_model()
    m = config.model_entries()[name]
    options = DetectionOptions(
        confidence=m.confidence,
        iou=m.iou,
        max_det=m.max_det,
        image_size=m.image_size,
        prompts=tuple(m.prompts) if m.prompts else None,
    )
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
            task=m.task,
            options=options,
            batch_size=config.batch_for(name).max_batch,
            intra_op_threads=m.onnxruntime.intra_op_threads,
            allow_spinning=m.onnxruntime.allow_spinning,
            openvino_device=m.openvino.device,
        )
    )
    if m.prompts and not isinstance(model, PromptedDetector):
        model.close()
        raise ConfigError(
            f"model '{name}' ({mask_url(m.path)}) has prompts, but it is a {type(model).__name__}, not a "
            "zero-shot detector (such as an OWLv2 hf package); remove prompts or give such a model"
        )
    if frame and not isinstance(model, (ObjectDetectionModel, TextRecognitionModel, ClassificationModel)):
        model.close()
        raise ConfigError(
            f"model '{name}' ({mask_url(m.path)}) is a {type(model).__name__}; the pipeline runs detection, segmentation, "
            "pose, classification and OCR models on frames"
        )
    return model


async def build_pipeline(config: PipelineConfig, observer: PipelineObserver | None = None) -> Pipeline:
    """The pipeline of `config` (a CLI run): its models, cameras with their stages, sinks."""
    sinks = await make_sinks(config)
    models = await load_models(config)
    await look_for_decoders(config.sources)  # auto's hardware probe, off the event loop
    cameras = {s.name: make_camera(s, models.steps, models.input_size(config.models_of(s)[0])) for s in config.sources}
    sources = [source for source, _ in cameras.values()]
    stages = {name: chain for name, (_, chain) in cameras.items()}
    pipeline = Pipeline(
        models.frame,
        sources,
        sinks,
        pipeline_options(config),
        observer,
        stages,
        source_models={s.name: config.models_of(s) for s in config.sources},
        model_options=model_options(config, models.frame),
    )
    pipeline.routes = routes(config.sources)
    return pipeline


def model_options(config: PipelineConfig, names: Iterable[str], *, keep_running: bool = False) -> dict[str, PipelineOptions]:
    """Each model's runtime settings: the pipeline's, with that model's batch overrides."""
    return {name: _options(config.batch_for(name), keep_running) for name in names}


def routes(sources: Iterable[SourceConfig]) -> dict[str, frozenset[str]]:
    """Which sinks each source publishes to, for the sources that name them."""
    return {s.name: frozenset(s.sinks) for s in sources if s.sinks is not None}


def pipeline_options(config: PipelineConfig, *, keep_running: bool = False) -> PipelineOptions:
    """The runtime settings of `config`; sets OpenCV's thread count, which is process-wide (the
    daemon owns the process)."""
    batch = config.batch
    if batch.opencv_threads is not None:
        cv2.setNumThreads(batch.opencv_threads)
    return _options(batch, keep_running)


def _options(batch: BatchConfig, keep_running: bool) -> PipelineOptions:
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
