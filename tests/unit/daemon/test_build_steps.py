"""Build steps are facts of a backend's catalog entry (`BackendKind.build_step`): the daemon's
start runs whichever step a declared backend carries, when the configuration asks for it, the
backend is installed here and no package of it fits, with no edit of `vigil.daemon.engine_build`.
A small backend declared at run time, whose step writes a package of its own, proves it."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.model_packages import write_model_json, write_package
from vigil.catalog import CATALOG, BackendKind, BuildStep, NoSettings
from vigil.config.daemon import DaemonConfig
from vigil.daemon.engine_build import run_build_steps
from vigil.daemon.systemd import Notifier
from vigil.engine import developer_tools
from vigil.engine._private.environment import RuntimeEnvironment
from vigil.engine.backends import BuildJob

HERE = RuntimeEnvironment(backends={"onnx": "1.20", "box_fake": "1.0"})
JOBS: list[BuildJob] = []


def build_box_package(job: BuildJob) -> str:
    """The step of the test's backend: a package of `box_fake` made from the ONNX package."""
    JOBS.append(job)
    onnx = next(p for p in job.listing.packages if p.backend.value == "onnx")
    job.progress("converting", 0.0)
    weights = (job.listing.fetch(onnx) / "model.onnx").read_bytes()
    write_package(
        job.model_dir,
        f"box-b{job.max_batch}",
        {"m.box": weights[:16]},
        backend="box_fake",
        batch={"min": 1, "max": job.max_batch},
    )
    job.progress("done", 1.0)
    return f"box-b{job.max_batch}"


def box_backend(**step: Any) -> BackendKind:
    return BackendKind(
        "box_fake",
        NoSettings,
        "vigil.engine.backends:load_package",
        label="the box runtime",
        models=(("yolo", "detect", ""),),
        distributions=("vigil-box-fake",),
        devices=("cpu",),
        rank=5,
        files=(".box",),
        build_step=BuildStep(build_box_package, "box blob", **step),
    )


@pytest.fixture
def declare() -> Iterator[Any]:
    JOBS.clear()

    def _declare(**step: Any) -> BackendKind:
        return CATALOG.backends.register(box_backend(**step))

    yield _declare
    CATALOG.backends.unregister("box_fake")


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    root = write_model_json(tmp_path / "model")
    write_package(root, "onnx-dyn", {"model.onnx": b"\x08\x07" * 64}, onnx={"opset": 17})
    return root


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[tuple[Notifier, socket.socket]]:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(tmp_path / "notify.sock"))
    listener.setblocking(False)
    notifier = Notifier(str(tmp_path / "notify.sock"))
    yield notifier, listener
    notifier.close()
    listener.close()


def heard(listener: socket.socket) -> list[str]:
    messages = []
    for _ in range(100):
        try:
            messages.append(listener.recv(4096).decode())
        except BlockingIOError:
            break
    return messages


def daemon_config(model: Path, tmp_path: Path, **model_keys: Any) -> DaemonConfig:
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"")
    return DaemonConfig.model_validate(
        {
            "model": {"path": str(model), **model_keys},
            "sources": [{"name": "a", "url": str(clip)}],
            "jsonl": {"path": str(tmp_path / "r.jsonl")},
            "batch": {"max_batch": 4},
        }
    )


@pytest.fixture
def here(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    probes: list[int] = []

    def probe() -> RuntimeEnvironment:
        probes.append(1)
        return HERE

    monkeypatch.setattr(developer_tools, "current_environment", probe)
    return probes


async def test_a_declared_backends_step_builds_its_package_once_and_tells_systemd(declare, model_dir, tmp_path, here, systemd):
    declare()
    notifier, listener = systemd
    config = daemon_config(model_dir, tmp_path)
    await run_build_steps(config, notifier)
    [job] = JOBS
    assert (job.model_dir, job.max_batch, job.settings, job.environment) == (model_dir, 4, None, HERE)
    assert (model_dir / "box-b4" / "package.json").is_file()
    messages = heard(listener)
    assert "STATUS=building box blob: converting (0 s)" in messages and "STATUS=building box blob: done (1 s)" in messages
    assert any(m.startswith("EXTEND_TIMEOUT_USEC=") for m in messages)
    await run_build_steps(config, notifier)  # its package fits now: nothing to build
    assert len(JOBS) == 1


async def test_a_step_waits_for_its_backend_and_a_model_directory(
    declare, model_dir, tmp_path, here, monkeypatch, systemd, caplog
):
    caplog.set_level(logging.INFO, "vigil.daemon.engine_build")
    declare()
    notifier, _ = systemd
    monkeypatch.setattr(developer_tools, "current_environment", lambda: RuntimeEnvironment(backends={"onnx": "1.20"}))
    await run_build_steps(daemon_config(model_dir, tmp_path), notifier)  # the box runtime is not installed
    bare = tmp_path / "bare.onnx"
    bare.write_bytes(b"onnx")
    monkeypatch.setattr(developer_tools, "current_environment", lambda: HERE)
    await run_build_steps(daemon_config(bare, tmp_path), notifier)  # no model directory to build in
    assert JOBS == [] and not (model_dir / "box-b4").exists()
    said = [r.getMessage() for r in caplog.records]
    assert said == ["the box blob build step: not building a box blob: this machine lacks the box runtime or the CPU"]


async def test_a_step_behind_a_switch_runs_only_when_the_settings_say_auto(declare, model_dir, tmp_path, here, systemd, caplog):
    declare(settings="tensorrt", switch="build_engine")  # borrows TensorRT's section to have a switch
    notifier, _ = systemd
    await run_build_steps(daemon_config(model_dir, tmp_path), notifier)
    assert JOBS == [] and here == []  # not asked: the machine is not even probed
    bare = tmp_path / "bare.onnx"
    bare.write_bytes(b"onnx")
    with caplog.at_level(logging.WARNING, "vigil.daemon.engine_build"):
        await run_build_steps(daemon_config(bare, tmp_path, tensorrt={"build_engine": "auto"}), notifier)
    assert "model.tensorrt.build_engine: auto needs a model directory" in caplog.text and JOBS == []
    await run_build_steps(daemon_config(model_dir, tmp_path, tensorrt={"build_engine": "auto", "engine_fp16": False}), notifier)
    [job] = JOBS
    assert job.settings.engine_fp16 is False  # its section, as the configuration gives it
    assert here == [1, 1]  # probed once by each start that asked for it


def test_a_switch_needs_the_section_it_sits_in():
    with pytest.raises(ValueError, match="a switch .* sits in a settings section"):
        BuildStep(build_box_package, "box blob", switch="build_engine")


def test_the_built_in_trt_step_is_declared_with_its_switch():
    step = CATALOG.backends.get("trt").build_step
    assert step is not None and (step.what, step.settings, step.switch) == ("TensorRT engine", "tensorrt", "build_engine")
    assert step.load_run().__name__ == "build_trt_engine"
