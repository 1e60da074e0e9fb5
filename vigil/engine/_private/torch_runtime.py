"""torch packages: a TorchScript file (`.torchscript`, `.pt`) or a `torch.export` program (`.pt2`)
behind the session surface the YOLO runners read from onnxruntime (`get_inputs`, `get_outputs`,
`get_modelmeta`, `run`). Imported only when a `torchscript` package is loaded.

Device: CUDA when the package lists it in `torch.devices` (a file traced on the CPU can hold CPU
device constants, so packages say `["cpu"]` unless they were made to move), torch was built with
CUDA and sees a GPU, and the caller's `execution_providers` (when given) include
`CUDAExecutionProvider`; otherwise the CPU. Only the CPU path is tested here: this machine has no GPU.

Threads: `intra_op_threads` / `inter_op_threads` as for onnxruntime (and `allow_spinning`, which
only counts when vigil is the first to import torch: see `import_torch`), but torch's pools belong to
the process, not to one model (`torch.set_num_threads`), so the last model loaded sets them for
every torch model; torch allows the inter-op pool to be sized only once, before it is used.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vigil.engine._private.hashing import sha256_of
from vigil.engine._private.onnx_runtime import read_ultralytics_metadata
from vigil.engine._private.package_format import InputSpec, ModelMetadata, PackageMetadata
from vigil.engine.options import BackendOptions
from vigil.errors import MissingDependencyError, ModelLoadError

log = logging.getLogger(__name__)

TORCH_INSTALL_HINT = "pip install 'vigil-analytics[torch]'"
TORCHSCRIPT_SUFFIXES = (".torchscript", ".pt")
EXPORT_SUFFIXES = (".pt2",)
TORCH_SUFFIXES = TORCHSCRIPT_SUFFIXES + EXPORT_SUFFIXES


def import_torch(allow_spinning: bool = False) -> Any:
    """torch, imported on first use. Its OpenMP threads busy-wait between ops unless told not to
    before torch loads (like onnxruntime's spinning, which vigil turns off): on this 2-core box,
    loaded, nudenet's YOLOv8n at 320 took 3 s per image spinning and 0.09 s passive."""
    if "torch" not in sys.modules and not allow_spinning:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import torch
    except ImportError as exc:
        raise MissingDependencyError(
            f"torch is not installed, and this model package runs on torch: {TORCH_INSTALL_HINT}"
        ) from exc
    return torch


@dataclass(frozen=True)
class TensorInfo:
    """An input or output as onnxruntime describes it: a name and dims (int, or a str when free)."""

    name: str
    shape: list[int | str]


@dataclass(frozen=True)
class TorchModelMeta:
    """`get_modelmeta()`: Ultralytics' export metadata (a TorchScript export's `config.txt`),
    as strings like an ONNX export's metadata_props."""

    custom_metadata_map: dict[str, str] = field(default_factory=dict)


def choose_device(torch: Any, package: PackageMetadata, backend: BackendOptions) -> str:
    allowed = package.torch.devices if package.torch else ("cpu",)
    wants_gpu = backend.execution_providers is None or "CUDAExecutionProvider" in backend.execution_providers
    if "cuda" in allowed and wants_gpu and torch.cuda.is_available():
        return "cuda"
    return "cpu"


def configure_threads(torch: Any, backend: BackendOptions) -> None:
    if backend.intra_op_threads:
        torch.set_num_threads(backend.intra_op_threads)
    if backend.inter_op_threads and torch.get_num_interop_threads() != backend.inter_op_threads:
        try:
            torch.set_num_interop_threads(backend.inter_op_threads)
        except RuntimeError:  # already sized or used: torch allows it once per process
            log.warning(
                "torch's inter-op pool is already in use with %d threads; inter_op_threads=%d applies only "
                "when the first torch model of the process sets it",
                torch.get_num_interop_threads(),
                backend.inter_op_threads,
            )


def ultralytics_props(config_text: str) -> dict[str, str]:
    """Ultralytics' TorchScript metadata (`config.txt`, JSON) as ONNX-style metadata_props:
    str() of each value, the names map with int keys as in an ONNX export."""
    try:
        config = json.loads(config_text) if config_text.strip() else {}
    except ValueError:
        return {}
    if not isinstance(config, dict):
        return {}
    props = {str(k): str(v) for k, v in config.items() if not isinstance(v, dict)}
    names = config.get("names")
    if isinstance(names, dict):
        try:
            props["names"] = repr({int(k): str(v) for k, v in names.items()})
        except ValueError:
            pass
    return props


def load_module(torch: Any, path: Path, device: str) -> tuple[Any, dict[str, str]]:
    """The callable module in `path` on `device`, and its Ultralytics metadata (TorchScript only)."""
    try:
        if path.suffix in EXPORT_SUFFIXES:
            export_log = logging.getLogger("torch.export")
            level = export_log.level
            export_log.setLevel(logging.ERROR)  # it logs a traceback at WARNING before raising on a bad file
            try:
                program = torch.export.load(str(path))
            finally:
                export_log.setLevel(level)
            return program.module().to(device), {}
        extra = {"config.txt": ""}
        with warnings.catch_warnings():
            # TorchScript is deprecated upstream in favour of torch.export; the files still load
            warnings.filterwarnings("ignore", r"`torch\.jit\.\w+` is (deprecated|not supported)", DeprecationWarning)
            module = torch.jit.load(str(path), map_location=device, _extra_files=extra)
        return module.eval(), ultralytics_props(extra["config.txt"])
    except Exception as exc:  # torch raises RuntimeError, pickle and zip errors for bad files
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        kind = (
            "a torch.export program (torch.export.save)"
            if path.suffix in EXPORT_SUFFIXES
            else ("a TorchScript archive (torch.jit.save, or `yolo export format=torchscript`; a training checkpoint is not one)")
        )
        raise ModelLoadError(f"model '{path}': torch could not load it ({first_line}); check that it is {kind}") from exc


def _outputs(result: Any) -> list[Any]:
    if isinstance(result, (tuple, list)):
        return [t for item in result for t in _outputs(item)]
    if isinstance(result, dict):
        return [t for item in result.values() for t in _outputs(item)]
    return [result]


class TorchSession:
    """A loaded torch package with onnxruntime's session surface, for the YOLO runners."""

    def __init__(self, torch: Any, module: Any, path: Path, device: str, inputs: list[TensorInfo], props: dict[str, str]):
        self._torch = torch
        self._module = module
        self.path = path
        self.device = device
        self._inputs = inputs
        self._meta = TorchModelMeta(props)
        self._output_info: list[TensorInfo] = []

    @classmethod
    def from_package(cls, package: PackageMetadata, folder: Path, spec: InputSpec, backend: BackendOptions) -> TorchSession:
        """Load the package's file and run it once on zeros at its smallest batch: a file that
        does not run, or runs on other shapes than package.json and model.json say, fails here
        rather than on the first frame."""
        torch = import_torch(backend.allow_spinning)
        path = folder / package.main_file(TORCH_SUFFIXES).name
        configure_threads(torch, backend)
        device = choose_device(torch, package, backend)
        module, props = load_module(torch, path, device)
        batch = package.batch.to_spec()
        batch_dim: int | str = batch.max if batch.static and batch.max else "batch"
        height, width = ("height", "width") if spec.dynamic_size else spec.size
        session = cls(torch, module, path, device, [TensorInfo("images", [batch_dim, 3, height, width])], props)
        probe = np.zeros((batch.min, 3, *spec.size), dtype=np.float32)
        try:
            outputs = session.run(None, {"images": probe})
        except Exception as exc:
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise ModelLoadError(
                f"model '{path}': it does not run on a batch of {batch.min} image(s) of {spec.size[0]}x{spec.size[1]} "
                f"as model.json and package.json describe ({first_line})"
            ) from exc
        # the channel dim (boxes + classes) is fixed; the anchors follow the input size when it is free
        session._output_info = [
            TensorInfo(f"output{i}", [batch_dim, *o.shape[1:2], *(["dim"] * (o.ndim - 2) if spec.dynamic_size else o.shape[2:])])
            for i, o in enumerate(outputs)
        ]
        log.info("model '%s': torch %s on %s", path.name, torch.__version__, device)
        return session

    def get_inputs(self) -> list[TensorInfo]:
        return self._inputs

    def get_outputs(self) -> list[TensorInfo]:
        return self._output_info

    def get_modelmeta(self) -> TorchModelMeta:
        return self._meta

    def run(self, output_names: Any, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        torch = self._torch
        tensor = torch.from_numpy(np.ascontiguousarray(next(iter(feeds.values()))))
        with torch.inference_mode():
            result = self._module(tensor.to(self.device))
        return [t.detach().to("cpu").numpy() for t in _outputs(result)]

    def close(self) -> None:
        self._module = None
        if self.device == "cuda":
            self._torch.cuda.empty_cache()


def _runs(torch: Any, module: Any, batch: int, height: int, width: int) -> Any | None:
    """The first output of `module` on zeros of that shape, or None when it does not run on it."""
    try:
        with torch.inference_mode():
            out = _outputs(module(torch.zeros(batch, 3, height, width)))[0]
    except Exception:  # noqa: BLE001 - a traced file with baked-in shapes fails in its own ways
        return None
    return out if out.shape[0] == batch else None


def describe_ultralytics_torchscript(path: Path) -> tuple[ModelMetadata, dict[str, Any]]:
    """model.json and package.json fields for an Ultralytics TorchScript export (`yolo export
    format=torchscript`), from its metadata (`config.txt`) and by running it: a batch of 2 tells
    whether the batch is free, an input one stride larger whether the size is."""
    from vigil.engine._private.ultralytics_wrap import wrap_metadata

    torch = import_torch()
    module, props = load_module(torch, path, "cpu")
    if not props:
        raise ModelLoadError(
            f"model '{path}': no Ultralytics metadata (config.txt) inside; export it with `yolo export "
            "format=torchscript`, or write model.json and package.json by hand (docs/MODEL_PACKAGES.md)"
        )
    meta = read_ultralytics_metadata(path, props)
    (height, width), stride = meta.imgsz, meta.stride
    first = _runs(torch, module, 1, height, width)
    if first is None:
        raise ModelLoadError(f"model '{path}': it does not run on one {height}x{width} image, the size its metadata gives")
    dynamic_batch = _runs(torch, module, 2, height, width) is not None
    larger = _runs(torch, module, 1, height + stride, width + stride)
    dynamic_size = larger is not None and tuple(larger.shape[2:]) != tuple(first.shape[2:])
    shape = ["batch" if dynamic_batch else meta.batch, 3] + (["height", "width"] if dynamic_size else [height, width])
    file = {"name": "model.torchscript", "sha256": sha256_of(path), "size": path.stat().st_size}
    model, _ = wrap_metadata(path, props, shape, file)
    package = {"backend": "torchscript", "batch": {"min": 1, "max": None} if dynamic_batch else {"static": meta.batch}}
    return model, package
