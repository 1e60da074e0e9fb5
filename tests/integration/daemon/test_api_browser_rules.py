"""The API's rules for what a browser may send (issue 26, items 4 and 8), over HTTP against the
real app (`make_app`): the Host a request names, what a write must carry without the token, and
the console's sessions (random, server-side, ended by signing out). The same attacks in
Chromium are in tests/browser/test_web_attacks.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.integration.daemon.test_api_properties import MemoryControl
from vigil.api.app import make_app
from vigil.config.api import ApiConfig
from vigil.store.log import EventLog

TOKEN = "browser-rules-token-0123456789"
STREAM = {"name": "porch", "url": "rtsp://127.0.0.1:9/porch"}


async def client_for(token: str | None = None, **api: Any) -> TestClient:
    config = ApiConfig(**api, token=token)
    client = TestClient(TestServer(make_app(MemoryControl(), token, EventLog(), api=config)))
    await client.start_server()
    return client


@pytest.fixture
async def open_api() -> AsyncIterator[TestClient]:
    client = await client_for()
    yield client
    await client.close()


@pytest.fixture
async def token_api() -> AsyncIterator[TestClient]:
    client = await client_for(TOKEN)
    yield client
    await client.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:8080", "localhost:1", "LOCALHOST", "[::1]:8080", "127.0.0.2"])
async def test_loopback_names_are_answered(open_api: TestClient, host: str) -> None:
    assert (await open_api.get("/api/v1/streams", headers={"Host": host})).status == 200


@pytest.mark.parametrize(
    "host",
    [
        "evil.test",
        "evil.test:8080",
        "127.0.0.1.evil.test",
        "localhost.evil.test",
        "10.0.0.5",
        "user@127.0.0.1",
        "127.0.0.1:notaport",
        "[::1",
        "",
    ],
)
async def test_other_hosts_are_refused_with_a_421_token_or_not(open_api: TestClient, token_api: TestClient, host: str) -> None:
    for client, headers in ((open_api, {}), (token_api, {"Authorization": f"Bearer {TOKEN}"})):
        answer = await client.get("/api/v1/config", headers={**headers, "Host": host})
        assert answer.status == 421, host
        assert "api.allowed_hosts" in (await answer.json())["error"]
    assert (await open_api.get("/healthz", headers={"Host": host})).status == 200  # liveness probes send any Host


async def test_allowed_hosts_and_the_listen_address_are_answered() -> None:
    client = await client_for(allowed_hosts=["vigil.lan"])
    try:
        assert (await client.get("/api/v1/streams", headers={"Host": "VIGIL.lan:8080"})).status == 200
        assert (await client.get("/api/v1/streams", headers={"Host": "other.lan"})).status == 421
    finally:
        await client.close()
    # Listening everywhere (a token is then required): any IP address, which no DNS answer made,
    # but still no unlisted name.
    client = await client_for(TOKEN, host="0.0.0.0")
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    try:
        assert (await client.get("/api/v1/streams", headers={**bearer, "Host": "192.168.1.20:8080"})).status == 200
        assert (await client.get("/api/v1/streams", headers={**bearer, "Host": "nvr.lan:8080"})).status == 421
    finally:
        await client.close()


async def test_a_write_without_the_token_needs_json_and_the_console_header_or_its_origin(open_api: TestClient) -> None:
    post = open_api.post
    plain = await post(
        "/api/v1/streams",
        data=b'{"name": "porch", "url": "rtsp://127.0.0.1:9/porch"}',
        headers={"Content-Type": "text/plain", "X-Vigil-Console": "1"},
    )
    assert plain.status == 415 and "application/json" in (await plain.json())["error"]
    bare = await post("/api/v1/streams", json=STREAM)
    assert bare.status == 403 and "X-Vigil-Console" in (await bare.json())["error"]
    elsewhere = await post("/api/v1/streams", json=STREAM, headers={"X-Vigil-Console": "1", "Origin": "http://evil.test"})
    assert elsewhere.status == 403
    null_origin = await post("/api/v1/streams", json=STREAM, headers={"Origin": "null"})
    assert null_origin.status == 403
    assert (await open_api.delete("/api/v1/streams/door")).status == 403
    host = f"127.0.0.1:{open_api.port}"
    same_origin = await post("/api/v1/streams", json=STREAM, headers={"Origin": f"http://{host}"})
    assert same_origin.status == 201
    assert (await post("/api/v1/streams", json=STREAM, headers={"X-Vigil-Console": "1"})).status == 201
    assert (await open_api.delete("/api/v1/streams/door", headers={"X-Vigil-Console": "1"})).status == 200


async def test_a_bearer_write_needs_neither_header_nor_origin(token_api: TestClient) -> None:
    answer = await token_api.post("/api/v1/streams", json=STREAM, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status == 201


async def test_each_sign_in_is_its_own_session_and_signing_out_ends_it_on_the_server(token_api: TestClient) -> None:
    cookies = []
    for _ in range(2):
        answer = await token_api.post("/api/v1/session", json={"token": TOKEN})
        assert answer.status == 204
        morsel = answer.cookies["vigil_session"]
        assert morsel["httponly"] and morsel["samesite"] == "Strict" and int(morsel["max-age"]) == 7 * 86400
        assert TOKEN not in morsel.value
        cookies.append(morsel.value)
    assert cookies[0] != cookies[1]
    token_api.session.cookie_jar.clear()

    def with_cookie(value: str, **headers: str) -> dict[str, str]:
        return {"Cookie": f"vigil_session={value}", **headers}

    for value in cookies:
        assert (await token_api.get("/api/v1/streams", headers=with_cookie(value))).status == 200
    out = await token_api.delete("/api/v1/session", headers=with_cookie(cookies[0], **{"X-Vigil-Console": "1"}))
    assert out.status == 204
    # The old cookie, kept by a browser or copied elsewhere, is worthless; the other session lives on.
    assert (await token_api.get("/api/v1/streams", headers=with_cookie(cookies[0]))).status == 401
    assert (await token_api.get("/api/v1/streams", headers=with_cookie(cookies[1]))).status == 200
    # A forged or replayed value never works.
    assert (await token_api.get("/api/v1/streams", headers=with_cookie(TOKEN))).status == 401
