"""The management API reads the catalog too: a stream added through it may not name a file the
server would read, whatever source kind declares that key (one declared at run time included)."""

from __future__ import annotations

import asyncio
from typing import Literal

import aiohttp

from tests.integration.daemon.test_daemon_api import config, started
from vigil.catalog import CATALOG, SecretFile, SourceKind
from vigil.config import SourceConfig
from vigil.config.api import ApiConfig
from vigil.daemon.service import Daemon


class TokenCamConfig(SourceConfig):
    kind: Literal["tokencam"] = "tokencam"
    token_file: str | None = None


def never_made(config: TokenCamConfig, context: object) -> object:
    raise AssertionError("the API must refuse the stream before making it")


async def test_the_api_refuses_a_file_key_of_a_source_kind_declared_at_run_time(tmp_path, nudenet_path, clips):
    before = CATALOG.snapshot()
    CATALOG.sources.register(
        SourceKind(
            "tokencam",
            TokenCamConfig,
            never_made,
            url_prefixes=("tokencam://",),
            secret_files=(SecretFile("token_file", "the camera's token", "token"),),
        )
    )
    secret = tmp_path / "server-secret"
    secret.write_text("server-side-secret-content\n")
    daemon = Daemon(config(tmp_path, nudenet_path, clips["coffee"]), ApiConfig(port=0))
    task = await started(daemon)
    try:
        async with aiohttp.ClientSession(headers={"X-Vigil-Console": "1"}) as http:
            base = f"http://127.0.0.1:{daemon.api_port}"
            body = {"name": "probe", "url": "tokencam://127.0.0.1/x", "token_file": str(secret)}
            response = await http.post(f"{base}/api/v1/streams", json=body)
            answer = await response.json()
            assert response.status == 422 and "token_file" in answer["error"], answer
            assert "server-side-secret-content" not in str(answer)
            streams = (await (await http.get(f"{base}/api/v1/streams")).json())["streams"]
            assert [s["name"] for s in streams] == ["door"]
    finally:
        daemon.stop()
        await asyncio.wait_for(task, 30)
        CATALOG.restore(before)
