"""`openvino` packages made here from nudenet's real ONNX package: `vigil models convert`, the
package it writes (hash-verified files, source, batch range), the daemon's build step
(`model.openvino.convert: auto`), `vigil models resolve`, and the clear errors: a corrupt cached
.bin or .xml, OpenVINO (or NNCF) not installed, a device OpenVINO does not see."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import photo
from vigil.config.daemon import DaemonConfig
from vigil.daemon.engine_build import run_build_steps
from vigil.daemon.systemd import Notifier
from vigil.engine import AutoModel
from vigil.engine._private.hashing import sha256_of
from vigil.engine._private.openvino_convert import source_digest
from vigil.engine.developer_tools import import_ultralytics_onnx, read_model_dir
from vigil.errors import MissingDependencyError, ModelLoadError, ModelResolutionError


def vigil(*args: str, blocked: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`python -m vigil ARGS`; `blocked`: a module made unimportable first (as if not installed)."""
    if blocked is None:
        command = [sys.executable, "-m", "vigil", *args]
    else:
        code = f"import sys, runpy; sys.modules[{blocked!r}] = None; sys.argv = ['vigil', *sys.argv[1:]]; runpy.run_module('vigil', run_name='__main__')"
        command = [sys.executable, "-c", code, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def converted(nudenet_path: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """A model directory of nudenet's export, converted by `vigil models convert --to openvino`."""
    root = import_ultralytics_onnx(nudenet_path, tmp_path_factory.mktemp("ov-convert") / "model")
    run = vigil("models", "convert", str(root), "--to", "openvino")
    assert run.returncode == 0, run.stderr
    return root, run


@pytest.fixture
def model_dir(converted: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path) -> Path:
    """A copy of the converted model directory a test may damage."""
    return Path(shutil.copytree(converted[0], tmp_path / "model"))


def test_convert_writes_a_hash_verified_package_that_keeps_the_batch_range(converted) -> None:
    root, run = converted
    assert "made package 'openvino-fp32' (fp32, batch 1..any) from 'onnx'" in run.stdout
    assert "converting model.onnx of 'onnx' to OpenVINO IR" in run.stderr and "writing package openvino-fp32" in run.stderr
    _, packages = read_model_dir(root)
    by_id = {p.package_id: p for p in packages}
    package, source = by_id["openvino-fp32"], by_id["onnx"]
    assert package.backend == "openvino" and package.batch == source.batch and package.batch.static is None
    assert package.openvino is not None
    assert (package.openvino.source, package.openvino.source_sha256) == ("onnx", source_digest(source))
    assert [f.name for f in package.files] == ["model.xml", "model.bin"]
    for entry in package.files:
        assert sha256_of(root / "openvino-fp32" / entry.name) == entry.sha256
    body = json.loads((root / "openvino-fp32" / "package.json").read_text())
    assert body["openvino"]["version"].count(".") == 2
    model = AutoModel.from_pretrained(root, backend="openvino", intra_op_threads=2)
    assert model.batch.static is False and model([photo("astronaut")] * 3)  # any batch size: the axis stayed dynamic
    compiled = model._session._compiled  # f32 (not the CPU plugin's bf16), the caller's threads, not pinned
    assert str(compiled.get_property("INFERENCE_PRECISION_HINT")) in ("<Type: 'float32'>", "f32")
    assert compiled.get_property("INFERENCE_NUM_THREADS") == 2 and compiled.get_property("ENABLE_CPU_PINNING") is False


def test_resolve_ranks_openvino_first_and_says_why_npu_is_refused(converted) -> None:
    root, _ = converted
    run = vigil("models", "resolve", str(root))
    assert run.returncode == 0, run.stderr
    rows = {line.split()[0]: line for line in run.stdout.splitlines()[2:]}
    assert "rank 1" in rows["openvino-fp32"] and "rank 2" in rows["onnx"]
    npu = vigil("models", "resolve", str(root), "--openvino-device", "NPU")
    assert "OpenVINO device 'NPU' is not on this machine (OpenVINO sees: CPU)" in npu.stdout + npu.stderr


def test_a_device_openvino_does_not_see_is_a_clear_refusal(model_dir: Path) -> None:
    with pytest.raises(ModelResolutionError, match=r"OpenVINO device 'NPU' is not on this machine \(OpenVINO sees: CPU\)"):
        AutoModel.from_pretrained(model_dir, backend="openvino", openvino_device="NPU", resolution_cache_ttl_s=0)
    loaded = AutoModel.from_pretrained(model_dir, backend="openvino", openvino_device="AUTO", resolution_cache_ttl_s=0)
    assert loaded._session.device == "AUTO" and loaded([photo("coffee")])


@pytest.mark.parametrize("name", ["model.bin", "model.xml"])
def test_a_corrupt_cached_file_is_a_clear_error_and_onnx_runs_instead(model_dir: Path, name: str, caplog) -> None:
    path = model_dir / "openvino-fp32" / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=rf"file '{name}' has sha256 .* the file is corrupt or was replaced"):
        AutoModel.from_pretrained(model_dir, backend="openvino", resolution_cache_ttl_s=0)
    with caplog.at_level(logging.WARNING):
        model = AutoModel.from_pretrained(model_dir, resolution_cache_ttl_s=0)  # openvino first, as ranked
    assert model.backend == "onnx" and "package 'openvino-fp32' failed to load" in caplog.text
    run = vigil("models", "convert", str(model_dir), "--to", "openvino")  # converting again repairs it
    assert run.returncode == 0, run.stderr
    assert AutoModel.from_pretrained(model_dir, backend="openvino", resolution_cache_ttl_s=0).backend == "openvino"


def test_without_openvino_loading_and_converting_say_what_to_install(converted) -> None:
    root, _ = converted
    code = (
        "import sys; sys.modules['openvino'] = None\n"
        "from vigil.engine import AutoModel\n"
        f"AutoModel.from_pretrained({str(root)!r}, backend='openvino', resolution_cache_ttl_s=0)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode != 0
    assert "the openvino backend needs OpenVINO, which is not installed: pip install 'vigil-analytics[openvino]'" in run.stderr
    assert MissingDependencyError.__name__ in run.stderr
    cli = vigil("models", "convert", str(root), "--to", "openvino", blocked="openvino")
    assert cli.returncode != 0 and "Traceback" not in cli.stderr
    assert cli.stderr.strip().splitlines()[-1] == (
        "vigil: error: the openvino backend needs OpenVINO, which is not installed: "
        "pip install 'vigil-analytics[openvino]' (openvino, and nncf for int8)"
    )


def test_without_nncf_int8_says_what_to_install(converted, tmp_path: Path) -> None:
    root, _ = converted
    run = vigil("models", "convert", str(root), "--to", "openvino", "--int8", "--calibration", str(tmp_path), blocked="nncf")
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert "--int8 quantizes with NNCF, which is not installed: pip install 'vigil-analytics[openvino]'" in run.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--int8"], "--int8 needs --calibration DIR"),
        (["--calibration", "."], "--calibration is only used with --int8"),
        (["--to", "tensorrt"], "invalid choice: 'tensorrt'"),
    ],
)
def test_bad_convert_arguments_are_clear_errors(converted, args: list[str], message: str) -> None:
    root, _ = converted
    run = vigil("models", "convert", str(root), "--to", "openvino", *args)
    assert run.returncode != 0 and message in run.stderr and "Traceback" not in run.stderr


