"""The on-disk model package format (docs/MODEL_PACKAGES.md): `model.json` + one folder per package.

Validation is strict (`extra="forbid"`): a typo in a package is an error, not a silently ignored
key. File names are checked so that no package can read or write outside its own folder.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from vigil.catalog import CATALOG
from vigil.engine.base import BatchSpec
from vigil.engine.enums import ColorFormat, Quantization
from vigil.errors import ModelLoadError

__all__ = [
    "BackendName",
    "BatchRange",
    "InputSpec",
    "Int8Details",
    "ModelMetadata",
    "OnnxDetails",
    "PackageFile",
    "PackageMetadata",
    "TorchDetails",
    "TrtDetails",
    "read_model_dir",
    "safe_member_path",
]

MODEL_FILE = "model.json"
PACKAGE_FILE = "package.json"


class BackendName(str):
    """A package's backend: a name the catalog declares (`vigil.catalog.BackendKind`), a plugin's
    too. `.value` is the name, as on the `BackendType` members of the built-in ones."""

    __slots__ = ()

    @property
    def value(self) -> str:
        return str.__str__(self)


def known_backend(name: object) -> BackendName:
    """`name` (a string or a `BackendType`) when the catalog declares a backend of that name."""
    name = getattr(name, "value", name)
    if not isinstance(name, str) or name not in CATALOG.backends:
        raise ValueError(CATALOG.backends.unknown(name))
    return BackendName(name)


Backend = Annotated[
    BackendName,
    PlainValidator(known_backend),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "description": "A backend the catalog declares (trt, onnx, torchscript, hf ...)."}),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Normalization(_Strict):
    scale: float = Field(1 / 255, gt=0, description="Pixel values are multiplied by this first.")
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)


_Pixels = Annotated[int, Field(ge=1, le=65_536)]


class InputSpec(_Strict):
    size: tuple[_Pixels, _Pixels] = Field(description="Model input (height, width) in pixels.")
    color: ColorFormat = ColorFormat.RGB
    resize: Literal["letterbox", "stretch", "center-crop"] = "letterbox"
    pad_value: int = Field(114, ge=0, le=255, description="Letterbox padding grey level.")
    normalization: Normalization = Normalization()
    dynamic_size: bool = Field(False, description="The graph accepts other input sizes (image_size option).")
    stride: int = Field(32, ge=1)


class ModelMetadata(_Strict):
    """`model.json`: what the model is, whatever package runs it."""

    model_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
    architecture: str = Field(description="Family of the network, e.g. 'yolo' for Ultralytics YOLO.")
    task: Literal["detect", "segment", "pose", "classify", "ocr", "embed", "zero-shot-detect", "depth", "vlm"]
    class_names: tuple[str, ...]
    input: InputSpec
    keypoint_shape: tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=2, le=3)]] | None = Field(
        None, description="Pose models: keypoints per object and values per keypoint (2: x, y; 3: x, y, visibility)."
    )
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="Family-specific settings, e.g. an OCR model's detector thresholds."
    )


class BatchRange(_Strict):
    """`{"static": N}` or `{"min": a, "opt": b, "max": c}` (`max` null: unbounded)."""

    static: int | None = Field(None, ge=1)
    min: int | None = Field(None, ge=1)
    opt: int | None = Field(None, ge=1)
    max: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one_form(self) -> BatchRange:
        if self.static is not None:
            if any(v is not None for v in (self.min, self.opt, self.max)):
                raise ValueError("batch is either {static: N} or {min, opt, max}, not both")
            return self
        lo = self.min or 1
        hi = self.max
        if hi is not None and lo > hi:
            raise ValueError(f"batch min {lo} > max {hi}")
        if self.opt is not None and (self.opt < lo or (hi is not None and self.opt > hi)):
            raise ValueError(f"batch opt {self.opt} outside {lo}..{hi}")
        return self

    def to_spec(self) -> BatchSpec:
        if self.static is not None:
            return BatchSpec.fixed(self.static)
        return BatchSpec(min=self.min or 1, max=self.max, opt=self.opt)

    def describe(self) -> str:
        if self.static is not None:
            return f"static {self.static}"
        text = f"{self.min or 1}..{self.max if self.max is not None else 'any'}"
        return text + (f" (opt {self.opt})" if self.opt else "")


class OnnxDetails(_Strict):
    opset: int | None = Field(None, ge=1)
    incompatible_providers: tuple[str, ...] = ()


class TrtDetails(_Strict):
    version: str = Field(description="TensorRT version the engine was built with, e.g. '10.3.0'.")
    forward_compatible: bool = Field(False, description="Built with version compatibility: newer TRT may load it.")
    gpu_name: str | None = None
    compute_capability: str | None = Field(None, pattern=r"^\d+\.\d+$")
    same_cc_compatible: bool = Field(False, description="Any GPU of the same compute capability may load it.")
    l4t_version: str | None = Field(None, description="Jetson Linux (L4T) release the engine was built on.")
    has_plugins: bool = False
    host_code: bool = False


class TorchDetails(_Strict):
    """How a `torchscript` package (TorchScript or torch.export file) may run."""

    devices: tuple[Literal["cpu", "cuda"], ...] = Field(
        ("cpu",),
        min_length=1,
        description="Devices the file runs on; a file traced on the CPU can hold CPU "
        "device constants, so CUDA is used only when listed (and torch sees a GPU).",
    )


class OpenVINODetails(_Strict):
    """What an `openvino` package was made from (`vigil models convert --to openvino`)."""

    version: str = Field(description="OpenVINO version that converted it, e.g. '2026.4.1'.")
    source: str = Field(description="package_id of the ONNX package it was converted from.")
    source_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="sha256 over that package's files (name and sha256 of each, sorted)."
    )


class Int8Details(_Strict):
    """What `vigil models quantize` measured for an int8 package it made from a float one."""

    agreement: float = Field(
        ge=0.0,
        le=1.0,
        description="F1 of its detections against the reference package's "
        "(same class, IoU >= 0.5) on images not used for calibration.",
    )
    speedup: float = Field(gt=0.0, description="Reference inference time / this package's, same batch and threads.")
    reference: str = Field(description="package_id of the float package it was made from and compared with.")
    format: Literal["qdq", "qoperator", "fakequantize"] = "qdq"  # fakequantize: NNCF's, in an openvino package
    kept_float: tuple[str, ...] = Field(
        (), description="Conv nodes left in float (the class-score branch when quantizing it lost agreement)."
    )
    calibration_images: int = Field(ge=1)
    evaluation_images: int = Field(ge=1)
    input_size: tuple[_Pixels, _Pixels] | None = Field(None, description="(height, width) calibrated and measured at.")
    measured_on: str = Field("", description="Where the speedup was measured: CPU, batch, threads.")


class PackageFile(_Strict):
    name: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int | None = Field(None, ge=0)

    @field_validator("name")
    @classmethod
    def _inside_package(cls, name: str) -> str:
        safe_member_path(name)
        return name


class PackageMetadata(_Strict):
    """`<package>/package.json`: one runnable form of the model."""

    package_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
    backend: Backend
    quantization: Quantization = Quantization.FP32
    batch: BatchRange
    onnx: OnnxDetails | None = None
    trt: TrtDetails | None = None
    torch: TorchDetails | None = None
    openvino: OpenVINODetails | None = None
    int8: Int8Details | None = Field(None, description="Measurements of an int8 package made by `vigil models quantize`.")
    trusted: bool = Field(True, description="False when the package carries code to execute (custom model.py).")
    entrypoint: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_/.-]*\.py:[A-Za-z_][A-Za-z0-9_]*$",
        description="FILE.py:Class implementing the model, for packages that bring their own code.",
    )
    files: tuple[PackageFile, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _entrypoint_listed(self) -> PackageMetadata:
        if self.entrypoint is not None:
            module = self.entrypoint.partition(":")[0]
            safe_member_path(module)
            if module not in {f.name for f in self.files}:
                raise ValueError(f"entrypoint file '{module}' must be listed in files (with its sha256)")
        return self

    @property
    def carries_code(self) -> bool:
        """Executable content, whatever `trusted` claims: Python files, TRT plugins or host code."""
        if not self.trusted or any(PurePosixPath(f.name).suffix == ".py" for f in self.files):
            return True
        return self.trt is not None and (self.trt.has_plugins or self.trt.host_code)

    def main_file(self, suffixes: tuple[str, ...] | None = None) -> PackageFile:
        """The first file with one of `suffixes` (default: the ones its backend declares)."""
        if suffixes is None:
            suffixes = CATALOG.backends.get(self.backend).files
        for entry in self.files:
            if PurePosixPath(entry.name).suffix in suffixes:
                return entry
        raise ModelLoadError(f"package '{self.package_id}' has no {'/'.join(suffixes)} file")


def safe_member_path(name: str) -> PurePosixPath:
    """A package file name as a relative path that cannot leave the package folder."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or "\\" in name or any(part in ("..", "") for part in path.parts) or name.startswith("~"):
        raise ValueError(f"file name {name!r} must be a relative path inside the package (no '..', no absolute path)")
    return path


