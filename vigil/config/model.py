"""The `model` section: which model runs, with its thresholds and backend options."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vigil.config._section import Section

__all__ = ["ModelConfig"]


class ModelConfig(Section):
    path: str = Field(description="Path of an Ultralytics YOLO detection ONNX export.")
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
