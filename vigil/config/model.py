"""The `model` section: which model runs, with its thresholds and backend options."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from vigil.config._section import Section

__all__ = ["ModelConfig"]


class ModelConfig(Section):
    path: str = Field(
        description="The model: a model directory (model.json and its packages), an Ultralytics YOLO or PP-OCR ONNX "
        "export, or PROVIDER:MODEL_ID from a weights provider."
    )
    backend: list[Literal["trt", "onnx"]] | None = Field(
        None,
        description="Package backends allowed, best first (a single value or a list); default: every installed one, "
        "TensorRT before ONNX.",
    )
    quantization: list[Literal["fp32", "fp16", "bf16", "int8"]] | None = Field(
        None, description="Package precisions allowed, best first (a single value or a list); default: the resolver's order."
    )
    device: Literal["auto", "cpu", "gpu"] = Field(
        "auto", description="gpu: refuse packages that would run on the CPU; cpu: never use the GPU."
    )
    package_id: str | None = Field(None, min_length=1, description="Load exactly this package of the model directory.")
    confidence: float = Field(0.25, ge=0.0, le=1.0, description="Minimum confidence of a kept detection.")
    iou: float = Field(0.7, ge=0.0, le=1.0, description="IoU above which NMS suppresses a box of the same class.")
    max_det: int = Field(300, ge=1, le=10_000, description="Most detections kept per frame.")
    image_size: int | None = Field(
        None, ge=32, le=4096, description="Inference size for dynamic-size exports (default: the export's imgsz)."
    )
    intra_op_threads: int | None = Field(
        None, ge=1, le=256, description="onnxruntime intra-op threads (default: one per physical core)."
    )
    build_engine: Literal["never", "auto"] = Field(
        "never",
        description="auto: on a machine with TensorRT and an NVIDIA GPU, build a TensorRT package from the model "
        "directory's ONNX package at start-up when no compatible one exists (minutes, reported to systemd).",
    )
    engine_fp16: bool = Field(True, description="Build that engine in fp16 (the GPU's fast path).")
    allow_spinning: bool = Field(
        False,
        description="Let onnxruntime's threads busy-wait between ops: a few % faster inference when nothing else "
        "needs the cores, slower pipelines when decoding or post-processing does (measured in bench/pipeline.py).",
    )

    @field_validator("backend", "quantization", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value