def _read_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelLoadError(f"{what}: {path} is missing") from exc
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: JSON nested thousands deep
        raise ModelLoadError(f"{what}: {path} is not readable JSON ({str(exc)[:200] or type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise ModelLoadError(f"{what}: {path} must hold a JSON object")
    return data


def _validated(cls: type[_Strict], data: dict, what: str) -> _Strict:
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors())
        raise ModelLoadError(f"{what}: {problems}") from exc


def parse_model(data: dict, what: str) -> ModelMetadata:
    return _validated(ModelMetadata, data, what)  # type: ignore[return-value]


def parse_package(data: dict, what: str) -> PackageMetadata:
    return _validated(PackageMetadata, data, what)  # type: ignore[return-value]


def read_model_dir(root: Path) -> tuple[ModelMetadata, list[PackageMetadata]]:
    """Read `model.json` and every `*/package.json` below `root` (packages sorted by folder)."""
    model = parse_model(_read_json(root / MODEL_FILE, f"model directory '{root}'"), f"model '{root / MODEL_FILE}'")
    packages = []
    try:
        folders = sorted(p for p in root.iterdir() if p.is_dir() and (p / PACKAGE_FILE).is_file())
    except OSError as exc:
        raise ModelLoadError(f"model directory '{root}': cannot list it ({exc.strerror})") from None
    for folder in folders:
        what = f"package '{folder / PACKAGE_FILE}'"
        package = parse_package(_read_json(folder / PACKAGE_FILE, what), what)
        if package.package_id != folder.name:
            raise ModelLoadError(f"{what}: package_id '{package.package_id}' must equal its folder name '{folder.name}'")
        packages.append(package)
    if not packages:
        raise ModelLoadError(f"model directory '{root}' has no package folders (each needs a {PACKAGE_FILE})")
    return model, packages
