"""Other web pages against a daemon with no token on loopback (the default), in the real Chromium:

- a page of another origin (a second loopback HTTP server, on another port) POSTs a stream as
  `no-cors` text/plain, which a browser sends without asking: no stream may be added;
- a DNS-rebinding page: Chromium maps evil.test to 127.0.0.1 (`--host-resolver-rules`), so a page
  at http://evil.test:<API port>/ is, to the browser, same-origin with the API. It must read
  neither the configuration nor a picture, and add and delete no stream (the Host is refused).

The console's own origin (http://127.0.0.1:<port>) still does all of that from the same script,
so what refuses the attacks is the Host and write rules, not a broken request."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import Browser, make_driver
from tests.browser.daemon import FRAMES, Vigil, camera, free_port, start_vigil, stop_vigil
from tests.integration.stages.test_tracking import face_clip

FETCH = """const [url, options, done] = arguments;
    fetch(url, options)
      .then(r => r.text().then(body => done({status: r.status, type: r.type, body: body.slice(0, 2000)})))
      .catch(e => done({status: -1, type: 'error', body: String(e)}));"""
ADDED = {"name": "planted", "url": "rtsp://127.0.0.1:9/planted"}


@pytest.fixture(scope="module")
def vigil(tmp_path_factory: pytest.TempPathFactory, nudenet_path: Path) -> Iterator[Vigil]:
    folder = tmp_path_factory.mktemp("attacks")
    clip = face_clip(folder / "face.mp4", shown=[range(FRAMES)])
    port = free_port()
    config = (
        f"model:\n  path: {nudenet_path}\n  image_size: 320\n"
        f"sources:\n{camera('door', clip)}"
        f"sinks:\n  - {{kind: jsonl, path: {folder / 'results.jsonl'}}}\n"
        f"api:\n  port: {port}\n  state_file: {folder / 'api-state.json'}\n"  # no token: loopback
    )
    running = start_vigil(folder, config, port)
    running.wait_for(lambda: running.request("/api/v1/streams/door/frame.jpg")[0] == 200, "door's first live frame")
    yield running
    died = running.proc.poll() is not None
    stop_vigil(running, keep_log_as="test_web_attacks-vigil")
    if died:
        pytest.fail(f"the daemon died during the tests: {running.state()}")


class _Page(http.server.BaseHTTPRequestHandler):
    """The other site: one page, whatever the path."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = b"<!doctype html><title>another site</title><p>another site</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def other_site() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join(10)


@pytest.fixture
def rebinding_browser() -> Iterator[Browser]:
    driver = make_driver("--host-resolver-rules=MAP evil.test 127.0.0.1")
    driver.set_page_load_timeout(30)
    try:
        yield Browser(driver, "rebinding")
    finally:
        driver.quit()


def fetch(browser: Browser, url: str, **options: Any) -> dict[str, Any]:
    browser.driver.set_script_timeout(30)
    return browser.driver.execute_async_script(FETCH, url, options)


def stream_names(vigil: Vigil) -> set[str]:
    return {s["name"] for s in vigil.api("/api/v1/streams")["streams"]}


def test_a_no_cors_text_post_from_another_site_adds_no_stream(vigil: Vigil, browser: Browser, other_site: str) -> None:
    browser.driver.get(other_site)
    assert browser.script("return location.origin") != vigil.base
    body = '{"name": "planted", "url": "rtsp://127.0.0.1:9/planted"}'
    sent = fetch(
        browser, vigil.base + "/api/v1/streams", mode="no-cors", method="POST", body=body, headers={"Content-Type": "text/plain"}
    )
    assert sent["type"] == "opaque", sent  # the browser sent it (and hid the answer from the page)
    form = """const [url, body, done] = arguments;
        const frame = document.createElement('iframe'); frame.name = 'sink'; document.body.appendChild(frame);
        const f = document.createElement('form'); f.method = 'POST'; f.action = url; f.enctype = 'text/plain';
        f.target = 'sink'; const i = document.createElement('input'); i.name = body; i.value = '"}';
        f.appendChild(i); document.body.appendChild(f); frame.onload = () => done(true); f.submit();"""
    # A text/plain form sends name=value: the name ends in an open string the value closes, so the
    # body is JSON ({..., "x": "="}).
    browser.driver.execute_async_script(form, vigil.base + "/api/v1/streams", body[:-1] + ', "x": "')
    browser.shot("after-cross-site-posts")
    assert "planted" not in stream_names(vigil), "another site's page added a stream"
    assert "refused POST /api/v1/streams" in vigil.log()


def test_a_dns_rebinding_page_reads_and_changes_nothing(vigil: Vigil, rebinding_browser: Browser) -> None:
    browser = rebinding_browser
    port = vigil.base.rsplit(":", 1)[1]
    # The console's own origin first: the same script does all of it (so the requests are right).
    browser.driver.get(vigil.base + "/healthz")
    json_write = {"Content-Type": "application/json", "X-Vigil-Console": "1"}
    assert fetch(browser, "/api/v1/config")["status"] == 200
    assert fetch(browser, "/api/v1/streams/door/frame.jpg")["status"] == 200
    added = fetch(
        browser, "/api/v1/streams", method="POST", headers=json_write, body='{"name": "mine", "url": "rtsp://127.0.0.1:9/m"}'
    )
    assert added["status"] == 201, added
    assert fetch(browser, "/api/v1/streams/mine", method="DELETE", headers=json_write)["status"] == 200

    # The rebound name: same address and port, another Host.
    browser.driver.get(f"http://evil.test:{port}/healthz")
    assert browser.script("return location.origin") == f"http://evil.test:{port}"
    config = fetch(browser, "/api/v1/config")
    assert config["status"] == 421 and "sources" not in config["body"], config
    picture = fetch(browser, "/api/v1/streams/door/frame.jpg")
    assert picture["status"] == 421, picture
    assert fetch(browser, "/api/v1/streams")["status"] == 421
    planted = fetch(
        browser,
        "/api/v1/streams",
        method="POST",
        headers=json_write,
        body='{"name": "planted", "url": "rtsp://127.0.0.1:9/planted"}',
    )
    assert planted["status"] == 421, planted
    deleted = fetch(browser, "/api/v1/streams/door", method="DELETE", headers=json_write)
    assert deleted["status"] == 421, deleted
    browser.shot("rebound")
    assert stream_names(vigil) == {"door"}, "a rebinding page changed the streams"
    assert "is not this server's name" in vigil.log()
