"""`vigil check` and `vigil run` as real processes on hostile or broken configuration files:
every problem is one `vigil: error:` naming the key and line (exit 2), never a traceback, and
`check` reads every file the configuration names and resolves the model, as `run` would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.unit.api.control_doubles import NothingRunning
from vigil.api.app import make_app
from vigil.api.models import Stream
from vigil.config import SourceConfig

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "vigil.yaml"
TOKEN = "0123456789abcdef-token"
SECRET = "Zq7-never-printed"


def vigil(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vigil", *args], capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def refused(result: subprocess.CompletedProcess, *expected: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and result.stderr.startswith("vigil: error: config "), result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr
    assert SECRET not in result.stderr + result.stdout


def config_text(model: Path | str, api: str = "", extra: str = "") -> str:
    return (
        f"model:\n  path: {model}\n"  # line 2
        "sources:\n  - name: a\n    url: a.mp4\n"
        f"jsonl:\n  path: r.jsonl\n{extra}{api}"
    )


@pytest.mark.parametrize("command", ["check", "run"])
@pytest.mark.parametrize(
    "content, expected",
    [
        (b"\n", "is empty; write a token of at least 16 characters"),
        (b"x\n", "the token has 1 character(s); use at least 16"),
        (SECRET[:6].encode(), "the token has 6 character(s); use at least 16"),
        (None, "no such file; create it or fix the path"),
    ],
    ids=["newline-only", "one-character", "short", "missing"],
)
def test_a_bad_token_file_is_refused_by_check_and_run_naming_key_and_line(tmp_path, nudenet_path, command, content, expected):
    token = tmp_path / "token"
    if content is not None:
        token.write_bytes(content)
    path = tmp_path / "vigil.yaml"
    api = f"api:\n  host: 0.0.0.0\n  port: {free_port()}\n  token_file: {token}\n"  # token_file: line 11
    path.write_text(config_text(nudenet_path, api))
    result = vigil(command, str(path))
    refused(result, f"line 11: api.token_file: {token}: {expected}")
    assert SECRET[:6] not in result.stderr


_BOMB = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9) if i else ', '.join(['lol'] * 9)}]\n" for i in range(9))
HOSTILE = {
    "5000-digits": (b"batch:\n  max_batch: " + b"9" * 5000 + b"\n", "line 9: batch.max_batch: a number of 5000 characters"),
    "not-utf8": (b"batch:\n  max_batch: 4\xff\n", "line 9: not UTF-8 text (byte 0xff)"),
    "recursive-alias": (b"batch: &r {max_batch: *r}\n", "line 8: batch.max_batch: an alias refers to a value that contains it"),
    "int-tag": (b"batch:\n  max_batch: !!int abc\n", "line 9: batch.max_batch: cannot read this value as !!int"),
    "billion-laughs": (_BOMB.encode(), "the file expands to more than 100,000 values"),
}


@pytest.mark.parametrize("command", ["check", "run"])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_yaml_is_one_config_error_for_check_and_run(tmp_path, command, case):
    extra, expected = HOSTILE[case]
    path = tmp_path / "vigil.yaml"
    body = config_text("m.onnx").encode()
    path.write_bytes(extra + body if case == "billion-laughs" else body + extra)
    refused(vigil(command, str(path), timeout=30), expected)  # the bomb alone once ran 58 s


def test_check_reports_every_problem_of_the_example_at_once():
    result = vigil("check", str(EXAMPLE))
    refused(
        result,
        "line 4: model.path: model '/var/lib/vigil/models/yolov8n.onnx' not found",
        "line 15: sources[0].password_file: /etc/vigil/front-door.password: no such file",
        "line 41: sinks[1].secret_file: /etc/vigil/webhook.secret: no such file",
    )


@pytest.mark.parametrize(
    "model, expected",
    [
        ("{tmp}/absent.onnx", "line 2: model.path: model '{tmp}/absent.onnx' not found"),
        ("{tmp}/vigil.yaml", "line 2: model.path: model '{tmp}/vigil.yaml': expected a model directory or an .onnx file"),
        ("{tmp}", "line 2: model.path: model directory '{tmp}': {tmp}/model.json is missing"),
        ("{tmp}/bad.onnx", "line 2: model.path: model '{tmp}/bad.onnx': onnxruntime could not load it"),
        ("nope:some-model", "line 2: model.path: no weights provider named 'nope'"),
    ],
)
def test_check_resolves_the_model_reference(tmp_path, model, expected):
    (tmp_path / "bad.onnx").write_bytes(b"not an onnx file")
    path = tmp_path / "vigil.yaml"
    path.write_text(config_text(model.format(tmp=tmp_path)))
    refused(vigil("check", str(path)), expected.format(tmp=tmp_path))


def test_check_reads_every_file_and_says_what_it_did_not_verify(tmp_path, nudenet_path):
    for name, text in {"token": TOKEN, "password": SECRET, "secret": SECRET}.items():
        (tmp_path / name).write_text(text + "\n")
    camera = f"  - name: cam\n    url: rtsp://viewer@10.0.0.5/s1\n    password_file: {tmp_path / 'password'}\n"
    webhook = f"webhook:\n  url: https://hooks.example.com/x\n  spool_dir: s\n  secret_file: {tmp_path / 'secret'}\n"
    path = tmp_path / "vigil.yaml"
    path.write_text(
        config_text(nudenet_path, f"api:\n  host: 0.0.0.0\n  token_file: {tmp_path / 'token'}\n", webhook).replace(
            "jsonl:", camera + "jsonl:"
        )
    )
    result = vigil("check", str(path))
    assert result.returncode == 0, result.stderr
    assert f"{path}: OK (2 source(s); sinks: jsonl, webhook)" in result.stdout
    assert "model: 320n (detect; package(s): onnx)" in result.stdout
    assert "not checked: " in result.stdout
    for unverified in ("camera reachability", "video files", "the webhook receiver"):
        assert unverified in result.stdout
    assert SECRET not in result.stdout and TOKEN not in result.stdout
    (tmp_path / "secret").write_text("\n")
    (tmp_path / "password").unlink()
    refused(vigil("check", str(path)), "line 8: sources[1].password_file", "line 14: webhook.secret_file")


def test_check_of_an_http_model_says_it_was_not_fetched(tmp_path):
    path = tmp_path / "vigil.yaml"
    path.write_text(config_text("https://models.invalid/yolo"))
    result = vigil("check", str(path))
    assert result.returncode == 0, result.stderr
    assert "model: https://models.invalid/yolo (not fetched)" in result.stdout
    assert "the model URL (check works offline)" in result.stdout


BAD_URLS = ["rtsp://", "rtsp://[::1/x", "rtsp://cam:99999/x", "rtsp://viewer:pw@/x"]


@pytest.mark.parametrize("url", BAD_URLS)
def test_a_malformed_camera_url_is_refused_by_check(tmp_path, url):
    path = tmp_path / "vigil.yaml"
    path.write_text(config_text("m.onnx").replace("url: a.mp4", f"url: '{url}'"))
    refused(vigil("check", str(path)), "line 5: sources[0].url: Value error, ")


@pytest.mark.parametrize("url", BAD_URLS + ["cam=rtsp://[::1/x"])
def test_a_malformed_camera_url_is_refused_on_the_command_line(tmp_path, nudenet_path, url):
    result = vigil("run", "--model", str(nudenet_path), "--source", url, "--out", str(tmp_path / "r.jsonl"))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "vigil: error: invalid arguments: sources.0.url: Value error, " in result.stderr
    assert not (tmp_path / "r.jsonl").exists()


class _NoStreams(NothingRunning):
    """The API's view of a daemon that has nothing yet; adding a stream must not be reached."""

    def __init__(self) -> None:
        self.added: list[SourceConfig] = []

    async def add_stream(self, config: SourceConfig) -> Stream:
        self.added.append(config)
        return await super().add_stream(config)


