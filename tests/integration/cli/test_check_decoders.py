"""`vigil check` as a real process says which decoder each camera gets on this machine and why
(`--decoders`: only that), and refuses an unknown decoder name with the list of names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

LOOKED_FOR = "nvv4l2decoder, nvh264dec, nvh265dec, vah264dec, vah265dec"


def vigil(*args: str, code: str | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "vigil", *args] if code is None else [sys.executable, "-c", code, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def write_config(tmp_path: Path, model: Path, sources: str) -> Path:
    (tmp_path / "door.mp4").write_bytes(b"")  # check opens no video
    path = tmp_path / "vigil.yaml"
    path.write_text(f"model:\n  path: {model}\nsources:\n{sources}jsonl:\n  path: {tmp_path / 'r.jsonl'}\n")
    return path


CAMERAS = (
    "  - name: door\n    url: door.mp4\n"  # auto, the default
    "  - name: yard\n    url: rtsp://cam.lan/stream1\n    decoder: pyav\n"
    "  - name: desk\n    url: v4l2:/dev/video0\n    decoder: auto\n"
)


def test_check_names_each_cameras_decoder_and_why(tmp_path, nudenet_path):
    result = vigil("check", str(write_config(tmp_path, nudenet_path, CAMERAS)))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"  decoder of source 'door': pyav (auto: no hardware decoder element (looked for {LOOKED_FOR}); PyAV)" in lines
    assert "  decoder of source 'yard': pyav (asked for by name)" in lines
    assert "  decoder of source 'desk': pyav (auto: a capture device is read through FFmpeg; PyAV)" in lines


def test_check_decoders_prints_only_the_decoders(tmp_path, nudenet_path):
    result = vigil("check", "--decoders", str(write_config(tmp_path, nudenet_path, CAMERAS)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"decoder of source 'door': pyav (auto: no hardware decoder element (looked for {LOOKED_FOR}); PyAV)",
        "decoder of source 'yard': pyav (asked for by name)",
        "decoder of source 'desk': pyav (auto: a capture device is read through FFmpeg; PyAV)",
    ]


def test_check_without_pygobject_says_auto_gives_pyav_and_why(tmp_path, nudenet_path):
    # A machine without the gstreamer extra: PyGObject cannot be imported.
    path = write_config(tmp_path, nudenet_path, "  - name: door\n    url: door.mp4\n")
    result = vigil("check", "--decoders", str(path), code=NO_GI)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "decoder of source 'door': pyav (auto: PyGObject is not installed (the gstreamer extra: pip install "
        "'vigil-analytics[gstreamer]'), so no GStreamer decoder was looked for; PyAV)"
    ]


def test_check_refuses_an_unknown_decoder_with_the_names(tmp_path, nudenet_path):
    path = write_config(tmp_path, nudenet_path, "  - name: door\n    url: door.mp4\n    decoder: nvdec\n")  # line 6
    result = vigil("check", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"vigil: error: config {path}: line 6: sources[0].decoder: decoder 'nvdec' is unknown; "
        "choose one of: auto, pyav, gstreamer"
    )


NO_GI = "import sys\nsys.modules['gi'] = None\nfrom vigil.cli.main import main\nsys.exit(main(sys.argv[1:]))\n"


def test_check_names_a_gstreamer_decoder_asked_for_by_name(tmp_path, nudenet_path):
    path = write_config(tmp_path, nudenet_path, "  - name: door\n    url: door.mp4\n    decoder: gstreamer\n")
    result = vigil("check", "--decoders", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["decoder of source 'door': gstreamer (asked for by name)"]


def test_check_refuses_gstreamer_without_pygobject_at_its_key(tmp_path, nudenet_path):
    path = write_config(tmp_path, nudenet_path, "  - name: door\n    url: door.mp4\n    decoder: gstreamer\n")  # line 6
    result = vigil("check", str(path), code=NO_GI)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(
        f"vigil: error: config {path}: line 6: sources[0].decoder: decoder 'gstreamer' cannot be loaded ("
    )
    assert "gstreamer' extra" in result.stderr and result.stderr.rstrip().endswith("or choose decoder 'auto'")


def test_check_shows_a_cameras_inputs_masked_and_its_decode_size(tmp_path, nudenet_path):
    sources = (
        "  - name: door\n    clips:\n      directory: clips\n    decode_size: [640, 360]\n    inputs:\n"
        "      - url: rtsp://admin:hunter2@door.lan/sub\n        roles: [detect]\n"
        "      - url: rtsp://admin:hunter2@door.lan/main\n        roles: [record]\n"
        "  - name: yard\n    url: rtsp://cam.lan/stream1\n    decode_size: model\n"
    )
    result = vigil("check", str(write_config(tmp_path, nudenet_path, sources)))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert (
        "  inputs of source 'door': 0 detect rtsp://admin:***@door.lan/sub, 1 record rtsp://admin:***@door.lan/main" in lines
    ), lines
    assert "  decode size of source 'door': 640x360; boxes, zones and snapshots are in its pixels" in lines
    assert any(line.startswith("  decode size of source 'yard': the largest inside the model's input") for line in lines)
    assert not any("inputs of source 'yard'" in line for line in lines)
    assert "hunter2" not in result.stdout + result.stderr
