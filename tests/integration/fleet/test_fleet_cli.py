"""`vigil fleet apply / list / remove` as a user runs them (the real command in a subprocess)
against a real nats-server with a user and password: the bucket they write, their reports, a bad
file's errors with lines, who runs each camera, exit codes, and the password in no output."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.nats_server import NatsServer, wait_for_jetstream
from tests.support.ports import free_port
from vigil.api.fleet_models import FleetView
from vigil.config.fleet import FleetConfig
from vigil.fleet.store import FleetStore, Member

PASSWORD = "s3cret-fleet-pw"
CAMERAS = """\
sources:
  - name: door
    url: rtsp://viewer:camPW99@127.0.0.1:8554/door
    max_fps: 5
  - name: yard
    url: rtsp://127.0.0.1:8554/yard
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    node = NatsServer(tmp_path_factory.mktemp("nats"), user="vigil", password=PASSWORD).start()
    asyncio.run(wait_for_jetstream([node.url], user="vigil", password=PASSWORD))
    yield node
    node.stop()


@pytest.fixture
def setup(tmp_path: Path, server: NatsServer) -> dict[str, Path]:
    """A vigil.yaml whose fleet: section has its own bucket prefix (each test its own buckets)."""
    (tmp_path / "pw").write_text(PASSWORD)
    prefix = f"t{free_port()}"
    config = tmp_path / "vigil.yaml"
    config.write_text(
        f"model: {{path: model.onnx}}\nsinks: [{{kind: jsonl, path: out.jsonl}}]\n"
        f"fleet: {{servers: ['{server.url}'], user: vigil, password_file: {tmp_path / 'pw'}, bucket_prefix: {prefix}}}\n"
    )
    cameras = tmp_path / "cameras.yaml"
    cameras.write_text(CAMERAS)
    return {"config": config, "cameras": cameras, "dir": tmp_path}


def vigil(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "vigil", "fleet", *args], capture_output=True, text=True, timeout=120)
    assert PASSWORD not in done.stdout + done.stderr
    assert "camPW99" not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return done


def store_of(setup: dict[str, Path]) -> FleetConfig:
    text = setup["config"].read_text()
    prefix = text.split("bucket_prefix: ")[1].split("}")[0]
    url = text.split("servers: ['")[1].split("'")[0]
    return FleetConfig.model_validate(
        {"servers": [url], "user": "vigil", "password_file": str(setup["dir"] / "pw"), "bucket_prefix": prefix, "box": "x"}
    )


async def bucket(setup: dict[str, Path]) -> dict[str, dict[str, object]]:
    store = await FleetStore.connect(store_of(setup))
    try:
        return await store.cameras()
    finally:
        await store.close()


def test_apply_reports_added_changed_unchanged_and_prunes(setup: dict[str, Path]) -> None:
    first = vigil("apply", str(setup["cameras"]), "-c", str(setup["config"]))
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[0] == "2 added, 0 changed, 0 unchanged"
    stored = asyncio.run(bucket(setup))
    assert stored == {
        "door": {"kind": "rtsp", "url": "rtsp://viewer:camPW99@127.0.0.1:8554/door", "max_fps": 5.0},
        "yard": {"kind": "rtsp", "url": "rtsp://127.0.0.1:8554/yard"},
    }

    again = vigil("apply", str(setup["cameras"]), "-c", str(setup["config"]))
    assert again.stdout.splitlines()[0] == "0 added, 0 changed, 2 unchanged"

    setup["cameras"].write_text(
        CAMERAS.replace("max_fps: 5", "max_fps: 2").split("  - name: yard")[0]
        + "  - name: gate\n    url: rtsp://127.0.0.1:8554/gate\n"
    )
    changed = vigil("apply", str(setup["cameras"]), "-c", str(setup["config"]))
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.splitlines()[0] == "1 added, 1 changed, 0 unchanged"
    assert set(asyncio.run(bucket(setup))) == {"door", "yard", "gate"}  # without --prune, yard stays

    pruned = vigil("apply", str(setup["cameras"]), "-c", str(setup["config"]), "--prune")
    assert pruned.stdout.splitlines()[0] == "0 added, 0 changed, 2 unchanged, 1 removed"
    assert "removed   yard" in pruned.stdout
    assert set(asyncio.run(bucket(setup))) == {"door", "gate"}


