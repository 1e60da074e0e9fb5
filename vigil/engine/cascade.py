"""Cascades: a secondary model run on crops of a primary detector's detections.

DeepStream calls them secondary GIEs; Frigate's licence-plate reader is one (a plate detector,
then OCR on each plate). The secondary's output for a detection is an `Attached`, kept in
`Detections.data["attached"]` (one `{cascade name: Attached}` dict per detection), so it follows
its detection through indexing, filters and tracking.

The daemon uses the pieces (`select`, `crop`, `run_secondary`, `attach`) to batch the crops of
every camera together; `ModelCascade` strings them together for the Python API:

    cascade = ModelCascade.from_pretrained("faces.onnx", {"face": ("classifier.onnx", {"classes": ["FACE_FEMALE"]})})
    dets = cascade([image])[0]
    print(attached(dets)[0]["face"].label)
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from vigil.engine.auto_model import AutoModel
from vigil.engine.base import ClassificationModel, Model, ObjectDetectionModel, TextRecognitionModel, as_bgr8
from vigil.engine.behaviours import EmbeddingModel
from vigil.engine.classification import ClassificationPrediction
from vigil.engine.detections import Detections
from vigil.engine.text import TextDetections
from vigil.errors import ConfigError, ModelLoadError

__all__ = [
    "MIN_CROP_PX",
    "Attached",
    "CascadeRule",
    "ModelCascade",
    "attach",
    "attached",
    "check_secondary",
    "crop",
    "embedding",
    "min_crop_size",
    "run_secondary",
    "select",
    "validate_rule",
]

AttachedKind = Literal["classification", "text", "embedding"]

# The smallest crop side (pixels) a secondary of each kind makes sense of. A YOLO classifier
# resizes any crop to its input size, but below ~8 px there is nothing left to classify. PP-OCR
# has no hard limit (a side under 30 px is grown to 30, then the detector's input is resized
# to multiples of its stride, 32), yet on rendered text it read a word from 14-16 px crops and
# nothing from 12 px ones. An embedding model (CLIP) resizes to 224: below 16 px it sees blur.
MIN_CROP_PX: Mapping[str, int] = MappingProxyType({"classification": 8, "text": 16, "embedding": 16})

_COLUMN = "attached"


@dataclass(frozen=True, slots=True)
class Attached:
    """What one secondary model said about one detection.

    Classification: `label` is the top class name, `confidence` its score, `top_k` the best
    `(class_id, class_name, score)`, best first. Text: `label` is the crop's lines joined by a
    space in reading order, `confidence` their mean score (0.0 without text), `lines` each
    line and its score. Embedding: `vector` is the crop's L2-normalised (D,) float32 embedding
    (a tracked cascade's: the normalised mean of the track's runs), `label` is empty and
    `confidence` 1.0; re-linking a line's lost tracks by appearance compares them. A tracked
    cascade votes over a track's runs: `runs` the secondary made on the track, `votes` the runs
    that gave this label, `fresh` whether it ran on this very crop (one run on this crop: 1, 1, True).
    """

    model: str
    kind: AttachedKind
    label: str
    confidence: float
    top_k: tuple[tuple[int, str, float], ...] = ()
    lines: tuple[tuple[str, float], ...] = ()
    votes: int = 1
    runs: int = 1
    fresh: bool = True
    vector: np.ndarray | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The documented JSON (docs/OUTPUT.md, `detections[].attached`)."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "label": self.label,
            "confidence": round(self.confidence, 6),
            "votes": self.votes,
            "runs": self.runs,
            "fresh": self.fresh,
        }
        if self.kind == "embedding":  # the vector stays in the process: 512 floats a detection would swamp the records
            out["dimension"] = 0 if self.vector is None else int(self.vector.shape[0])
        elif self.kind == "classification":
            out["top_k"] = [
                {"class_id": class_id, "class_name": name, "confidence": round(score, 6)} for class_id, name, score in self.top_k
            ]
        else:
            out["lines"] = [{"text": text, "confidence": round(score, 6)} for text, score in self.lines]
        return out


def attached(dets: Detections) -> list[dict[str, Attached]]:
    """Each detection's attached outputs by cascade name (empty dicts when none were attached)."""
    column = dets.data.get(_COLUMN)
    if column is None:
        return [{} for _ in range(len(dets))]
    return [dict(entry) for entry in column]