def test_convert_refuses_a_folder_that_is_no_model_directory(tmp_path: Path) -> None:
    run = vigil("models", "convert", str(tmp_path), "--to", "openvino")
    assert run.returncode != 0 and "convert needs a model directory" in run.stderr and "vigil models import --onnx" in run.stderr


async def test_the_daemon_converts_at_start_when_asked_and_only_once(nudenet_path: Path, tmp_path: Path) -> None:
    root = import_ultralytics_onnx(nudenet_path, tmp_path / "model")
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"")
    config = DaemonConfig.model_validate(
        {
            "model": {"path": str(root), "backend": ["openvino"], "openvino": {"convert": "auto"}},
            "sources": [{"name": "a", "url": str(clip)}],
            "jsonl": {"path": str(tmp_path / "r.jsonl")},
        }
    )
    notifier = Notifier(None)
    await run_build_steps(config, notifier)
    package = root / "openvino-fp32" / "package.json"
    assert package.is_file()
    written = package.stat().st_mtime_ns
    await run_build_steps(config, notifier)  # a usable package exists: not converted again
    assert package.stat().st_mtime_ns == written
    model = AutoModel.from_pretrained(root, backend="openvino")
    assert model.backend == "openvino" and model.package_id == "openvino-fp32"


def test_a_package_converted_from_an_onnx_package_since_replaced_is_refused(model_dir: Path, tmp_path: Path, caplog) -> None:
    import onnx

    graph = onnx.load(str(model_dir / "onnx" / "model.onnx"))
    graph.doc_string = "the same weights, exported again"
    onnx.save(graph, str(tmp_path / "again.onnx"))
    import_ultralytics_onnx(tmp_path / "again.onnx", model_dir)  # a new export into the same directory
    with pytest.raises(ModelLoadError, match=r"converted from package 'onnx' as it was before: .* convert it again"):
        AutoModel.from_pretrained(model_dir, backend="openvino", resolution_cache_ttl_s=0)
    with caplog.at_level(logging.WARNING):
        assert AutoModel.from_pretrained(model_dir, resolution_cache_ttl_s=0).backend == "onnx"
    assert vigil("models", "convert", str(model_dir), "--to", "openvino").returncode == 0
    assert AutoModel.from_pretrained(model_dir, resolution_cache_ttl_s=0).backend == "openvino"
