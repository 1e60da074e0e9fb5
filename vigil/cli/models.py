"""`vigil models ...`: look at model packages and the resolver's decisions."""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

from vigil.catalog import CATALOG
from vigil.cli.models_convert import add_convert, run_convert
from vigil.cli.models_export import add_export, run_export
from vigil.engine import Quantization
from vigil.engine.developer_tools import (
    MIN_CALIBRATION_IMAGES,
    BuildRequest,
    QuantizeRequest,
    ResolutionRequest,
    build_engine_package,
    cached_models,
    choose_float_package,
    choose_onnx_package,
    current_environment,
    import_rapidocr,
    import_ultralytics_onnx,
    import_ultralytics_torchscript,
    list_model,
    parse_batch,
    quantize_package,
    read_model_dir,
    remove_cached_model,
    resolve_listing,
    verify_cache,
    vigil_home,
)
from vigil.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    models = sub.add_parser("models", help="inspect model packages")
    actions = models.add_subparsers(dest="models_command", required=True)
    resolve = actions.add_parser(
        "resolve", parents=[_preferences()], help="show which package would run here, and why the others would not"
    )
    resolve.add_argument("ref", help="model directory, .onnx file, URL or PROVIDER:MODEL_ID")
    pull = actions.add_parser(
        "pull", help="download the package that would run here, without loading it", parents=[_preferences()], add_help=True
    )
    pull.add_argument("ref")
    actions.add_parser("list", help="models in the download cache (VIGIL_HOME)")
    actions.add_parser("verify", help="re-hash every cached file; remove the ones that do not match")
    rm = actions.add_parser("rm", help="remove a model's cached files and remembered resolutions")
    rm.add_argument("ref")
    _add_build_engine(actions)
    _add_quantize(actions)
    _add_import(actions)
    add_convert(actions)
    add_export(actions)


def _add_build_engine(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`vigil models build-engine`: a TensorRT engine package built here."""
    build = actions.add_parser(
        "build-engine", help="build a TensorRT engine here from the model's ONNX package and store it as a new package"
    )
    build.add_argument("ref", help="a model directory (the engine package is written into it)")
    build.add_argument("--fp16", action="store_true", help="allow fp16 kernels")
    build.add_argument("--int8", action="store_true", help="int8 with entropy calibration (needs --calibration)")
    build.add_argument("--calibration", type=Path, metavar="DIR", help="folder of representative images for --int8")
    build.add_argument(
        "--batch",
        default="1,4,8",
        metavar="MIN,OPT,MAX",
        help="optimisation profile batch range (N, MIN,MAX or MIN,OPT,MAX; default 1,4,8)",
    )
    build.add_argument("--workspace-mb", type=int, metavar="N", help="builder workspace limit in MiB")
    build.add_argument("--out", type=Path, metavar="DIR", help="model directory to write the package into (default: REF itself)")


def _add_quantize(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`vigil models quantize`: an int8 ONNX package made and measured here."""
    quantize = actions.add_parser(
        "quantize", help="make an int8 ONNX package here from the model's fp32 one, measured against it"
    )
    quantize.add_argument("ref", type=Path, help="a model directory, or an Ultralytics .onnx export (see --out)")
    quantize.add_argument(
        "--calibration",
        type=Path,
        required=True,
        metavar="DIR",
        help=f"folder of at least {MIN_CALIBRATION_IMAGES} representative images; every fourth is held out "
        "to measure the agreement",
    )
    quantize.add_argument(
        "--target-agreement",
        type=float,
        default=0.95,
        metavar="F1",
        help="below it with every Conv in int8, the class-score branch is kept in float and measured "
        "again; the better one is kept (default 0.95)",
    )
    quantize.add_argument("--batch", type=int, default=4, metavar="N", help="batch the speedup is measured at (default 4)")
    quantize.add_argument(
        "--image-size",
        type=int,
        metavar="N",
        help="inference size to calibrate and measure at, for dynamic-size exports (default: the model's)",
    )
    quantize.add_argument(
        "--threads", type=int, metavar="N", help="onnxruntime threads for the measurement (default: one per core)"
    )
    quantize.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="for an .onnx file: the model directory to create with both packages (default: beside it, named after it)",
    )