@pytest.mark.parametrize("url", BAD_URLS)
async def test_a_malformed_camera_url_is_refused_by_the_api(url):
    control = _NoStreams()
    async with TestClient(TestServer(make_app(control))) as client:
        response = await client.post("/api/v1/streams", json={"name": "cam", "url": url}, headers={"X-Vigil-Console": "1"})
        assert response.status == 422
        assert "url: Value error, " in (await response.json())["error"]
    assert control.added == []


def test_an_inline_token_from_the_environment_follows_the_token_file_rules(tmp_path, nudenet_path):
    path = tmp_path / "vigil.yaml"
    path.write_text(config_text(nudenet_path, "api:\n  host: 0.0.0.0\n  token: ${API_TOKEN}\n"))
    env = {**os.environ, "API_TOKEN": SECRET[:6]}
    result = subprocess.run([sys.executable, "-m", "vigil", "check", str(path)], capture_output=True, text=True, env=env)
    refused(result, "line 10: api.token: Value error, the token has 6 character(s); use at least 16")
    assert SECRET[:6] not in result.stderr


def test_check_lists_the_search_models_and_refuses_one_of_the_wrong_kind(tmp_path, nudenet_path):
    from tests.support.tiny_hf import build_clip

    clip = build_clip(tmp_path / "clip")
    base = f"""model: {{path: {nudenet_path}}}
sources: [{{name: cam, url: {tmp_path / "cam.mp4"}}}]
sinks: [{{kind: jsonl, path: {tmp_path / "r.jsonl"}}}]
"""
    good = tmp_path / "good.yaml"
    good.write_text(base + f"search: {{model: {clip}}}\n")
    result = vigil("check", str(good))
    assert result.returncode == 0 and "search: model: clip (embed)" in result.stdout, result.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(base + f"search: {{model: {nudenet_path}}}\n")
    refused(vigil("check", str(bad)), "line 4: search.model:", "is a detect model; give an embedding model")