def attach(dets: Detections, name: str, indices: Sequence[int] | np.ndarray, outputs: Sequence[Attached]) -> None:
    """Attach `outputs[k]` to detection `indices[k]` under `name`, in place.

    Each touched entry gets a new dict, so detections indexed out of `dets` earlier (which share
    the entries) keep what they had.
    """
    index = np.asarray(indices, dtype=np.int64).reshape(-1)
    if len(index) != len(outputs):
        raise ValueError(f"attach: {len(index)} indices but {len(outputs)} outputs")
    column = dets.data.get(_COLUMN)
    if column is None:
        column = np.empty(len(dets), dtype=object)
        column[:] = [{} for _ in range(len(dets))]
        dets.data[_COLUMN] = column
    for i, output in zip(index.tolist(), outputs):
        column[i] = {**column[i], name: output}


def _crop_box(shape: tuple[int, ...], xyxy: Sequence[float] | np.ndarray, pad: float) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    dx, dy = (x2 - x1) * pad, (y2 - y1) * pad
    h, w = shape[:2]
    left, top = max(0, math.floor(x1 - dx)), max(0, math.floor(y1 - dy))
    right, bottom = min(w, math.ceil(x2 + dx)), min(h, math.ceil(y2 + dy))
    return left, top, max(left, right), max(top, bottom)


def crop(image: np.ndarray, xyxy: Sequence[float] | np.ndarray, pad: float = 0.0) -> np.ndarray:
    """The part of `image` under the box `xyxy` grown by `pad` times its width (height) on each
    side, clipped to the image; fractional edges round outwards. A view of `image`, not a copy:
    copy it to keep it longer than the frame. Empty (0 rows or columns) when the box lies outside.

        plate = crop(frame.image, dets.xyxy[0], pad=0.1)
    """
    left, top, right, bottom = _crop_box(image.shape, xyxy, pad)
    return image[top:bottom, left:right]


@dataclass(frozen=True, slots=True)
class CascadeRule:
    """Which detections a cascade's secondary model runs on.

    `classes`: class names (None: every class); `min_confidence`: the detection's score;
    `min_size`: the crop's smaller side in pixels, after `pad` (a fraction of the box added on
    each side); `top_k`: class scores kept per classification.
    """

    name: str
    classes: frozenset[str] | None = None
    min_confidence: float = 0.0
    min_size: int = 0
    pad: float = 0.0
    top_k: int = 5

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 <= self.min_confidence <= 1.0:
            problems.append(f"min_confidence must be between 0 and 1, got {self.min_confidence!r}")
        if self.min_size < 0:
            problems.append(f"min_size must be 0 or more pixels, got {self.min_size!r}")
        if not 0.0 <= self.pad <= 10.0:
            problems.append(f"pad must be a fraction of the box between 0 and 10, got {self.pad!r}")
        if self.top_k < 1:
            problems.append(f"top_k must be 1 or more, got {self.top_k!r}")
        if problems:
            raise ConfigError(f"cascade '{self.name}': " + "; ".join(problems))


