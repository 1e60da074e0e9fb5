"""`AutoModel`: one entry point that turns a model reference into a ready model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from vigil.engine._private.environment import RuntimeEnvironment
from vigil.engine._private.loader import load_model
from vigil.engine._private.package_format import known_backend
from vigil.engine._private.resolver import DEFAULT_MIN_INT8_AGREEMENT, ResolutionRequest
from vigil.engine.base import Model
from vigil.engine.enums import BackendType, Quantization
from vigil.engine.options import BackendOptions, DetectionOptions
from vigil.errors import ModelLoadError

__all__ = ["AutoModel"]

_DETECTION_FIELDS = {f.name for f in fields(DetectionOptions)}
_BACKEND_FIELDS = {f.name for f in fields(BackendOptions)}


def _tuple(value: Any, kind: Any) -> tuple[Any, ...] | None:
    if value is None:
        return None
    values = [value] if isinstance(value, (str, kind)) else list(value)
    try:
        return tuple(kind(v) for v in values)
    except ValueError as exc:
        raise ModelLoadError(f"{exc}; choose from {[k.value for k in kind]}") from None


def _backends(value: str | BackendType | Sequence[str | BackendType] | None) -> tuple[str, ...] | None:
    """Backend names the catalog declares (a plugin's too), in the given order."""
    if value is None:
        return None
    values = [value] if isinstance(value, str) else list(value)
    try:
        return tuple(known_backend(v) for v in values)
    except ValueError as exc:
        raise ModelLoadError(f"{exc}; pass one of those as backend") from None


class AutoModel:
    """Load a model from a reference: a model directory, an Ultralytics `.onnx` file, or
    `PROVIDER:MODEL_ID`. The best package for this machine is chosen (docs/MODEL_PACKAGES.md).

        model = AutoModel.from_pretrained("models/yolov8n", backend="onnx", confidence=0.4)
        detections = model([image])[0]
    """

    @classmethod
    def from_pretrained(
        cls,
        ref: str | Path,
        *,
        backend: str | BackendType | Sequence[str | BackendType] | None = None,
        batch_size: int | None = None,
        batch_range: tuple[int, int] | None = None,
        quantization: str | Quantization | Sequence[str | Quantization] | None = None,
        device: str = "auto",
        package_id: str | None = None,
        allow_untrusted: bool = False,
        min_int8_agreement: float = DEFAULT_MIN_INT8_AGREEMENT,
        options: DetectionOptions | None = None,
        environment: RuntimeEnvironment | None = None,
        resolution_cache_ttl_s: float = 24 * 3600.0,
        task: str | None = None,
        **option_values: Any,
    ) -> Model[Any]:
        """Resolve and load `ref`.

        Resolution preferences: `backend` (one or an ordered list), `batch_size` / `batch_range`,
        `quantization`, `device` (`auto`, `cpu`, `gpu`), `package_id`, `allow_untrusted`,
        `min_int8_agreement` (the recorded agreement with fp32 an int8 package needs to run
        first on a CPU with VNNI; a given `quantization` overrides it).
        Detection options (`confidence`, `iou`, `max_det`, `image_size`) come as a
        `DetectionOptions` or by keyword; backend options (`intra_op_threads`,
        `inter_op_threads`, `execution_providers`, `allow_spinning`, `openvino_device`) by keyword. A model from a remote provider
        that resolved here less than `resolution_cache_ttl_s` ago loads from the cache without
        contacting the provider (0 disables that). `task` loads the package as another task than
        its model.json says, where vigil implements one: `task="detect"` on a PP-OCR model gives
        its text detector alone, an object detector of "text" boxes. `prompts` (a list of strings)
        makes a zero-shot detector (an `hf` OWLv2) an `ObjectDetectionModel` of those classes, with
        `confidence` as its threshold.
        """
        options, backend_options = _split_options(ref, options, option_values)
        if device not in ("auto", "cpu", "gpu"):
            raise ModelLoadError(f"device must be 'auto', 'cpu' or 'gpu', got {device!r}")
        if not 0.0 <= min_int8_agreement <= 1.0:
            raise ModelLoadError(f"min_int8_agreement must be between 0 and 1, got {min_int8_agreement!r}")
        request = ResolutionRequest(
            backends=_backends(backend),
            batch_size=batch_size,
            batch_range=batch_range,
            quantizations=_tuple(quantization, Quantization),
            device=device,
            providers=backend_options.execution_providers,
            package_id=package_id,
            allow_untrusted=allow_untrusted,
            min_int8_agreement=min_int8_agreement,
            openvino_device=backend_options.openvino_device,
        )
        return load_model(ref, request, options, backend_options, environment, cache_ttl_s=resolution_cache_ttl_s, task=task)


def _split_options(
    ref: str | Path, options: DetectionOptions | None, values: dict[str, Any]
) -> tuple[DetectionOptions, BackendOptions]:
    """`from_pretrained`'s keyword options, checked and split into detection and backend options."""
    unknown = set(values) - _DETECTION_FIELDS - _BACKEND_FIELDS
    if unknown:
        raise TypeError(f"unknown option(s): {', '.join(sorted(unknown))}")
    detection_values = {k: v for k, v in values.items() if k in _DETECTION_FIELDS}
    if options is not None and detection_values:
        raise TypeError("pass either options= or detection option keywords, not both")
    try:
        providers = values.get("execution_providers")
        return options or DetectionOptions(**detection_values), BackendOptions(
            intra_op_threads=values.get("intra_op_threads"),
            inter_op_threads=values.get("inter_op_threads"),
            execution_providers=tuple(providers) if providers else None,
            allow_spinning=bool(values.get("allow_spinning", False)),
            openvino_device=str(values.get("openvino_device", "CPU")),
        )
    except ValueError as exc:
        raise ModelLoadError(f"model '{ref}': bad option: {exc}") from exc
