"""`vigil models export`: bad input is a clear error (exit 2, one line naming the thing and what to
do, nothing written), `--image-size` changes the exported size, and a damaged export is refused
at load."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import transformers

from tests.conftest import photo
from tests.integration.engine.test_hf_export import spread_folder
from tests.support.hf_detectors import detector_folder
from tests.support.tiny_hf import build_clip
from vigil.cli.main import main
from vigil.engine import AutoModel
from vigil.errors import ModelLoadError

ROOT = Path(__file__).resolve().parents[3]


def export(capfd: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["models", "export", *args])
    return code, capfd.readouterr().err


@pytest.fixture(scope="module")
def rt_detr_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rt-detr-export") / "model"
    assert main(["models", "export", str(spread_folder("rt-detr", tmp_path_factory)), "--to", "onnx", "--out", str(out)]) == 0
    return out


def test_a_folder_without_config_json(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    code, err = export(capfd, str(tmp_path), "--to", "onnx", "--out", str(tmp_path / "out"))
    assert code == 2 and "not a transformers save_pretrained folder (no config.json)" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_a_detector_vigil_does_not_export_names_the_ones_it_does(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, capfd: pytest.CaptureFixture[str]
) -> None:
    code, err = export(capfd, str(detector_folder("yolos", tmp_path_factory)), "--to", "onnx", "--out", str(tmp_path / "o"))
    assert code == 2 and "YolosForObjectDetection, an object detector vigil cannot export yet" in err
    assert "RTDetrForObjectDetection" in err and "DetrForObjectDetection" in err and "hf package" in err
    assert not (tmp_path / "o").exists()
    code, err = export(
        capfd, str(detector_folder("deformable-detr", tmp_path_factory)), "--to", "onnx", "--out", str(tmp_path / "o")
    )
    assert code == 2 and "DeformableDetrForObjectDetection, an object detector vigil cannot export yet" in err


def test_a_model_that_is_no_detector(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    clip = build_clip(tmp_path / "clip")
    code, err = export(capfd, str(clip), "--to", "onnx", "--out", str(tmp_path / "o"))
    assert code == 2 and "describes CLIPModel, not an object detector" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--opset", "13"], "--opset 13: the DETR family needs opset 16 or newer"),
        (["--image-size", "big"], "--image-size 'big': give N or A,B"),
        (["--image-size", "8"], "--image-size '8': give N or A,B, whole numbers of pixels from 16 to 4096"),
    ],
)
def test_bad_options(
    args: list[str], message: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, capfd: pytest.CaptureFixture[str]
) -> None:
    folder = detector_folder("rt-detr", tmp_path_factory)
    code, err = export(capfd, str(folder), "--to", "onnx", "--out", str(tmp_path / "o"), *args)
    assert code == 2 and message in err and not (tmp_path / "o").exists()


def test_an_output_folder_in_use_is_left_alone(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, capfd: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, err = export(capfd, str(detector_folder("detr", tmp_path_factory)), "--to", "onnx", "--out", str(out))
    assert code == 2 and "exists and is not empty; choose a new folder with --out" in err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_without_torch_and_transformers_the_hf_extra_is_named(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = detector_folder("rt-detr", tmp_path_factory)
    script = (
        "import sys\n"
        "sys.modules['torch'] = None; sys.modules['transformers'] = None\n"
        "from vigil.cli.main import main\n"
        f"sys.exit(main(['models', 'export', {str(folder)!r}, '--to', 'onnx', '--out', {str(tmp_path / 'o')!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 2, done.stderr
    assert "need transformers and torch" in done.stderr and "pip install 'vigil-analytics[export]'" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "o").exists()


def test_without_onnx_the_export_extra_is_named(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = detector_folder("detr", tmp_path_factory)
    script = (
        "import sys\n"
        "sys.modules['onnx'] = None\n"
        "from vigil.cli.main import main\n"
        f"sys.exit(main(['models', 'export', {str(folder)!r}, '--to', 'onnx', '--out', {str(tmp_path / 'o')!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 2, done.stderr
    assert "writes the graph with onnx, which is not installed: pip install 'vigil-analytics[export]'" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "o").exists()


def test_an_export_that_differs_from_transformers_is_not_written(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, capfd: pytest.CaptureFixture[str]
) -> None:
    """The tiny RT-DETR as built (before `spread_folder`): its encoder gives every position the same
    score, so which queries it keeps is a tie that onnxruntime and torch break differently."""
    out = tmp_path / "o"
    code, err = export(capfd, str(detector_folder("rt-detr", tmp_path_factory)), "--to", "onnx", "--out", str(out))
    assert code == 2 and "the ONNX export differs from transformers by" in err and "nothing was written" in err
    assert "Untrained (random) weights can tie the scores" in err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".vigil-export-")]


def test_image_size_sets_the_fixed_input_of_rt_detr(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, capfd: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rt96"
    code, _ = export(
        capfd, str(spread_folder("rt-detr", tmp_path_factory)), "--to", "onnx", "--out", str(out), "--image-size", "96"
    )
    assert code == 0
    session = ort.InferenceSession(str(out / "onnx" / "model.onnx"))
    assert session.get_inputs()[0].shape[2:] == [96, 96]
    assert json.loads((out / "model.json").read_text())["parameters"]["resize"] == {"height": 96, "width": 96}
    model = AutoModel.from_pretrained(out, confidence=0.0)
    assert model.pre_process([photo("coffee")]).tensor.shape == (1, 3, 96, 96)
    assert len(model(photo("coffee"))[0]) > 0


def test_image_size_other_than_the_configs_anchor_size(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, capfd: pytest.CaptureFixture[str]
) -> None:
    """A config with `anchor_image_size` (anchors precomputed for 64x64) exported at 96x96 makes
    its anchors from the feature maps instead, and still equals transformers at that size."""
    folder = tmp_path / "anchored"
    net = transformers.AutoModelForObjectDetection.from_pretrained(spread_folder("rt-detr", tmp_path_factory))
    net.config.anchor_image_size = [64, 64]
    net.save_pretrained(folder)
    transformers.AutoImageProcessor.from_pretrained(spread_folder("rt-detr", tmp_path_factory)).save_pretrained(folder)
    code, err = export(capfd, str(folder), "--to", "onnx", "--out", str(tmp_path / "o"), "--image-size", "96")
    assert code == 0, err
    assert ort.InferenceSession(str(tmp_path / "o" / "onnx" / "model.onnx")).get_inputs()[0].shape[2:] == [96, 96]


def test_image_size_sets_detrs_shortest_and_longest_edge(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, capfd: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "detr"
    folder = detector_folder("detr", tmp_path_factory)
    code, _ = export(capfd, str(folder), "--to", "onnx", "--out", str(out), "--image-size", "32,40")
    assert code == 0
    model = AutoModel.from_pretrained(out, confidence=0.0)
    # coffee is 400x600: the shorter side at 32 would make the longer 48 > 40, so the longer is 40
    # and the shorter round(26.7) = 27, as DETR's own processor makes it
    processor = transformers.DetrImageProcessor(size={"shortest_edge": 32, "longest_edge": 40})
    for name, shape in (("coffee", (27, 40)), ("astronaut", (32, 32)), ("rocket", (27, 40))):
        assert model.pre_process([photo(name)]).tensor.shape == (1, 3, *shape)
        assert tuple(processor(images=[photo(name)], return_tensors="np")["pixel_values"].shape[2:]) == shape


def test_a_model_json_without_the_recipe_is_refused_at_load(rt_detr_export: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for item in rt_detr_export.iterdir():
        target = broken / item.name
        if item.is_dir():
            target.mkdir()
            for f in item.iterdir():
                (target / f.name).write_bytes(f.read_bytes())
        else:
            target.write_bytes(item.read_bytes())
    model = json.loads((broken / "model.json").read_text())
    del model["parameters"]["resize"]
    (broken / "model.json").write_text(json.dumps(model))
    with pytest.raises(ModelLoadError, match=r"lack the processor's recipe .*export the model again with `vigil models export"):
        AutoModel.from_pretrained(broken)


def test_the_image_size_option_is_refused_at_load(rt_detr_export: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"set when it is exported \(`vigil models export --image-size`\)"):
        AutoModel.from_pretrained(rt_detr_export, image_size=128)


def test_the_onnx_package_converts_to_openvino_and_runs_the_same(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, capfd: pytest.CaptureFixture[str]
) -> None:
    """The exported classes are the onnx backend's and the openvino backend's (`_ONNX_MODELS`).
    DETR: no top-k inside the graph, whose near-ties (random weights) two runtimes may break apart."""
    model_dir = tmp_path / "detr"
    assert export(capfd, str(detector_folder("detr", tmp_path_factory)), "--to", "onnx", "--out", str(model_dir))[0] == 0
    assert main(["models", "convert", str(model_dir), "--to", "openvino"]) == 0
    images = [photo("chelsea"), photo("coffee")]
    onnx = AutoModel.from_pretrained(model_dir, backend=["onnx"], confidence=0.0)
    ov = AutoModel.from_pretrained(model_dir, backend=["openvino"], confidence=0.0)
    assert (onnx.backend, ov.backend) == ("onnx", "openvino")
    for a, b in zip(onnx(images), ov(images)):
        assert len(a) == len(b) > 0
        order_a, order_b = np.lexsort((a.xyxy[:, 0], a.confidence)), np.lexsort((b.xyxy[:, 0], b.confidence))
        np.testing.assert_allclose(b.confidence[order_b], a.confidence[order_a], atol=1e-4)
        np.testing.assert_allclose(b.xyxy[order_b], a.xyxy[order_a], atol=1e-3)
