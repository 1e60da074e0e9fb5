"""torch packages on a tiny YOLO-shaped module: TorchScript and torch.export files load and agree,
bad files and a missing torch give errors that say what to do, devices and threads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see tests/integration/engine/test_torchscript_parity.py
import torch

from tests.conftest import photo
from tests.model_packages import CLASS_NAMES, write_model_json, write_package
from vigil.engine import AutoModel
from vigil.engine._private.environment import GpuInfo, RuntimeEnvironment
from vigil.engine._private.package_format import parse_package
from vigil.engine._private.resolver import ResolutionRequest, resolve
from vigil.engine._private.torch_runtime import choose_device, ultralytics_props
from vigil.engine.options import BackendOptions
from vigil.errors import ModelLoadError

SIZE = 64
EXTRA = "pip install 'vigil-analytics[torch]'"


class TinyYolo(torch.nn.Module):
    """images [B,3,H,W] -> [B, 4 + nc, H/32 * W/32], like an Ultralytics detection head."""

    def __init__(self, channels: int = 4 + len(CLASS_NAMES)) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, channels, 32, stride=32)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        out = self.conv(images).flatten(2)
        return torch.cat([torch.sigmoid(out[:, :4]) * SIZE, torch.sigmoid(out[:, 4:] * 4)], dim=1)


def traced(path: Path, module: torch.nn.Module | None = None) -> Path:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"`torch\.jit\.\w+` is (deprecated|not supported)", DeprecationWarning)
        torch.jit.trace((module or TinyYolo()).eval(), torch.rand(2, 3, SIZE, SIZE)).save(str(path))
    return path


def exported(path: Path) -> Path:
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(TinyYolo().eval(), (torch.rand(2, 3, SIZE, SIZE),), dynamic_shapes={"images": {0: batch}})
    torch.export.save(program, str(path))
    return path


def model_dir(tmp_path: Path, files: dict[str, Path | bytes], **meta: object) -> Path:
    root = write_model_json(tmp_path / "tiny", size=SIZE)
    write_package(root, "torch", files, **{"backend": "torchscript", **meta})
    return root


def images() -> list[np.ndarray]:
    return [photo(name) for name in ("astronaut", "coffee", "chelsea", "camera")]


def test_torchscript_and_torch_export_packages_give_the_same_detections(tmp_path: Path) -> None:
    script = AutoModel.from_pretrained(
        model_dir(tmp_path / "a", {"model.torchscript": traced(tmp_path / "m.ts")}), confidence=0.3
    )
    program = AutoModel.from_pretrained(model_dir(tmp_path / "b", {"model.pt2": exported(tmp_path / "m.pt2")}), confidence=0.3)
    assert script.backend == program.backend == "torchscript" and script.input_size == (SIZE, SIZE)
    batched_script, batched_program = script(images()), program(images())
    assert sum(len(d) for d in batched_script) > 0
    for single_image, a, b in zip(images(), batched_script, batched_program):
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1e-4)
        np.testing.assert_array_equal(a.class_id, b.class_id)
        (alone,) = script([single_image])
        np.testing.assert_allclose(alone.xyxy, a.xyxy, atol=1e-4)
        assert list(alone.data["class_name"]) == [CLASS_NAMES[c] for c in alone.class_id]


def test_a_static_batch_package_pads_short_batches(tmp_path: Path) -> None:
    model = AutoModel.from_pretrained(model_dir(tmp_path, {"model.torchscript": traced(tmp_path / "m.ts")}, batch={"static": 4}))
    assert model.batch.static and model.batch.max == 4
    results = model(images()[:3])
    assert len(results) == 3 and [len(d) for d in results] == [len(d) for d in model(images())[:3]]


@pytest.mark.parametrize(
    ("name", "kind"), [("model.torchscript", "a TorchScript archive"), ("model.pt2", "a torch.export program")]
)
def test_a_corrupt_torch_file_is_a_load_error_naming_the_file(tmp_path: Path, name: str, kind: str) -> None:
    root = model_dir(tmp_path, {name: b"not a zip archive" * 64})
    with pytest.raises(ModelLoadError, match=rf"{name}': torch could not load it .*check that it is {kind}"):
        AutoModel.from_pretrained(root)


def test_a_training_checkpoint_is_not_taken_for_torchscript(tmp_path: Path) -> None:
    torch.save(TinyYolo().state_dict(), tmp_path / "best.pt")
    with pytest.raises(ModelLoadError, match=r"best\.pt'.*a training checkpoint is not one"):
        AutoModel.from_pretrained(model_dir(tmp_path, {"best.pt": tmp_path / "best.pt"}))


def test_a_module_whose_output_is_no_detection_head_is_refused(tmp_path: Path) -> None:
    path = traced(tmp_path / "m.ts", TinyYolo(channels=4 + len(CLASS_NAMES) + 2))
    with pytest.raises(ModelLoadError, match=r"do not match a YOLO 'detect' head"):
        AutoModel.from_pretrained(model_dir(tmp_path, {"model.torchscript": path}))


def test_a_module_that_does_not_run_at_model_json_size_is_refused_at_load(tmp_path: Path) -> None:
    root = write_model_json(tmp_path / "tiny", size=96)  # the module's flatten is fine, but 96 is not 64:
    path = traced(tmp_path / "m.ts", torch.nn.Sequential(TinyYolo(), torch.nn.Unflatten(2, (2, 2))))
    write_package(root, "torch", {"model.torchscript": path}, backend="torchscript")
    with pytest.raises(ModelLoadError, match=r"does not run on a batch of 1 image\(s\) of 96x96"):
        AutoModel.from_pretrained(root)


def test_without_torch_a_torch_package_names_the_extra_to_install(tmp_path: Path) -> None:
    root = model_dir(tmp_path, {"model.torchscript": traced(tmp_path / "m.ts")})
    code = (
        "import sys; sys.modules['torch'] = None\n"  # import torch raises ImportError
        "from vigil.engine import AutoModel\n"
        "from vigil.errors import MissingDependencyError\n"
        "try:\n"
        f"    AutoModel.from_pretrained({str(root)!r})\n"
        "except MissingDependencyError as exc:\n"
        "    print('MissingDependencyError:', exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120).stdout
    assert out.startswith("MissingDependencyError: torch is not installed") and EXTRA in out


def test_resolver_refuses_a_torch_package_when_torch_is_missing_and_names_the_extra(tmp_path: Path) -> None:
    root = model_dir(tmp_path, {"model.torchscript": traced(tmp_path / "m.ts")})
    package = parse_package(json.loads((root / "torch" / "package.json").read_text()), "p")
    resolution = resolve([package], ResolutionRequest(), RuntimeEnvironment(backends={"onnx": "1.32.0"}))
    assert not resolution.candidates
    assert resolution.refused[0].reasons == (f"backend 'torchscript' is not installed ({EXTRA})",)


@pytest.mark.parametrize(
    ("devices", "torch_version", "gpus", "reason"),
    [
        (["cpu"], "2.13.0", (GpuInfo("RTX"),), "runs on the CPU only"),
        (["cpu", "cuda"], "2.13.0+cpu", (GpuInfo("RTX"),), "torch is a CPU build or there is no NVIDIA GPU"),
        (["cpu", "cuda"], "2.13.0", (), "torch is a CPU build or there is no NVIDIA GPU"),
        (["cpu", "cuda"], "2.13.0", (GpuInfo("RTX"),), None),
    ],
)
def test_device_gpu_needs_a_cuda_package_a_cuda_torch_and_a_gpu(devices, torch_version, gpus, reason) -> None:
    package = parse_package(
        {
            "package_id": "t",
            "backend": "torchscript",
            "batch": {"min": 1},
            "torch": {"devices": devices},
            "files": [{"name": "m.pt2", "sha256": "0" * 64}],
        },
        "p",
    )
    env = RuntimeEnvironment(backends={"torchscript": torch_version}, gpus=gpus)
    resolution = resolve([package], ResolutionRequest(device="gpu"), env)
    if reason is None:
        assert [c.package.package_id for c in resolution.candidates] == ["t"]
    else:
        assert reason in resolution.refused[0].reasons[0]
    assert resolve([package], ResolutionRequest(device="cpu"), env).candidates  # the CPU always runs it


@pytest.mark.parametrize(
    ("devices", "cuda", "providers", "expected"),
    [
        (("cpu", "cuda"), True, None, "cuda"),
        (("cpu", "cuda"), True, ("CPUExecutionProvider",), "cpu"),
        (("cpu", "cuda"), False, None, "cpu"),
        (("cpu",), True, None, "cpu"),
    ],
)
def test_cuda_is_chosen_only_when_allowed_available_and_not_excluded(devices, cuda, providers, expected) -> None:
    fake_torch = SimpleNamespace(cuda=SimpleNamespace(is_available=lambda: cuda))
    package = SimpleNamespace(torch=SimpleNamespace(devices=devices))
    assert choose_device(fake_torch, package, BackendOptions(execution_providers=providers)) == expected  # type: ignore[arg-type]


def test_ultralytics_torchscript_metadata_reads_like_onnx_metadata() -> None:
    config = {
        "task": "detect",
        "stride": 32,
        "batch": 1,
        "imgsz": [640, 640],
        "names": {"0": "person", "1": "car"},
        "end2end": True,
        "args": {"dynamic": False},
    }
    props = ultralytics_props(json.dumps(config))
    assert props["names"] == "{0: 'person', 1: 'car'}" and props["imgsz"] == "[640, 640]"
    assert props["end2end"] == "True" and "args" not in props
    assert ultralytics_props("") == {} and ultralytics_props("[1, 2]") == {} and ultralytics_props("{oops") == {}


def test_loading_an_onnx_model_never_imports_torch(tmp_path: Path) -> None:
    from tests.model_packages import tiny_yolo_onnx

    root = write_model_json(tmp_path / "tiny")
    write_package(root, "onnx", {"model.onnx": tiny_yolo_onnx(tmp_path / "m.onnx")})
    code = (
        "import sys, numpy as np\n"
        "from vigil.engine import AutoModel\n"
        f"model = AutoModel.from_pretrained({str(root)!r})\n"
        "model([np.zeros((48, 64, 3), np.uint8)])\n"
        "print(model.backend, 'torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120).stdout
    assert out.strip() == "onnx False False"