def test_a_bad_file_is_refused_with_its_line_and_nothing_is_written(setup: dict[str, Path]) -> None:
    setup["cameras"].write_text(CAMERAS.replace("    max_fps: 5\n", "    max_fps: -3\n    colour: red\n"))
    done = vigil("apply", str(setup["cameras"]), "-c", str(setup["config"]))
    assert done.returncode == 2
    assert "line 4: sources[0].max_fps" in done.stderr
    assert "line 5: sources[0].colour" in done.stderr
    setup["cameras"].write_text(CAMERAS + "  - name: door\n    url: rtsp://127.0.0.1/again\n")
    twice = vigil("apply", str(setup["cameras"]), "-c", str(setup["config"]))
    assert twice.returncode == 2 and "repeated: door" in twice.stderr
    assert asyncio.run(bucket(setup)) == {}


def test_list_shows_who_runs_each_camera_and_the_boxes(setup: dict[str, Path]) -> None:
    assert vigil("apply", str(setup["cameras"]), "-c", str(setup["config"])).returncode == 0

    async def box_a_takes_door() -> None:
        store = await FleetStore.connect(store_of(setup))
        try:
            await store.heartbeat(
                Member("box-a", capacity={"cameras": 4, "fps": None}, load={"cameras": 1, "fps": 5.0}, cameras=["door"])
            )
            assert await store.take("door", "box-a") is not None
            await store.record_move("door", None, "box-a", "joined")
        finally:
            await store.close()

    asyncio.run(box_a_takes_door())
    listed = vigil("list", "--json", "-c", str(setup["config"]))
    assert listed.returncode == 0, listed.stderr
    view = FleetView.model_validate(json.loads(listed.stdout))
    assert [(c.name, c.box) for c in view.cameras] == [("door", "box-a"), ("yard", None)]
    assert view.cameras[0].url == "rtsp://viewer:***@127.0.0.1:8554/door"
    assert view.unassigned == ["yard"]
    assert [(b.box, b.alive, b.capacity.cameras, b.load.cameras, b.cameras) for b in view.boxes] == [
        ("box-a", True, 4, 1, ["door"])
    ]
    assert [(m.camera, m.from_, m.to, m.reason) for m in view.moves] == [("door", None, "box-a", "joined")]

    text = vigil("list", "-c", str(setup["config"]))
    assert "cameras: 2 (1 unassigned)" in text.stdout
    assert "boxes: 1 alive" in text.stdout
    assert "door: - -> box-a (joined)" in text.stdout


def test_remove_takes_a_camera_out_and_says_when_there_is_none(setup: dict[str, Path]) -> None:
    assert vigil("apply", str(setup["cameras"]), "-c", str(setup["config"])).returncode == 0
    done = vigil("remove", "yard", "-c", str(setup["config"]))
    assert done.returncode == 0, done.stderr
    assert set(asyncio.run(bucket(setup))) == {"door"}
    again = vigil("remove", "yard", "-c", str(setup["config"]))
    assert again.returncode == 1
    assert "no camera 'yard'" in again.stderr


def test_settings_from_flags_and_clear_errors(setup: dict[str, Path], server: NatsServer) -> None:
    port = free_port()
    down = vigil("list", "--servers", f"nats://127.0.0.1:{port}")
    assert down.returncode == 3
    assert f"cannot reach the fleet's NATS servers (nats://127.0.0.1:{port})" in down.stderr

    wrong = setup["dir"] / "wrong"
    wrong.write_text("not-" + PASSWORD)
    refused = vigil("list", "-c", str(setup["config"]), "--password-file", str(wrong))
    assert refused.returncode == 3
    assert server.url in refused.stderr and "not-" not in refused.stderr

    flags = vigil(
        "list",
        "--json",
        "--servers",
        server.url,
        "--user",
        "vigil",
        "--password-file",
        str(setup["dir"] / "pw"),
        "--bucket-prefix",
        store_of(setup).bucket_prefix,
    )
    assert flags.returncode == 0, flags.stderr
    assert json.loads(flags.stdout)["cameras"] == []

    bare = setup["dir"] / "bare.yaml"
    bare.write_text(
        "model: {path: model.onnx}\nsources: [{name: a, url: rtsp://127.0.0.1/a}]\nsinks: [{kind: jsonl, path: o.jsonl}]\n"
    )
    none = vigil("list", "-c", str(bare))
    assert none.returncode == 2 and "has no fleet: section" in none.stderr
    creds = vigil("list", "--servers", "nats://vigil:pw@127.0.0.1:4222")
    assert creds.returncode == 2 and "holds credentials" in creds.stderr
