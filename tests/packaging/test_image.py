"""The container image as shipped (issue 32): built from this checkout by `make image`'s script
with the base made here by debootstrap (no registry answers), run with Debian's podman. The demo
passes in it; a mounted configuration, a camera on the host's test RTSP server and a JSONL sink on
the data volume give results; /readyz answers from the host; `podman stop` exits 0 with every
result written; the process is not root; `--read-only` holds."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.packaging.podman import IMAGE, LIMITS, podman, script
from tests.support.ports import free_port

# Image and package builds load both cores for minutes: after the parallel run, alone.
pytestmark = pytest.mark.serial

SERVER = Path(__file__).resolve().parents[1] / "support" / "rtsp_server.py"
UID = 10001  # the image's `vigil` user
# The goal is under 500 MB; the core image is 735 MB (measured 2026-12-06): 480 MB of it are
# the core's binary wheels (OpenCV with its own FFmpeg and OpenBLAS, PyAV with its own FFmpeg,
# onnxruntime, numpy), which no build option removes. This bound only stops it from growing.
SIZE_BUDGET = 800 * 1000 * 1000  # bytes, uncompressed


@pytest.fixture(scope="module")
def image() -> str:
    started = time.monotonic()
    script("packaging/build-image.sh", timeout=1800, IMAGE=IMAGE.split(":")[0])
    print(f"image built in {time.monotonic() - started:.0f} s")
    return IMAGE


def run(image: str, *args: str, options: tuple[str, ...] = (), timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return podman("run", "--rm", *LIMITS, *options, image, *args, timeout=timeout, check=False)


def test_the_core_image_is_small_and_runs_as_the_vigil_user(image: str) -> None:
    size = int(podman("image", "inspect", image, "--format", "{{.Size}}").stdout)
    print(f"image size: {size / 1e6:.0f} MB")
    assert size < SIZE_BUDGET, f"the core image grew to {size / 1e6:.0f} MB (budget {SIZE_BUDGET / 1e6:.0f} MB)"
    who = run(image, "id", "-u")
    assert who.returncode == 0 and int(who.stdout) == UID, who
    config = json.loads(podman("image", "inspect", image, "--format", "{{json .Config}}").stdout)
    health = json.loads(podman("image", "inspect", image, "--format", "{{json .HealthCheck}}").stdout)
    assert config["StopSignal"] == "SIGTERM" and "/healthz" in " ".join(health["Test"]), (config, health)
    assert set(config["Volumes"]) == {"/etc/vigil", "/var/lib/vigil"} and config["Cmd"][:2] == ["vigil", "run"], config


def test_the_starting_configuration_checks_once_the_entrypoint_made_its_token(image: str) -> None:
    checked = run(
        image, "sh", "-c", "vigil check /etc/vigil/vigil.yaml && stat -c '%a %U' /etc/vigil/api.token && cat /etc/vigil/api.token"
    )
    assert checked.returncode == 0, checked.stderr[-3000:]
    mode, owner, token = checked.stdout.split()[-3:]
    assert (mode, owner) == ("600", "vigil") and len(token) >= 32, checked.stdout
    assert "made an API token" in checked.stderr and token not in checked.stderr  # said, never printed


def test_the_demo_passes_in_the_image_read_only(image: str) -> None:
    demo = run(image, "vigil", "demo", "--out", "/tmp/demo", "--seconds", "4", options=("--read-only",))
    assert demo.returncode == 0, demo.stderr[-4000:]
    assert "face" in (demo.stdout + demo.stderr).lower(), demo.stderr[-2000:]  # the astronaut's face was found


class Camera:
    """The test RTSP server on the host's loopback, looping one clip at /cam."""

    def __init__(self, clip: Path) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", str(SERVER), str(self.port), "--mount", f"cam={clip}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready", "the RTSP server did not start"

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def camera(clips: dict[str, Path]) -> Iterator[Camera]:
    server = Camera(clips["astronaut"])
    yield server
    server.stop()


def get(url: str, token: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        return 0, str(exc)


def volumes(tmp_path: Path, camera: Camera, api_port: int) -> tuple[Path, Path, str]:
    config, data = tmp_path / "etc", tmp_path / "data"
    config.mkdir()
    data.mkdir()
    os.chown(data, UID, UID)
    token = uuid.uuid4().hex
    (config / "api.token").write_text(token)
    (config / "vigil.yaml").write_text(
        "model: {path: /usr/share/vigil/demo-yolov8n.onnx, image_size: 320}\n"
        f"sources:\n  - {{name: door, url: 'rtsp://127.0.0.1:{camera.port}/cam', max_fps: 10}}\n"
        "sinks:\n  - {kind: jsonl, path: /var/lib/vigil/results.jsonl}\n"
        f"api: {{host: 0.0.0.0, port: {api_port}, token_file: /etc/vigil/api.token}}\n"
    )
    for path in (config, config / "api.token", config / "vigil.yaml"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return config, data, token


def test_run_with_a_mounted_config_gives_results_and_stops_cleanly(image: str, camera: Camera, tmp_path: Path) -> None:
    api_port = free_port()
    config, data, token = volumes(tmp_path, camera, api_port)
    name = f"vigil-test-{uuid.uuid4().hex[:8]}"
    podman(
        "run", "-d", "--name", name, *LIMITS, "--network", "host", "--read-only",
        "-v", f"{config}:/etc/vigil:ro", "-v", f"{data}:/var/lib/vigil", image,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{api_port}"
        deadline = time.monotonic() + 120
        while (ready := get(f"{base}/readyz", token))[0] != 200:
            assert time.monotonic() < deadline, f"/readyz: {ready}\n{podman('logs', name, check=False).stderr[-3000:]}"
            time.sleep(1)
        results = data / "results.jsonl"
        while not results.exists() or results.read_text().count("\n") < 5:
            assert time.monotonic() < deadline, podman("logs", name, check=False).stderr[-3000:]
            time.sleep(1)
        status, streams = get(f"{base}/api/v1/streams", token)
        assert status == 200, streams
        counted = json.loads(streams)["streams"][0]["results"]
        users = podman("top", name, "user").stdout.split()[1:]  # every process of the container
        assert users and set(users) == {"vigil"}, users
        stopped = time.monotonic()
        podman("stop", "--time", "30", name, timeout=60)
        took = time.monotonic() - stopped
        state = json.loads(podman("inspect", name, "--format", "{{json .State}}").stdout)
        logs = podman("logs", name, check=False)
    finally:
        podman("rm", "--force", name, check=False)
    assert state["ExitCode"] == 0, (state, logs.stderr[-3000:])
    assert took < 10, f"the drain took {took:.1f} s: inside docker's and podman's 10 s stop timeout"
    records = [json.loads(line) for line in results.read_text().splitlines()]  # every line whole
    seqs = [r["seq"] for r in records if r["source"] == "door"]
    assert len(seqs) == len(set(seqs)) and len(seqs) >= max(5, counted), (counted, seqs[-10:])  # none lost at the stop
    assert records and records[0]["model"], records[0]