def _add_import(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`vigil models import`: a model directory from an export."""
    imp = actions.add_parser("import", help="turn an Ultralytics .onnx export or rapidocr's PP-OCR files into a model directory")
    source = imp.add_mutually_exclusive_group(required=True)
    source.add_argument("--onnx", type=Path, help="an Ultralytics ONNX export (detect, segment, pose, classify)")
    source.add_argument("--rapidocr", action="store_true", help="rapidocr-onnxruntime's PP-OCRv4 files")
    source.add_argument(
        "--torchscript",
        type=Path,
        help="an Ultralytics TorchScript detection export (needs torch); into "
        "a model directory of the same model it is added as package 'torchscript'",
    )
    imp.add_argument("--rapidocr-path", type=Path, help="its wheel or package folder (default: the installed package)")
    imp.add_argument("out", type=Path, help="the model directory to create (--torchscript: or to add to)")


def _preferences() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--backend",
        action="append",
        help="allowed backend (trt, onnx, torchscript, hf, a plugin's), in preference order; repeat for several",
    )
    parent.add_argument("--batch", help="preferred batch size N, or a range MIN,MAX the pipeline can use")
    parent.add_argument("--quantization", action="append", choices=[q.value for q in Quantization])
    parent.add_argument("--device", default="auto", choices=["auto", "cpu", "gpu"])
    parent.add_argument("--package", help="only this package id")
    parent.add_argument("--openvino-device", choices=["AUTO", "CPU", "GPU", "NPU"], help="an openvino package's device")
    parent.add_argument("--allow-untrusted", action="store_true", help="accept packages that carry executable code")
    return parent


def _request(args: argparse.Namespace) -> ResolutionRequest:
    batch_size, batch_range = None, None
    if args.batch:
        try:
            parts = [int(x) for x in args.batch.split(",")]
        except ValueError:
            raise ConfigError(f"--batch {args.batch!r}: expected N or MIN,MAX") from None
        if len(parts) == 1:
            batch_size = parts[0]
        elif len(parts) == 2 and 1 <= parts[0] <= parts[1]:
            batch_range = (parts[0], parts[1])
        else:
            raise ConfigError(f"--batch {args.batch!r}: expected N or MIN,MAX with MIN <= MAX")
    return ResolutionRequest(
        backends=tuple(CATALOG.backends.get(b).name for b in args.backend) if args.backend else None,
        batch_size=batch_size,
        batch_range=batch_range,
        quantizations=tuple(Quantization(q) for q in args.quantization) if args.quantization else None,
        device=args.device,
        package_id=args.package,
        allow_untrusted=args.allow_untrusted,
        openvino_device=args.openvino_device,
    )


def run(args: argparse.Namespace) -> int:
    command = args.models_command
    if command == "resolve":
        return _resolve(args)
    if command == "pull":
        return _pull(args)
    if command == "list":
        return _list()
    if command == "verify":
        return _verify()
    if command == "import":
        return _import(args)
    if command == "build-engine":
        return _build_engine(args)
    if command == "quantize":
        return _quantize(args)
    if command == "convert":
        return run_convert(args)
    if command == "export":
        return run_export(args)
    return _rm(args)


def _resolve(args: argparse.Namespace) -> int:
    """Print the resolution table; exit 0 when some package can run, 1 when none can."""
    name, listing = list_model(args.ref)
    resolution = resolve_listing(listing, _request(args), current_environment())
    packages = {p.package_id: p for p in listing.packages}
    rows = [("PACKAGE", "BACKEND", "QUANT", "BATCH", "DECISION")]
    for candidate in resolution.candidates:
        p = candidate.package
        note = f" ({candidate.note})" if candidate.note else ""
        rows.append((p.package_id, p.backend.value, p.quantization.value, p.batch.describe(), f"rank {candidate.rank}{note}"))
    for refused in resolution.refused:
        p = packages[refused.package_id]
        rows.append(
            (p.package_id, p.backend.value, p.quantization.value, p.batch.describe(), "refused: " + "; ".join(refused.reasons))
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    out = sys.stdout
    out.write(f"model {listing.model.model_id} ({listing.model.architecture}, {listing.model.task}) from {name}\n")
    for row in rows:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4] + "\n")
    return 0 if resolution.candidates else 1


def _pull(args: argparse.Namespace) -> int:
    name, listing = list_model(args.ref)
    candidates = resolve_listing(listing, _request(args), current_environment()).require(name)
    package = candidates[0].package
    folder = listing.fetch(package)
    print(f"{name}: package '{package.package_id}' ({package.backend.value}, {package.batch.describe()}) in {folder}")
    return 0


def _list() -> int:
    models = cached_models()
    print(f"cache: {vigil_home()}")
    for m in models:
        print(f"{m.model_id}  {m.url}  packages: {', '.join(m.packages) or '-'}  {m.size_bytes / 1e6:.1f} MB")
    if not models:
        print("(no models cached)")
    return 0


def _verify() -> int:
    problems = verify_cache()
    for path, problem in problems:
        print(f"{path}: {problem}")
    print(f"{len(problems)} problem(s) found")
    return 1 if problems else 0


def _rm(args: argparse.Namespace) -> int:
    removed, entries = remove_cached_model(args.ref)
    print(f"{args.ref}: {'files removed' if removed else 'no cached files'}, {entries} remembered resolution(s) removed")
    return 0


def _import(args: argparse.Namespace) -> int:
    if args.torchscript is not None:
        if not args.torchscript.is_file():
            raise ConfigError(f"--torchscript {args.torchscript}: no such file")
        if args.out.exists() and any(args.out.iterdir()) and not (args.out / "model.json").is_file():
            raise ConfigError(f"{args.out} exists and is not a model directory; choose a new folder or a model directory")
        import_ultralytics_torchscript(args.torchscript, args.out)
        print(f"package 'torchscript' written to {args.out}; check it with: vigil models resolve {args.out}")
        return 0
    if args.out.exists() and any(args.out.iterdir()):
        raise ConfigError(f"{args.out} exists and is not empty; choose a new folder")
    if args.onnx is not None:
        if not args.onnx.is_file():
            raise ConfigError(f"--onnx {args.onnx}: no such file")
        import_ultralytics_onnx(args.onnx, args.out)
    else:
        source = args.rapidocr_path or _installed_rapidocr()
        with tempfile.TemporaryDirectory() as scratch:
            import_rapidocr(source, args.out, Path(scratch))
    print(f"model directory written to {args.out}; check it with: vigil models resolve {args.out}")
    return 0


def _installed_rapidocr() -> Path:
    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "rapidocr-onnxruntime is not installed; pass --rapidocr PATH to its wheel (pip download --no-deps "
            "rapidocr-onnxruntime==1.4.4) or package folder"
        )
    return Path(list(spec.submodule_search_locations)[0])


def _build_engine(args: argparse.Namespace) -> int:
    if args.int8 and args.calibration is None:
        raise ConfigError("--int8 needs --calibration DIR (a folder of representative images)")
    if args.calibration is not None and not args.int8:
        raise ConfigError("--calibration is only used with --int8")
    if args.workspace_mb is not None and args.workspace_mb < 1:
        raise ConfigError("--workspace-mb must be >= 1")
    source = Path(args.ref)
    out_root = args.out or source
    if not source.is_dir() or not (out_root / "model.json").is_file():
        raise ConfigError(
            f"{args.ref}: build-engine needs a model directory (model.json + packages) to write the engine package into; "
            "turn an .onnx export into one with `vigil models import --onnx FILE DIR`, or pass --out MODEL_DIR"
        )
    request = BuildRequest(
        batch=parse_batch(args.batch),
        fp16=args.fp16,
        int8=args.int8,
        calibration_dir=args.calibration,
        workspace_mb=args.workspace_mb,
    )
    name, listing = list_model(source)
    onnx_package = choose_onnx_package(listing.packages, request.batch)
    folder = listing.fetch(onnx_package)

    def progress(phase: str, elapsed: float) -> None:
        print(f"[{elapsed:6.0f} s] {phase}", file=sys.stderr, flush=True)

    built = build_engine_package(listing.model, onnx_package, folder, out_root, request, current_environment(), progress=progress)
    p = built.package
    print(
        f"{name}: built package '{p.package_id}' ({p.quantization.value}, batch {p.batch.describe()}) from "
        f"'{onnx_package.package_id}' in {built.seconds:.0f} s: {built.folder}"
    )
    print(f"check it with: vigil models resolve {out_root}")
    return 0


def _quantize(args: argparse.Namespace) -> int:
    if args.batch < 1 or (args.threads is not None and args.threads < 1):
        raise ConfigError("--batch and --threads must be >= 1")
    if args.image_size is not None and args.image_size < 32:
        raise ConfigError(f"--image-size {args.image_size}: must be >= 32 (a multiple of the model's stride)")
    if not 0.0 <= args.target_agreement <= 1.0:
        raise ConfigError(f"--target-agreement {args.target_agreement}: must be between 0 and 1")
    model_dir = _quantize_target(args.ref, args.out)
    model, packages = read_model_dir(model_dir)
    reference = choose_float_package(packages)
    request = QuantizeRequest(
        calibration_dir=args.calibration,
        batch=args.batch,
        threads=args.threads,
        target_agreement=args.target_agreement,
        image_size=args.image_size,
    )

    def progress(phase: str, elapsed: float) -> None:
        print(f"[{elapsed:6.0f} s] {phase}", file=sys.stderr, flush=True)

    made = quantize_package(model, reference, model_dir, request, current_environment(), progress=progress)
    p, measured = made.package, made.package.int8
    assert measured is not None
    print(
        f"{model_dir}: made package '{p.package_id}' from '{reference.package_id}' in {made.seconds:.0f} s: "
        f"agreement {measured.agreement:.3f} (F1 on {measured.evaluation_images} held-out images), "
        f"{measured.speedup:.2f}x faster ({made.reference_ms:.1f} -> {made.int8_ms:.1f} ms per batch of {args.batch})"
        + (f"; {len(measured.kept_float)} Conv layers of the class-score branch kept in float" if measured.kept_float else "")
    )
    print(f"see which package runs here: vigil models resolve {model_dir}")
    return 0


def _quantize_target(ref: Path, out: Path | None) -> Path:
    """The model directory to quantize: REF itself, or for an .onnx export a new directory
    (--out, default beside the file) with the export imported as package 'onnx'."""
    if ref.is_dir():
        if out is not None:
            raise ConfigError("--out is for an .onnx file; a model directory gets the int8 package beside its others")
        if not (ref / "model.json").is_file():
            raise ConfigError(f"{ref}: not a model directory (no model.json); give one, or an Ultralytics .onnx export")
        return ref
    if ref.suffix.lower() != ".onnx" or not ref.is_file():
        raise ConfigError(f"{ref}: no such model directory or .onnx file")
    target = out or ref.with_suffix("")
    if target.exists() and any(target.iterdir()):
        raise ConfigError(f"{target} exists and is not empty; pass --out NEW_DIR, or quantize that model directory itself")
    import_ultralytics_onnx(ref, target)
    print(f"{ref}: imported into model directory {target} (package 'onnx')", file=sys.stderr)
    return target