def select(rule: CascadeRule, dets: Detections, image_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Indices (int64, ascending) of the detections `rule` sends to its secondary model.

    With `image_shape` the size is that of the crop `crop` cuts (clipped to the image, never
    empty); without it, of the padded box.
    """
    keep = dets.confidence >= rule.min_confidence
    if rule.classes is not None:
        names = dets.class_name if dets.class_name is not None else dets.class_id.astype(str)
        keep &= np.isin(names.astype(str), sorted(rule.classes))
    if image_shape is None:
        w = (dets.xyxy[:, 2] - dets.xyxy[:, 0]) * (1.0 + 2.0 * rule.pad)
        h = (dets.xyxy[:, 3] - dets.xyxy[:, 1]) * (1.0 + 2.0 * rule.pad)
        keep &= np.minimum(w, h) >= rule.min_size
        return np.flatnonzero(keep).astype(np.int64)
    picked = []
    for i in np.flatnonzero(keep).tolist():
        left, top, right, bottom = _crop_box(image_shape, dets.xyxy[i], rule.pad)
        if min(right - left, bottom - top) >= max(rule.min_size, 1):
            picked.append(i)
    return np.asarray(picked, dtype=np.int64)


def check_secondary(model: Model[Any], name: str) -> AttachedKind:
    """The kind of output `model` gives as cascade `name`'s secondary; a detector is refused."""
    if isinstance(model, ClassificationModel):
        return "classification"
    if isinstance(model, TextRecognitionModel):
        return "text"
    if isinstance(model, EmbeddingModel):
        return "embedding"
    raise ModelLoadError(
        f"cascade '{name}': model '{getattr(model, 'model_id', type(model).__name__)}' is a "
        f"{type(model).__name__}, but a cascade's secondary must be a classifier, an OCR model or an "
        "embedding model; pick a classification, PP-OCR or CLIP model for it"
    )


def min_crop_size(model: Model[Any]) -> int:
    """The smallest crop side (pixels) `model` can use as a secondary (`MIN_CROP_PX`)."""
    return MIN_CROP_PX[check_secondary(model, getattr(model, "model_id", "?"))]


def validate_rule(rule: CascadeRule, model: Model[Any]) -> None:
    """Refuse a rule whose `min_size` lets through crops too small for its secondary `model`."""
    kind = check_secondary(model, rule.name)
    smallest = MIN_CROP_PX[kind]
    if rule.min_size < smallest:
        raise ModelLoadError(
            f"cascade '{rule.name}': min_size {rule.min_size} px is below the smallest crop the {kind} model "
            f"'{model.model_id}' can use ({smallest} px); set min_size to {smallest} or more"
        )


def run_secondary(
    model: Model[Any], crops: Sequence[np.ndarray], name: str, *, max_batch: int | None = None, top_k: int = 5
) -> list[Attached]:
    """Run the secondary `model` on `crops` (BGR) in batches the package accepts; one `Attached`
    per crop, in order. `max_batch` caps a dynamic package's batch (default: its maximum, or
    every crop at once); a static package takes its own size and pads short batches."""
    kind = check_secondary(model, name)
    if not crops:
        return []
    images = [as_bgr8(image, i) for i, image in enumerate(crops)]
    step = model.batch.batch_limit(max_batch or model.batch.max or len(images))
    out: list[Attached] = []
    for start in range(0, len(images), step):
        prepared = model.pre_process(images[start : start + step])
        for result in model.post_process(model.forward(prepared), prepared):
            if kind == "classification":
                out.append(_classification(name, result, model.class_names, top_k))
            elif kind == "embedding":
                out.append(embedding(name, result))
            else:
                out.append(_text(name, result))
    return out


def embedding(name: str, vector: np.ndarray) -> Attached:
    """An embedding model's output for one crop: its vector, L2-normalised (a zero vector stays zero)."""
    row = np.asarray(vector, np.float32).reshape(-1)
    norm = float(np.linalg.norm(row))
    return Attached(model=name, kind="embedding", label="", confidence=1.0, vector=row / norm if norm > 0 else row)


def _classification(name: str, pred: ClassificationPrediction, class_names: Sequence[str], k: int) -> Attached:
    names = pred.class_names or tuple(class_names)
    order = np.argsort(-pred.probs, kind="stable")[:k]  # as ClassificationPrediction.from_probs
    top = tuple((int(i), names[i] if i < len(names) else str(int(i)), float(pred.probs[i])) for i in order.tolist())
    return Attached(model=name, kind="classification", label=top[0][1], confidence=top[0][2], top_k=top)


def _text(name: str, found: TextDetections) -> Attached:
    lines = tuple((str(text), float(score)) for text, score in zip(found.text, found.confidence))
    confidence = float(np.mean([score for _, score in lines])) if lines else 0.0
    label = " ".join(text for text, _ in lines)
    return Attached(model=name, kind="text", label=label, confidence=confidence, lines=lines)


_RULE_FIELDS = {f.name for f in fields(CascadeRule)} - {"name"}


class ModelCascade:
    """A primary detector and secondary models run on crops of its detections.

    Each secondary sees the crops its `CascadeRule` selects from every image of the call at
    once (batched across images, as the daemon batches across cameras); its outputs are
    attached to their detections (`attached(dets)`).

        cascade = ModelCascade.from_pretrained(
            "models/plates", {"plate": ("models/ppocr", {"classes": ["plate"], "min_size": 16, "pad": 0.1})}
        )
        for dets in cascade([frame_a, frame_b]):
            print([a.get("plate") for a in attached(dets)])
    """

    def __init__(self, primary: Model[Any], secondaries: Mapping[str, tuple[Model[Any], CascadeRule]]) -> None:
        if not isinstance(primary, ObjectDetectionModel):
            raise ModelLoadError(
                f"model '{getattr(primary, 'model_id', type(primary).__name__)}' is a {type(primary).__name__}, "
                "but a cascade's primary must be a detector; pick an object detection model"
            )
        for name, (model, rule) in secondaries.items():
            if rule.name != name:
                raise ConfigError(f"cascade '{name}': its rule is named '{rule.name}'; give both the same name")
            validate_rule(rule, model)
        self.primary = primary
        self.secondaries = dict(secondaries)

    @classmethod
    def from_pretrained(
        cls,
        primary_ref: str | Path,
        secondaries: Mapping[str, str | Path | tuple[str | Path, Mapping[str, Any]]],
        **primary_options: Any,
    ) -> ModelCascade:
        """Load the primary with `AutoModel.from_pretrained(primary_ref, **primary_options)` and
        each secondary from a reference or `(reference, options)`: `CascadeRule` fields
        (`classes`, `min_confidence`, `min_size`, `pad`, `top_k`) and `AutoModel.from_pretrained`
        keywords (`backend`, `batch_size`, `quantization`, ...). `min_size` defaults to the
        smallest crop the secondary can use."""
        loaded: list[Model[Any]] = []
        try:
            loaded.append(AutoModel.from_pretrained(primary_ref, **primary_options))
            chain: dict[str, tuple[Model[Any], CascadeRule]] = {}
            for name, entry in secondaries.items():
                ref, options = (entry[0], dict(entry[1])) if isinstance(entry, tuple) else (entry, {})
                rule_values = {key: options.pop(key) for key in _RULE_FIELDS & set(options)}
                model = AutoModel.from_pretrained(ref, **options)
                loaded.append(model)
                rule_values.setdefault("min_size", min_crop_size(model))
                classes = rule_values.get("classes")
                if classes is not None:
                    rule_values["classes"] = frozenset([classes] if isinstance(classes, str) else map(str, classes))
                chain[name] = (model, CascadeRule(name=name, **rule_values))
            return cls(loaded[0], chain)
        except BaseException:
            with contextlib.suppress(Exception):  # the load error is the one to report
                _close_all(loaded)
            raise

    def __call__(self, images: np.ndarray | Sequence[np.ndarray]) -> list[Detections]:
        """The primary's detections of each image, with every secondary's outputs attached."""
        if isinstance(images, np.ndarray) and images.ndim in (2, 3):
            images = [images]
        frames = [as_bgr8(image, i) for i, image in enumerate(images)]
        results = self.primary(frames)
        for name, (model, rule) in self.secondaries.items():
            picked = [select(rule, dets, frame.shape) for dets, frame in zip(results, frames)]
            crops = [
                crop(frame, dets.xyxy[i], rule.pad) for dets, frame, index in zip(results, frames, picked) for i in index.tolist()
            ]
            outputs = run_secondary(model, crops, name, top_k=rule.top_k)
            start = 0
            for dets, index in zip(results, picked):
                attach(dets, name, index, outputs[start : start + len(index)])
                start += len(index)
        return results

    def close(self) -> None:
        """Close the primary and every secondary model."""
        _close_all([self.primary, *(model for model, _ in self.secondaries.values())])

    def __enter__(self) -> ModelCascade:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _close_all(models: Sequence[Model[Any]]) -> None:
    errors = []
    for model in models:
        try:
            model.close()
        except Exception as exc:  # noqa: BLE001 - close the others, then report the first failure
            errors.append(exc)
    if errors:
        raise errors[0]
