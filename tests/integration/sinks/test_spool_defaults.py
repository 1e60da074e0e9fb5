"""Durable sinks (webhook, MQTT, NATS) need no `spool_dir`: an MQTT sink given only its host is
a valid configuration, its spool is `spool-<sink name>` in the state directory (beside the API's
state file: `$STATE_DIRECTORY` under systemd, else `~/.local/state/vigil/`), and `vigil check`
says where each spool is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vigil.api.state import default_state_file
from vigil.config.files import state_directory
from vigil.config.loader import parse_config
from vigil.config.sinks import spool_directory
from vigil.sinks.registry import build_sink

REPO = Path(__file__).resolve().parents[3]


def config_text(model: str = "unused.onnx") -> str:
    return (
        f"model: {{path: {model}}}\nsources: [{{name: cam, url: cam.mp4}}]\nsinks:\n"
        "  - {kind: mqtt, host: broker.lan, records: [events]}\n"
        "  - {kind: nats, name: fleet, servers: ['nats://127.0.0.1:4222']}\n"
        "  - {kind: webhook, url: 'https://hooks.example/v', spool_dir: /var/spool/hook}\n"
    )


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"STATE_DIRECTORY": "/var/lib/vigil/cam:/var/lib/other", "HOME": "/home/v"}, "/var/lib/vigil/cam/spool-mqtt"),
        ({"XDG_STATE_HOME": "/x/state", "HOME": "/home/v"}, "/x/state/vigil/spool-mqtt"),
        ({"HOME": "/home/v"}, "/home/v/.local/state/vigil/spool-mqtt"),
    ],
)
def test_an_mqtt_sink_with_only_a_host_spools_under_the_state_directory(environ, expected):
    config = parse_config(config_text(), "vigil.yaml", {})
    mqtt, fleet, hook = config.sinks
    assert spool_directory(mqtt, "mqtt", environ) == Path(expected)
    assert spool_directory(fleet, "fleet", environ) == Path(expected).parent / "spool-fleet"
    assert spool_directory(hook, "webhook", environ) == Path("/var/spool/hook")  # a spool_dir given wins
    # beside the API's state file
    assert default_state_file(Path("vigil.yaml"), environ).parent == state_directory(environ) == Path(expected).parent


async def test_the_built_sinks_use_their_default_spools(tmp_path, monkeypatch):
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))
    config = parse_config(config_text(), "vigil.yaml", {})
    mqtt, fleet, hook = [await build_sink(entry) for entry in config.sinks]
    assert mqtt.spool_dir == tmp_path / "state" / "spool-mqtt"  # type: ignore[attr-defined]
    assert fleet.spool_dir == tmp_path / "state" / "spool-fleet"  # type: ignore[attr-defined]
    assert hook.spool_dir == Path("/var/spool/hook")  # type: ignore[attr-defined]


def test_vigil_check_says_where_each_spool_is(tmp_path, nudenet_path):
    path = tmp_path / "vigil.yaml"
    path.write_text(config_text(str(nudenet_path)))
    env = {**os.environ, "STATE_DIRECTORY": str(tmp_path / "state")}
    done = subprocess.run(
        [sys.executable, "-m", "vigil", "check", str(path)], capture_output=True, text=True, env=env, cwd=REPO, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert f"spool of sink 'mqtt': {tmp_path / 'state' / 'spool-mqtt'} (default: the state directory)" in done.stdout
    assert f"spool of sink 'fleet': {tmp_path / 'state' / 'spool-fleet'} (default" in done.stdout
    assert "spool of sink 'webhook': /var/spool/hook\n" in done.stdout + "\n"
    assert not (tmp_path / "state").exists()  # check writes nothing
