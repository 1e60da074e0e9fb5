"""The `model` section: which model runs, with its thresholds and backend options; `models:`
entries (`ModelEntry`) add per-model batch overrides (`ModelBatchConfig`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from vigil.catalog import CATALOG
from vigil.config._section import Section
from vigil.config.batch import BatchConfig

__all__ = [
    "DEFAULT_MODEL",
    "MODEL_NAME",
    "ModelBatchConfig",
    "ModelConfig",
    "ModelEntry",
    "OnnxRuntimeConfig",
    "OpenVINOConfig",
    "TensorRTConfig",
]

MODEL_NAME = r"^[A-Za-z0-9_.-]{1,64}$"  # a `models:` key, what cameras and cascades name
DEFAULT_MODEL = "default"  # the name `model:` (one model) is known by


class TensorRTConfig(Section):
    """`model.tensorrt`: settings only a TensorRT package uses."""

    build_engine: Literal["never", "auto"] = Field(
        "never",
        description="auto: on a machine with TensorRT and an NVIDIA GPU, build a TensorRT package from the model "
        "directory's ONNX package at start-up when no compatible one exists (minutes, reported to systemd).",
    )
    engine_fp16: bool = Field(True, description="Build that engine in fp16 (the GPU's fast path).")


class OnnxRuntimeConfig(Section):
    """`model.onnxruntime`: settings only an ONNX package (run by onnxruntime) uses."""

    intra_op_threads: int | None = Field(
        None, ge=1, le=256, description="onnxruntime intra-op threads (default: one per physical core)."
    )
    allow_spinning: bool = Field(
        False,
        description="Let onnxruntime's threads busy-wait between ops: a few % faster inference when nothing else "
        "needs the cores, slower pipelines when decoding or post-processing does (measured in bench/pipeline.py).",
    )


class OpenVINOConfig(Section):
    """`model.openvino`: settings only an OpenVINO package uses (docs/MODEL_PACKAGES.md, "OpenVINO")."""

    device: Literal["AUTO", "CPU", "GPU", "NPU"] = Field(
        "CPU",
        description="Where OpenVINO runs the model: CPU (the default: f32, the same results as the ONNX package), "
        "GPU (an Intel iGPU/dGPU, f16 by OpenVINO's default), NPU (Core Ultra), or AUTO (OpenVINO picks, GPU first). "
        "A device OpenVINO does not see here is refused with the devices it does see.",
    )
    convert: Literal["never", "auto"] = Field(
        "never",
        description="auto: with OpenVINO installed, convert the model directory's ONNX package into an openvino package "
        "at start-up when no usable one exists (seconds; cached in the model directory, hash-verified).",
    )


# Keys that sat directly under `model:` before they moved into their backend's section.
_MOVED = {
    "tensorrt": tuple(TensorRTConfig.model_fields),
    "onnxruntime": tuple(OnnxRuntimeConfig.model_fields),
}


def _yaml(value: object) -> str:
    """A scalar as YAML writes it (true, not True), for the message showing the new form."""
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def check_backend(name: str) -> str:
    """`name` when the catalog declares a model backend of that name (a plugin's too)."""
    if name not in CATALOG.backends:
        names = [f"'{known}'" for known in CATALOG.backends.names()]
        expected = " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        raise PydanticCustomError("literal_error", "Input should be {expected}", {"expected": expected})
    return name


class ModelConfig(Section):
    path: str = Field(
        description="The model: a model directory (model.json and its packages), an Ultralytics YOLO or PP-OCR ONNX "
        "export, or PROVIDER:MODEL_ID from a weights provider."
    )
    backend: list[Annotated[str, AfterValidator(check_backend)]] | None = Field(
        None,
        description="Package backends allowed, best first (a single value or a list; the backends the catalog declares: "
        "trt, openvino, onnx, torchscript, hf, a plugin's); default: every installed one, "
        "TensorRT > OpenVINO > ONNX > TorchScript > HF (docs/MODEL_PACKAGES.md, 'Which backend first').",
    )
    quantization: list[Literal["fp32", "fp16", "bf16", "int8"]] | None = Field(
        None, description="Package precisions allowed, best first (a single value or a list); default: the resolver's order."
    )
    min_int8_agreement: float = Field(
        0.95,
        ge=0.0,
        le=1.0,
        description="On a CPU with VNNI an int8 package runs before fp32 when the agreement with fp32 that "
        "`vigil models quantize` recorded (F1 of the detections) reaches this; `quantization` overrides it.",
    )
    device: Literal["auto", "cpu", "gpu"] = Field(
        "auto", description="gpu: refuse packages that would run on the CPU; cpu: never use the GPU."
    )
    package_id: str | None = Field(None, min_length=1, description="Load exactly this package of the model directory.")
    prompts: list[str] | None = Field(
        None,
        min_length=1,
        description="A zero-shot (open-vocabulary) detector's text prompts, e.g. [a person, a delivery van]: its "
        "classes, in order. Prompts per camera: one models: entry per prompt list, each camera naming its own "
        "(entries on the same model share its weights).",
    )
    task: Literal["detect", "segment", "pose", "classify", "ocr"] | None = Field(
        None,
        description="Run the model as this task instead of its own, where vigil has that implementation: detect on "
        "a PP-OCR model is its text detector alone (boxes of class text, e.g. the primary of an OCR cascade).",
    )
    confidence: float = Field(0.25, ge=0.0, le=1.0, description="Minimum confidence of a kept detection.")
    iou: float = Field(0.7, ge=0.0, le=1.0, description="IoU above which NMS suppresses a box of the same class.")
    max_det: int = Field(300, ge=1, le=10_000, description="Most detections kept per frame.")
    image_size: int | None = Field(
        None, ge=32, le=4096, description="Inference size for dynamic-size exports (default: the export's imgsz)."
    )
    tensorrt: TensorRTConfig = Field(
        default_factory=TensorRTConfig, description="What only a TensorRT package uses: building its engine here."
    )
    onnxruntime: OnnxRuntimeConfig = Field(
        default_factory=OnnxRuntimeConfig, description="What only an ONNX package (onnxruntime) uses."
    )
    openvino: OpenVINOConfig = Field(
        default_factory=OpenVINOConfig, description="What only an OpenVINO package uses: its device, converting it here."
    )

    @model_validator(mode="before")
    @classmethod
    def _flat_backend_keys(cls, data: object) -> object:
        """The backend settings once sat directly under `model:`; they still load from there,
        moved into their section, unless the section is given too (which one would win?)."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for section, keys in _MOVED.items():
            flat = {key: data.pop(key) for key in keys if key in data}
            if not flat:
                continue
            if section in data:
                given = data[section] if isinstance(data[section], dict) else {}
                merged = ", ".join(f"{k}: {_yaml(v)}" for k, v in {**given, **flat}.items())
                raise ValueError(
                    f"{', '.join(flat)} moved into the {section} section, which is given too; "
                    f"write them all there: `{section}: {{{merged}}}`"
                )
            data[section] = flat
        return data

    @field_validator("prompts")
    @classmethod
    def _usable_prompts(cls, prompts: list[str] | None) -> list[str] | None:
        if prompts is None:
            return None
        cleaned = [p.strip() for p in prompts]
        if not all(cleaned):
            raise ValueError("every prompt needs some text")
        if len(set(cleaned)) != len(cleaned):
            raise ValueError("each prompt once: the prompts are the model's classes")
        return cleaned

    @field_validator("backend", "quantization", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


class ModelBatchConfig(Section):
    """`models.NAME.batch`: this model's own batching; each key given (not null) replaces the
    top-level `batch:` value for this model only."""

    max_batch: int | None = Field(
        None,
        ge=1,
        le=256,
        description="Most frames (or crops) per inference call of this model (absent: batch.max_batch).",
    )
    max_delay_ms: float | None = Field(
        None, ge=0.0, le=10_000.0, description="Longest wait for this model's batch to fill (absent: batch.max_delay_ms)."
    )
    max_staleness_ms: float | None = Field(
        None,
        gt=0.0,
        le=600_000.0,
        description="Drop a live frame older than this when this model's batch forms (absent: batch.max_staleness_ms, "
        "which alone can say never).",
    )

    def applied_to(self, batch: BatchConfig) -> BatchConfig:
        """`batch` with the values given here replacing its own."""
        update = {key: value for key, value in self if value is not None}
        return batch.model_copy(update=update)


class ModelEntry(ModelConfig):
    """One `models:` entry: the `model` section's settings, plus this model's own batching."""

    batch: ModelBatchConfig | None = Field(
        None,
        description="This model's batching ({max_batch, max_delay_ms, max_staleness_ms}), each key overriding the "
        "top-level batch: for this model (null: the top-level batch as it is).",
    )
