"""The HTTP weights provider against a real aiohttp registry on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from aiohttp import web

from tests.model_packages import multi_package_model
from vigil.engine import AutoModel
from vigil.errors import ModelLoadError, ModelNotFoundError


class Registry:
    """Serves a folder over HTTP; can fail, truncate or slow down chosen paths."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.hits: Counter[str] = Counter()
        self.fail_times: Counter[str] = Counter()
        self.truncate_times: Counter[str] = Counter()
        self.delay: dict[str, float] = {}
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        self.hits[path] += 1
        if self.fail_times[path] > 0:
            self.fail_times[path] -= 1
            return web.Response(status=500, text="boom")
        file = self.root / path
        if not file.is_file():
            return web.Response(status=404)
        data = file.read_bytes()
        if path in self.delay:
            await asyncio.sleep(self.delay[path])
        if self.truncate_times[path] > 0:
            self.truncate_times[path] -= 1
            response = web.StreamResponse()
            response.content_length = len(data)
            await response.prepare(request)
            await response.write(data[: len(data) // 2])
            assert request.transport is not None
            request.transport.close()
            return response
        return web.Response(body=data)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_get("/{path:.*}", self._handle)
        self.runner = web.AppRunner(app, access_log=None)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        self.loop.run_forever()

    def url(self, model: str = "tiny") -> str:
        return f"http://127.0.0.1:{self.port}/{model}"

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture
def registry(tmp_path, monkeypatch):
    served = tmp_path / "served"
    root = multi_package_model(served / "tiny", tmp_path)
    (root / "packages.json").write_text(json.dumps(sorted(p.name for p in root.iterdir() if p.is_dir())))
    monkeypatch.setenv("VIGIL_HOME", str(tmp_path / "home"))
    server = Registry(served)
    yield server
    server.stop()


def cached_files(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "home").rglob("*") if p.is_file() and p.suffix in (".onnx", ".engine", ".part"))


def test_good_download_loads_the_best_package_and_fetches_only_it(registry, tmp_path):
    model = AutoModel.from_pretrained(registry.url())
    assert model.package_id == "onnx-dyn"
    assert registry.hits["tiny/onnx-dyn/model.onnx"] == 1
    assert registry.hits["tiny/trt-orin/model.engine"] == 0 and registry.hits["tiny/onnx-b4/model.onnx"] == 0


def test_warm_load_uses_the_resolution_cache_without_asking_the_registry(registry, caplog):
    AutoModel.from_pretrained(registry.url())
    hits = sum(registry.hits.values())
    with caplog.at_level(logging.INFO):
        assert AutoModel.from_pretrained(registry.url()).package_id == "onnx-dyn"
    assert sum(registry.hits.values()) == hits
    assert "from the resolution cache" in caplog.text
    # a different request is a different entry: resolved again (metadata fetched, file already cached)
    assert AutoModel.from_pretrained(registry.url(), package_id="onnx-b1").package_id == "onnx-b1"
    assert registry.hits["tiny/model.json"] == 2 and registry.hits["tiny/onnx-dyn/model.onnx"] == 1


def test_hash_mismatch_is_refused_and_leaves_nothing_in_the_cache(registry, tmp_path):
    (registry.root / "tiny" / "onnx-b4" / "model.onnx").write_bytes(b"a different file")
    with pytest.raises(ModelLoadError, match="registry serves a different file than its package.json lists"):
        AutoModel.from_pretrained(registry.url(), package_id="onnx-b4")
    assert cached_files(tmp_path) == []


def test_server_errors_are_retried(registry):
    registry.fail_times["tiny/model.json"] = 1
    registry.fail_times["tiny/onnx-dyn/model.onnx"] = 2
    assert AutoModel.from_pretrained(registry.url()).package_id == "onnx-dyn"
    assert registry.hits["tiny/model.json"] == 2 and registry.hits["tiny/onnx-dyn/model.onnx"] == 3


def test_truncated_body_is_retried_and_never_cached(registry, tmp_path):
    registry.truncate_times["tiny/onnx-dyn/model.onnx"] = 1
    assert AutoModel.from_pretrained(registry.url()).package_id == "onnx-dyn"
    assert registry.hits["tiny/onnx-dyn/model.onnx"] == 2
    assert cached_files(tmp_path) == ["model.onnx"]


def test_registry_gone_with_a_warm_cache_starts_offline(registry, caplog):
    AutoModel.from_pretrained(registry.url())
    url = registry.url()
    registry.stop()
    assert AutoModel.from_pretrained(url).package_id == "onnx-dyn"  # fresh entry: no network needed
    # expired entry: the provider is asked, cannot be reached, and the kept copies are used
    assert AutoModel.from_pretrained(url, resolution_cache_ttl_s=0).package_id == "onnx-dyn"
    assert "model registry unreachable" in caplog.text


def test_registry_gone_with_a_cold_cache_is_a_clear_error(registry):
    url = registry.url()
    registry.stop()
    with pytest.raises(ModelNotFoundError, match="model registry unreachable and nothing cached"):
        AutoModel.from_pretrained(url)


def test_two_processes_loading_at_once_download_once(registry, tmp_path):
    registry.delay["tiny/onnx-dyn/model.onnx"] = 1.0
    code = "import sys; from vigil.engine import AutoModel; print(AutoModel.from_pretrained(sys.argv[1]).package_id)"
    procs = [subprocess.Popen([sys.executable, "-c", code, registry.url()], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert outputs == ["onnx-dyn", "onnx-dyn"] and all(p.returncode == 0 for p in procs)
    assert registry.hits["tiny/onnx-dyn/model.onnx"] == 1
    assert cached_files(tmp_path) == ["model.onnx"]


def test_package_file_escaping_the_package_is_refused(registry, tmp_path):
    meta_path = registry.root / "tiny" / "onnx-dyn" / "package.json"
    meta = json.loads(meta_path.read_text())
    meta["files"][0]["name"] = "../../etc/passwd"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="must be a relative path inside the package"):
        AutoModel.from_pretrained(registry.url())
    assert not (tmp_path / "home" / "etc").exists() and registry.hits["etc/passwd"] == 0


def test_expired_resolution_is_used_when_the_provider_fails(registry, tmp_path, caplog):
    AutoModel.from_pretrained(registry.url())
    url = registry.url()
    registry.stop()
    for doc in (tmp_path / "home" / "models").rglob("model.json"):
        doc.unlink()  # the provider itself has nothing to fall back on
    assert AutoModel.from_pretrained(url, resolution_cache_ttl_s=0).package_id == "onnx-dyn"
    assert "using the resolution cached" in caplog.text


def vigil_cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, "VIGIL_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "vigil", *args], capture_output=True, text=True, env=env, timeout=60)


def test_models_pull_list_verify_rm(registry, tmp_path):
    home = tmp_path / "home"
    pulled = vigil_cli("models", "pull", registry.url(), "--batch", "1,1", "--package", "onnx-b1", home=home)
    assert pulled.returncode == 0, pulled.stderr
    assert "package 'onnx-b1'" in pulled.stdout and registry.hits["tiny/onnx-b1/model.onnx"] == 1

    listed = vigil_cli("models", "list", home=home)
    assert listed.returncode == 0 and f"tiny  {registry.url()}  packages: onnx-b1" in listed.stdout

    assert vigil_cli("models", "verify", home=home).returncode == 0
    cached = next(home.rglob("onnx-b1/model.onnx"))
    cached.write_bytes(b"bit rot")
    verified = vigil_cli("models", "verify", home=home)
    assert verified.returncode == 1 and "sha256 mismatch in package 'onnx-b1': removed" in verified.stdout
    assert not cached.exists()

    removed = vigil_cli("models", "rm", registry.url(), home=home)
    assert removed.returncode == 0 and "files removed" in removed.stdout
    assert "(no models cached)" in vigil_cli("models", "list", home=home).stdout
