import importlib.metadata

import pytest

from vigil.engine._private.environment import current_environment, parse_jetson, parse_nvidia_smi
from vigil.engine._private.providers import parse_reference


def test_this_machine_is_probed_once_and_reports_onnxruntime():
    env = current_environment()
    assert env is current_environment()  # cached
    assert env.backends["onnx"] == importlib.metadata.version("onnxruntime")
    assert "CPUExecutionProvider" in env.ort_providers
    assert env.ort_max_opset is not None and env.ort_max_opset >= 17
    assert "trt" not in env.backends


def test_nvidia_smi_output_of_a_simulated_two_gpu_server():
    query = "NVIDIA GeForce RTX 4090, 8.9, 560.35.03\nNVIDIA L4, 8.9, 560.35.03\n"
    banner = "| NVIDIA-SMI 560.35.03    Driver Version: 560.35.03    CUDA Version: 12.6     |"
    gpus, cuda = parse_nvidia_smi(query, banner)
    assert [g.name for g in gpus] == ["NVIDIA GeForce RTX 4090", "NVIDIA L4"]
    assert gpus[0].compute_capability == "8.9" and gpus[0].driver == "560.35.03"
    assert cuda == "12.6"


@pytest.mark.parametrize(
    "release, model, l4t, name, cc",
    [
        (
            "# R36 (release), REVISION: 3.0, GCID: 36191598, BOARD: generic, EABI: aarch64",
            "NVIDIA Jetson AGX Orin Developer Kit\x00",
            "36.3.0",
            "NVIDIA Jetson AGX Orin Developer Kit",
            "8.7",
        ),
        (
            "# R35 (release), REVISION: 4.1, GCID: 33958178",
            "NVIDIA Jetson Xavier NX Developer Kit",
            "35.4.1",
            "NVIDIA Jetson Xavier NX Developer Kit",
            "7.2",
        ),
        ("garbage", "whatever", None, None, None),
    ],
)
def test_simulated_jetson_release_files(release, model, l4t, name, cc):
    version, gpu = parse_jetson(release, model)
    assert version == l4t
    assert (gpu.name if gpu else None) == name and (gpu.compute_capability if gpu else None) == cc


@pytest.mark.parametrize(
    "ref, provider, model_id",
    [
        ("models/yolov8n", "local", "models/yolov8n"),
        ("/abs/yolo.onnx", "local", "/abs/yolo.onnx"),
        ("C:/models/yolo.onnx", "local", "C:/models/yolo.onnx"),
        ("yolo.onnx", "local", "yolo.onnx"),
        ("http://127.0.0.1:8080/models/yolo", "http", "http://127.0.0.1:8080/models/yolo"),
        ("store:yolov8n-640", "store", "yolov8n-640"),
        ("my-registry:team/model", "my-registry", "team/model"),
    ],
)
def test_reference_grammar(ref, provider, model_id):
    parsed = parse_reference(ref)
    assert (parsed.provider, parsed.model_id) == (provider, model_id)


def test_the_onnxruntime_tensorrt_provider_caches_its_engines_in_vigils_cache(tmp_path):
    from vigil.engine._private.onnx_runtime import provider_settings

    settings = provider_settings(["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"], tmp_path / "trt")
    name, options = settings[0]
    assert name == "TensorrtExecutionProvider" and settings[1:] == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert options["trt_engine_cache_enable"] == "True" and options["trt_engine_cache_path"] == str(tmp_path / "trt")
    assert options["trt_timing_cache_path"] == str(tmp_path / "trt") and (tmp_path / "trt").is_dir()
    assert provider_settings(["CPUExecutionProvider"], None) == ["CPUExecutionProvider"]
