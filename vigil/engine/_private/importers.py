"""Turn files users already have into model directories (`vigil models import`)."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

from vigil.engine._private.hashing import sha256_of
from vigil.engine._private.package_format import MODEL_FILE, PACKAGE_FILE, parse_model, parse_package
from vigil.errors import ModelLoadError

# rapidocr-onnxruntime's packaged defaults (its config.yaml), kept in model.json so the OCR
# model behaves as rapidocr does unless a user edits them.
RAPIDOCR_FILES = {
    "det.onnx": "ch_PP-OCRv4_det_infer.onnx",
    "cls.onnx": "ch_ppocr_mobile_v2.0_cls_infer.onnx",
    "rec.onnx": "ch_PP-OCRv4_rec_infer.onnx",
}
RAPIDOCR_PARAMETERS: dict[str, Any] = {
    "det_limit_side_len": 736,
    "det_limit_type": "min",
    "det_thresh": 0.3,
    "det_box_thresh": 0.5,
    "det_max_candidates": 1000,
    "det_unclip_ratio": 1.6,
    "det_use_dilation": True,
    "cls_image_shape": [3, 48, 192],
    "cls_batch": 6,
    "cls_thresh": 0.9,
    "rec_image_shape": [3, 48, 320],
    "rec_batch": 6,
    "text_score": 0.5,
}


def _write_package(root: Path, package_id: str, files: dict[str, Path], meta: dict[str, Any]) -> None:
    folder = root / package_id
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, source in files.items():
        shutil.copyfile(source, folder / name)
        entries.append({"name": name, "sha256": sha256_of(folder / name), "size": (folder / name).stat().st_size})
    body = {"package_id": package_id, "files": entries, **meta}
    parse_package(body, f"package '{package_id}'")  # validate before writing
    (folder / PACKAGE_FILE).write_text(json.dumps(body, indent=2) + "\n")


def _write_model(root: Path, model: dict[str, Any]) -> None:
    parse_model(model, f"model '{root}'")
    root.mkdir(parents=True, exist_ok=True)
    (root / MODEL_FILE).write_text(json.dumps(model, indent=2) + "\n")


def import_ultralytics_onnx(onnx_path: Path, out_dir: Path) -> Path:
    """A model directory with one `onnx` package from an Ultralytics export's own metadata."""
    from vigil.engine._private.ultralytics_wrap import describe_ultralytics_onnx

    listing = describe_ultralytics_onnx(onnx_path)
    package = listing.packages[0]
    _write_model(out_dir, listing.model.model_dump(mode="json"))
    meta = package.model_dump(mode="json", exclude={"package_id", "files"}, exclude_none=True)
    _write_package(out_dir, package.package_id, {"model.onnx": onnx_path}, meta)
    return out_dir


def import_ultralytics_torchscript(path: Path, out_dir: Path) -> Path:
    """Package `torchscript` from an Ultralytics TorchScript export, in a new model directory or
    beside the packages of an existing one of the same model (same task and class names: e.g.
    the ONNX export of the same weights, imported first)."""
    from vigil.engine._private.torch_runtime import describe_ultralytics_torchscript

    model, meta = describe_ultralytics_torchscript(path)
    if (out_dir / MODEL_FILE).is_file():
        current = parse_model(json.loads((out_dir / MODEL_FILE).read_text()), f"model '{out_dir / MODEL_FILE}'")
        if (current.architecture, current.task, current.class_names) != (model.architecture, model.task, model.class_names):
            raise ModelLoadError(
                f"{path}: a {model.task} model with {len(model.class_names)} classes cannot join model directory "
                f"'{out_dir}' ({current.task}, {len(current.class_names)} classes); import it into a new directory"
            )
        if current.input.dynamic_size != model.input.dynamic_size or (
            not model.input.dynamic_size and current.input.size != model.input.size
        ):
            # a torch file does not describe its input: model.json does, for every package
            raise ModelLoadError(
                f"{path}: its input is {_describe_input(model)}, the model directory's is {_describe_input(current)}; "
                "export both at the same size (dynamic or not), or import it into a new directory"
            )
    else:
        _write_model(out_dir, model.model_dump(mode="json"))
    _write_package(out_dir, "torchscript", {"model.torchscript": path}, meta)
    return out_dir


def _describe_input(model: Any) -> str:
    return "free in size" if model.input.dynamic_size else "fixed at {}x{}".format(*model.input.size)


def _rapidocr_sources(source: Path, scratch: Path) -> dict[str, Path]:
    """The three ONNX files from an installed `rapidocr_onnxruntime` folder or its wheel."""
    if source.suffix == ".whl":
        with zipfile.ZipFile(source) as wheel:
            names = {Path(n).name: n for n in wheel.namelist()}
            out = {}
            for ours, theirs in RAPIDOCR_FILES.items():
                if theirs not in names:
                    raise ModelLoadError(f"{source}: no {theirs} inside; is this a rapidocr-onnxruntime wheel?")
                out[ours] = Path(wheel.extract(names[theirs], scratch))
            return out
    models = source / "models" if (source / "models").is_dir() else source
    out = {ours: models / theirs for ours, theirs in RAPIDOCR_FILES.items()}
    missing = [str(p) for p in out.values() if not p.is_file()]
    if missing:
        raise ModelLoadError(f"{source}: missing {', '.join(missing)}; pass the rapidocr_onnxruntime package folder or wheel")
    return out


def import_rapidocr(source: Path, out_dir: Path, scratch: Path) -> Path:
    """A PP-OCRv4 model directory (detector, 180-degree classifier, recogniser in one `onnx`
    package) from rapidocr-onnxruntime's files (Apache-2.0)."""
    files = _rapidocr_sources(source, scratch)
    _write_model(
        out_dir,
        {
            "model_id": "ppocr-v4-ch",
            "architecture": "ppocr",
            "task": "ocr",
            "class_names": ["text"],
            "input": {
                "size": [736, 736],
                "color": "bgr",
                "resize": "stretch",
                "normalization": {"scale": 1 / 255, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
                "dynamic_size": True,
            },
            "parameters": RAPIDOCR_PARAMETERS,
        },
    )
    _write_package(out_dir, "onnx", files, {"backend": "onnx", "batch": {"min": 1, "max": None}})
    return out_dir
