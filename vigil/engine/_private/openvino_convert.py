"""Make an `openvino` package on this machine from a model's ONNX package (`vigil models convert
--to openvino`, or at start with `model.openvino.convert: auto`). Imports openvino only when called.

Every `.onnx` file of the package becomes an OpenVINO IR pair (`<name>.xml` + `<name>.bin`),
kept in fp32 (`save_model` would halve the weights to fp16 by default) with the batch range of the
ONNX package (a dynamic batch axis stays dynamic). The ONNX export's metadata (Ultralytics'
names, stride, imgsz, task; PP-OCR's character list) travels in the .xml (`rt_info/framework`).
package.json lists each file with its sha256 (checked at every load, as for any package) and
records the OpenVINO version, the source package and a digest of the source's files; it is
written last, in a staging folder that replaces the old package only when complete.

int8 (`--int8 --calibration DIR`) is in `openvino_int8`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigil.engine._private.hashing import sha256_of
from vigil.engine._private.openvino_runtime import import_openvino
from vigil.engine._private.package_format import PACKAGE_FILE, ModelMetadata, PackageMetadata, parse_package
from vigil.engine._private.trt_build_progress import Progress, log_progress, phase
from vigil.engine.enums import BackendType, Quantization
from vigil.errors import ConfigError, ModelLoadError

__all__ = [
    "ConvertRequest",
    "ConvertedPackage",
    "choose_source_package",
    "convert_package",
    "source_digest",
    "write_ir_package",
]


@dataclass(frozen=True)
class ConvertRequest:
    """`int8`: quantize with NNCF on the images of `calibration_dir` (every fourth held out to
    measure the agreement); `batch` and `threads`: what the speedup is measured with;
    `target_agreement`: below it, the quantization is tried again with the Detect head in float."""

    int8: bool = False
    calibration_dir: Path | None = None
    batch: int = 4
    threads: int | None = None
    timing_rounds: int = 20
    max_images: int = 256
    target_agreement: float = 0.95
    image_size: int | None = None  # --int8: calibrate and measure at this size (dynamic-size exports); None: model.json's


@dataclass(frozen=True)
class ConvertedPackage:
    folder: Path
    package: PackageMetadata
    seconds: float


def source_digest(package: PackageMetadata) -> str:
    """One sha256 over a package's files as its package.json lists them (name and sha256 each)."""
    lines = sorted(f"{entry.name}:{entry.sha256}\n" for entry in package.files)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def choose_source_package(packages: Sequence[PackageMetadata]) -> PackageMetadata:
    """The fp32 ONNX package to convert (a dynamic batch preferred, then the package id)."""
    fitting = [
        p for p in packages if p.backend == BackendType.ONNX and p.quantization is Quantization.FP32 and not p.carries_code
    ]
    if not fitting:
        described = ", ".join(f"{p.package_id} ({p.backend}, {p.quantization.value})" for p in packages) or "none"
        raise ConfigError(
            f"no fp32 ONNX package to convert to OpenVINO among the model directory's packages: {described}; "
            "import an ONNX export first (vigil models import --onnx FILE DIR)"
        )
    return min(fitting, key=lambda p: (int(p.batch.static is not None), p.package_id))


def package_id_for(quantization: Quantization) -> str:
    return f"openvino-{quantization.value}"


def convert_package(
    model: ModelMetadata,
    source: PackageMetadata,
    source_folder: Path,
    model_dir: Path,
    request: ConvertRequest,
    *,
    progress: Progress = log_progress,
) -> ConvertedPackage:
    """Convert `source` (its files in `source_folder`, already verified) and write
    `model_dir/openvino-fp32/` (or `openvino-int8/`, measured, with `request.int8`)."""
    ov = import_openvino()
    started = time.monotonic()
    if request.int8:
        from vigil.engine._private.openvino_int8 import quantize_openvino

        return quantize_openvino(model, source, source_folder, model_dir, request, progress=progress)
    graphs = convert_graphs(ov, source, source_folder, progress, started)
    folder = model_dir / package_id_for(Quantization.FP32)
    with tempfile.TemporaryDirectory(prefix=".convert-", dir=model_dir) as scratch:
        staged = Path(scratch) / folder.name
        with phase(progress, started, f"writing package {folder.name}"):
            package = write_ir_package(ov, staged, graphs, source, Quantization.FP32)
        replace_folder(staged, folder)
    seconds = time.monotonic() - started
    progress(f"done: {folder}", seconds)
    return ConvertedPackage(folder, package, seconds)


def convert_graphs(ov: Any, source: PackageMetadata, folder: Path, progress: Progress, started: float) -> dict[str, Any]:
    """Each .onnx file of `source` as an OpenVINO model, by the file's stem (model, det, rec ...)."""
    names = [entry.name for entry in source.files if entry.name.endswith(".onnx")]
    if not names:
        raise ModelLoadError(f"package '{source.package_id}' has no .onnx file to convert")
    graphs = {}
    for name in names:
        with phase(progress, started, f"converting {name} of '{source.package_id}' to OpenVINO IR"):
            try:
                graphs[Path(name).stem] = ov.convert_model(str(folder / name))
            except Exception as exc:  # OpenVINO's frontends raise their own errors with C++ traces
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:300]
                raise ModelLoadError(
                    f"package '{source.package_id}': OpenVINO {ov.__version__} cannot convert {name} ({first})"
                ) from exc
    return graphs


def write_ir_package(
    ov: Any,
    folder: Path,
    graphs: dict[str, Any],
    source: PackageMetadata,
    quantization: Quantization,
    int8: dict[str, Any] | None = None,
) -> PackageMetadata:
    """`folder/<stem>.xml|.bin` for each graph and package.json (written last)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    entries = []
    for stem, graph in graphs.items():
        ov.save_model(graph, str(folder / f"{stem}.xml"), compress_to_fp16=False)
        for name in (f"{stem}.xml", f"{stem}.bin"):
            path = folder / name
            entries.append({"name": name, "sha256": sha256_of(path), "size": path.stat().st_size})
    body: dict[str, Any] = {
        "package_id": folder.name,
        "backend": "openvino",
        "quantization": quantization.value,
        "batch": source.batch.model_dump(exclude_none=True),
        "openvino": {"version": _version(ov), "source": source.package_id, "source_sha256": source_digest(source)},
        "files": entries,
    }
    if int8 is not None:
        body["int8"] = int8
    package = parse_package(body, f"package '{folder.name}'")
    tmp = folder / (PACKAGE_FILE + ".tmp")
    tmp.write_text(json.dumps(body, indent=2) + "\n")
    tmp.replace(folder / PACKAGE_FILE)
    return package


def replace_folder(staged: Path, folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    staged.replace(folder)


def _version(ov: Any) -> str:
    """'2026.4.1' of '2026.4.1-22982-e213a147257-releases/2026/4'."""
    return str(ov.__version__).split("-")[0]
