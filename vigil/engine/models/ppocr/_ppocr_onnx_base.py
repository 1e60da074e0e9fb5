"""What every model made from a PP-OCR package shares: the detector's settings, sessions, input."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vigil.engine._private.onnx_runtime import create_session
from vigil.engine._private.package_format import ModelMetadata, PackageMetadata
from vigil.engine.base import BatchSpec, PreparedBatch, as_bgr8
from vigil.engine.enums import ColorFormat
from vigil.engine.models.ppocr import _detection as det
from vigil.engine.options import BackendOptions
from vigil.errors import ModelLoadError


def open_sessions(package: PackageMetadata, folder: Path, backend: BackendOptions, roles: Sequence[str]) -> dict[str, Any]:
    """One onnxruntime session per role (`det`, `cls`, `rec`: the package's `<role>.onnx`), or
    for an `openvino` package one OpenVINO session per role (`<role>.xml`)."""
    names = {entry.name for entry in package.files}
    openvino = package.backend == "openvino"
    wanted = [f"{role}.{'xml' if openvino else 'onnx'}" for role in roles]
    missing = [name for name in wanted if name not in names]
    if missing:
        needs = " and ".join(filter(None, (", ".join(wanted[:-1]), wanted[-1])))
        raise ModelLoadError(f"package '{package.package_id}': this PP-OCR model needs {needs}; missing {', '.join(missing)}")
    if openvino:
        from vigil.engine._private.openvino_runtime import open_session, verify_source

        verify_source(package, folder)
        return {role: open_session(folder / f"{role}.xml", backend) for role in roles}
    excluded = package.onnx.incompatible_providers if package.onnx else ()
    return {role: create_session(folder / f"{role}.onnx", backend, excluded) for role in roles}


class PPOCROnnxBase:
    """The text detector's half of a PP-OCR package: `pre_process` brings each image to the
    detector (images keep their own sizes, so `PreparedBatch.tensor` is an object array of
    per-image tensors and `meta` the per-image geometry) and `_detect_lines` runs it."""

    model_id: str

    def __init__(self, model: ModelMetadata, package: PackageMetadata, folder: Path, sessions: dict[str, Any]) -> None:
        self.model_id = model.model_id
        self.package_id = package.package_id
        self.backend = package.backend.value
        self.package_dir = folder
        # Every image is detected on its own (sizes differ, and so does rapidocr), so any
        # number of images can be passed at once.
        self.batch = BatchSpec()
        self.metadata = model
        self._sessions = sessions
        self._rgb_input = model.input.color == ColorFormat.RGB
        norm = model.input.normalization
        self._table = det.normalization_table(norm.scale, norm.mean, norm.std)
        try:
            self._det = det.DetectionSettings.from_parameters(model.parameters)
        except (TypeError, ValueError) as exc:
            raise ModelLoadError(f"model '{model.model_id}': unreadable PP-OCR parameters in model.json ({exc})") from exc
        if self._det.limit_type not in ("min", "max"):
            raise ModelLoadError(f"model '{model.model_id}': det_limit_type must be 'min' or 'max', got {self._det.limit_type!r}")

    def pre_process(self, images: Sequence[np.ndarray]) -> PreparedBatch:
        plans = []
        tensors = np.empty(len(images), dtype=object)
        for i, image in enumerate(images):
            image = as_bgr8(image, i)
            if self._rgb_input:
                image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
            plan = det.plan_image(image, self._det)
            plans.append(plan)
            tensors[i] = det.detector_input(plan.image, self._det, self._table)
        return PreparedBatch(tensor=tensors, meta=plans)

    def _detect_lines(self, tensor: np.ndarray | None, plan: det.DetectorPlan) -> tuple[list[np.ndarray], list[float]]:
        """The lines in reading order, in the detector image's pixels, with their box scores."""
        if tensor is None:
            return [], []
        prob = self._run("det", tensor)[0, 0]
        h, w = plan.image.shape[:2]
        return det.detect_lines(prob, h, w, self._det)

    def _run(self, role: str, tensor: np.ndarray) -> np.ndarray:
        session = self._sessions.get(role)
        if session is None:
            raise RuntimeError(f"model '{self.model_id}' is closed")
        output: np.ndarray = session.run(None, {session.get_inputs()[0].name: tensor})[0]
        return output

    def close(self) -> None:
        self._sessions = {}
