"""Masking everywhere (issue 26, item 7): every credential shape x every place vigil shows a URL
or an error holding one. One real daemon runs a camera per shape (each refused by a closed port,
so each has an error to show) and a webhook sink with a key in its URL; the table asserts that no
secret of any shape appears in any display path: the configuration as JSON and as YAML, the
streams' `url` and `last_error` (the list and each stream), /readyz, and the log as the real
handler writes it (JSON and text)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from typing import Any

import aiohttp
import pytest

from tests.integration.daemon.test_daemon_api import started, until
from tests.support.ports import free_port
from vigil.config.api import ApiConfig
from vigil.config.daemon import DaemonConfig
from vigil.daemon.logs import configure_logging
from vigil.daemon.service import Daemon

# name -> (URL with {port}, the secrets in it). Each secret is distinct, so a leak names its shape.
SHAPES: dict[str, tuple[str, list[str]]] = {
    "password without user": ("rtsp://:PwNoUser1@127.0.0.1:{port}/live", ["PwNoUser1"]),
    "password with a space": ("rtsp://viewer:PwSpaceA PwSpaceB@127.0.0.1:{port}/live", ["PwSpaceA", "PwSpaceB"]),
    "password with %20": ("rtsp://viewer:PwPctA%20PwPctB@127.0.0.1:{port}/live", ["PwPctA", "PwPctB"]),
    "user-only credential": ("rtsp://ApiKeyUser1@127.0.0.1:{port}/live", ["ApiKeyUser1"]),
    "password with '@'": ("rtsp://viewer:Pw@At@127.0.0.1:{port}/live", ["Pw@At", "@At@"]),
    "query tokens": (
        "rtsp://127.0.0.1:{port}/live?token=QtTok1&api_key=QtKey2&access_token=QtAcc3&auth=QtAuth4&key=QtK5"
        "&password=QtPw6&sig=QtSig7&signature=QtSign8&Access_Token=QtUpper9&channel=1",
        ["QtTok1", "QtKey2", "QtAcc3", "QtAuth4", "QtK5", "QtPw6", "QtSig7", "QtSign8", "QtUpper9"],
    ),
}
WEBHOOK = ("https://WhKeyUser1@127.0.0.1:{port}/hook?token=WhTok2&signature=WhSig3", ["WhKeyUser1", "WhTok2", "WhSig3"])
PATHS = ["config JSON", "config YAML", "streams url", "streams last_error", "one stream", "readyz", "log JSON", "log text"]


def cameras() -> dict[str, str]:
    return {f"cam{i}": url.format(port=free_port()) for i, (url, _) in enumerate(SHAPES.values())}


async def _gather(tmp_path, nudenet_path) -> dict[str, str]:
    """Every display path's text, from one daemon whose cameras all failed at least once."""
    urls = cameras()
    config = DaemonConfig.model_validate(
        {
            "model": {"path": str(nudenet_path), "image_size": 320},
            "sources": [
                {"name": name, "url": url, "open_timeout_s": 2, "reconnect": {"initial_s": 0.2, "max_s": 1.0}}
                for name, url in urls.items()
            ],
            "sinks": [
                {
                    "kind": "webhook",
                    "name": "hook",
                    "url": WEBHOOK[0].format(port=free_port()),
                    "spool_dir": str(tmp_path / "spool"),
                }
            ],
        }
    )
    logs = {fmt: io.StringIO() for fmt in ("json", "text")}
    root = logging.getLogger()
    level = root.level
    handler = configure_logging("INFO", "json", logs["json"])
    text_handler = logging.StreamHandler(logs["text"])  # the text format, through the same filter
    text_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for log_filter in handler.filters:
        text_handler.addFilter(log_filter)
    root.addHandler(text_handler)
    daemon = Daemon(config, ApiConfig(port=0))
    try:
        task = await started(daemon)
        base = f"http://127.0.0.1:{daemon.api_port}"
        async with aiohttp.ClientSession() as http:

            async def streams() -> list[dict[str, Any]]:
                return (await (await http.get(f"{base}/api/v1/streams")).json())["streams"]

            async def all_failed() -> bool:
                return all(s["last_error"] for s in await streams())

            await until(all_failed, timeout=30)
            for url in urls.values():  # what any code may log: the URL and an error quoting it
                logging.getLogger("vigil.test").warning("cannot open %s ([Errno 111] refused: '%s')", url, url)
            listed = await streams()
            texts = {
                "config JSON": await (await http.get(f"{base}/api/v1/config")).text(),
                "config YAML": await (await http.get(f"{base}/api/v1/config?format=yaml")).text(),
                "streams url": json.dumps([s["url"] for s in listed]),
                "streams last_error": json.dumps([s["last_error"] for s in listed]),
                "one stream": json.dumps([await (await http.get(f"{base}/api/v1/streams/{n}")).json() for n in urls]),
                "readyz": await (await http.get(f"{base}/readyz")).text(),
            }
        daemon.stop()
        await asyncio.wait_for(task, 30)
    finally:
        root.removeHandler(handler)
        root.removeHandler(text_handler)
        root.setLevel(level)
    texts["log JSON"], texts["log text"] = logs["json"].getvalue(), logs["text"].getvalue()
    return texts


@pytest.fixture(scope="module")
def shown(tmp_path_factory, nudenet_path) -> dict[str, str]:
    return asyncio.run(_gather(tmp_path_factory.mktemp("masking"), nudenet_path))


def test_every_path_shows_what_it_should(shown):
    """The table below means something: each path does show the cameras (masked)."""
    for path in PATHS:
        assert "127.0.0.1" in shown[path], path
    assert "viewer:***@127.0.0.1" in shown["streams url"] and "channel=1" in shown["streams url"]
    assert "https://***@127.0.0.1" in shown["config JSON"]
    assert "cam0" in shown["readyz"] and "cannot open" in shown["streams last_error"]
    assert "cannot open" in shown["log JSON"] and "cannot open" in shown["log text"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("shape", [*SHAPES, "webhook URL"])
def test_no_secret_of_any_shape_is_shown_anywhere(shown, shape, path):
    secrets = WEBHOOK[1] if shape == "webhook URL" else SHAPES[shape][1]
    leaked = [secret for secret in secrets if secret in shown[path]]
    assert not leaked, f"{shape} leaks {leaked} through {path}"
