"""The console off loopback in Chromium: a daemon on 0.0.0.0 with its token in a token_file. Without
the token the page is the login form and the API and the live stream answer 401; the token typed
into the form once gives an HttpOnly session cookie (never the token, never readable from JS), the
grid shows, the token is in no URL Chromium requested nor in the daemon's log, a write
authenticated by the cookie alone is refused without the console's CSRF header or its own Origin,
and signing out ends the session on the server (the old cookie is worthless)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.browser.conftest import Browser
from tests.browser.daemon import FRAMES, Vigil, camera, free_port, start_vigil, stop_vigil
from tests.integration.stages.test_tracking import face_clip

TOKEN = "console-test-token-5f2a9c61d0e84b7a"
FETCH = """const [url, options, done] = arguments;
    fetch(url, {credentials: 'same-origin', ...options})
      .then(r => r.text().then(body => done({status: r.status, body})))
      .catch(e => done({status: -1, body: String(e)}));"""


@pytest.fixture(scope="module")
def vigil(tmp_path_factory: pytest.TempPathFactory, nudenet_path: Path) -> Iterator[Vigil]:
    folder = tmp_path_factory.mktemp("console-auth")
    clip = face_clip(folder / "face.mp4", shown=[range(FRAMES)])
    (folder / "token").write_text(TOKEN + "\n")
    (folder / "token").chmod(0o600)
    port = free_port()
    config = (
        f"model:\n  path: {nudenet_path}\n  image_size: 320\n"
        f"sources:\n{camera('gate', clip)}"
        f"sinks:\n  - {{kind: jsonl, path: {folder / 'results.jsonl'}}}\n"
        f"api:\n  host: 0.0.0.0\n  port: {port}\n  token_file: {folder / 'token'}\n  state_file: {folder / 'api-state.json'}\n"
        f"logging:\n  level: DEBUG\n"  # the most the daemon ever logs: the token must be in none of it
    )
    running = start_vigil(folder, config, port, token=TOKEN)
    yield running
    died = running.proc.poll() is not None
    stop_vigil(running, keep_log_as="test_console_auth-vigil")
    if died:
        pytest.fail(f"the daemon died during the test: {running.state()}")


def fetch(browser: Browser, url: str, **options: Any) -> dict[str, Any]:
    """fetch() from the page's own JS (its cookie, its origin)."""
    return browser.driver.execute_async_script(FETCH, url, options)


TOKEN_FIELD = "form input[type=password], form input[name=token]"


def log_in(vigil: Vigil, browser: Browser) -> None:
    """The login form refuses a wrong token with the API's message, then takes the right one."""
    driver = browser.driver
    driver.get(vigil.base + "/")
    field = browser.until("the login form's token field", lambda d: d.find_elements(By.CSS_SELECTOR, TOKEN_FIELD))[0]
    assert not driver.find_elements(By.CSS_SELECTOR, "div.tile"), "the grid shows before the token was given"
    browser.shot("login")
    wrong = "wrong-token-0123456789abcdef"
    status, answer = vigil.request("/api/v1/session", method="POST", body={"token": wrong})
    assert status == 401 and answer["error"], answer
    field.send_keys(wrong + Keys.ENTER)
    browser.until(
        f"the API's error {answer['error']!r} on the login page",
        lambda d: answer["error"] in d.find_element(By.TAG_NAME, "body").text and d.find_elements(By.CSS_SELECTOR, TOKEN_FIELD),
    )
    browser.shot("wrong-token")
    field = driver.find_elements(By.CSS_SELECTOR, TOKEN_FIELD)[0]
    field.clear()
    field.send_keys(TOKEN + Keys.ENTER)
    browser.until("the grid after logging in", lambda _: browser.tile_state("gate") == "streaming")
    browser.until("the live image after logging in", lambda _: browser.image_width('div.tile[data-camera="gate"] img.live') > 0)
    browser.shot("grid")


def check_writes_need_the_console_header_and_origin(vigil: Vigil, browser: Browser, session: str) -> None:
    """CSRF: a write carried by the cookie alone (no console header, no Origin) is refused; the
    console's header or this server's own Origin lets it pass, another origin never; and it must be
    JSON."""
    path = "/api/v1/streams/gate/zones"
    assert fetch(browser, path)["status"] == 200  # a read needs no header
    body = '{"zones": [], "lines": []}'
    json_only = {"method": "PUT", "headers": {"Content-Type": "application/json"}, "body": body}
    own_origin = fetch(browser, path, **json_only)  # Chromium sends the page's Origin: this server's
    assert own_origin["status"] == 200, f"a PUT from the console's own page answered {own_origin}"
    as_text = fetch(browser, path, method="PUT", headers={"Content-Type": "text/plain", "X-Vigil-Console": "1"}, body=body)
    assert as_text["status"] == 415, f"a text/plain PUT answered {as_text}"
    console = {**json_only, "headers": {"Content-Type": "application/json", "X-Vigil-Console": "1"}}
    accepted = fetch(browser, path, **console)
    assert accepted["status"] == 200, f"the same PUT with X-Vigil-Console answered {accepted}"
    cookie_alone = {"Cookie": f"vigil_session={session}", "X-Vigil-Console": "0"}
    status, answer = vigil.request(path, "PUT", {"zones": [], "lines": []}, headers=cookie_alone)
    assert status == 403, f"a PUT with the cookie alone answered {status}: {answer}"
    cookie = {"Cookie": f"vigil_session={session}", "X-Vigil-Console": "1"}
    for origin, expected in ((vigil.base, 200), ("http://elsewhere.example", 403)):
        status, answer = vigil.request(path, "PUT", {"zones": [], "lines": []}, headers={**cookie, "Origin": origin})
        assert status == expected, f"a cookie PUT with Origin {origin} answered {status}: {answer}"


def test_off_loopback_the_console_asks_for_the_token_once_and_keeps_a_session_cookie(vigil: Vigil, browser: Browser) -> None:
    for path in ("/", "/api/v1/streams", "/api/v1/streams/gate/live.mjpeg", "/api/v1/streams/gate/frame.jpg"):
        status, body = vigil.request(path)
        assert status == 401, f"GET {path} without the token answered {status}"
        assert TOKEN not in str(body)
    log_in(vigil, browser)
    driver = browser.driver
    cookies = {c["name"]: c for c in driver.get_cookies()}
    assert "vigil_session" in cookies, f"no vigil_session cookie; cookies: {sorted(cookies)}"
    session = cookies["vigil_session"]
    assert session["httpOnly"] and session.get("sameSite") == "Strict", session
    assert TOKEN not in session["value"]
    assert "vigil_session" not in driver.execute_script("return document.cookie")  # HttpOnly: JS never sees it

    urls = browser.visited_urls()
    assert any("/live.mjpeg" in u for u in urls) and any("/api/v1/streams" in u for u in urls), urls
    leaked = [u for u in urls if TOKEN in u]
    assert not leaked, f"the token is in URLs Chromium requested: {leaked}"
    assert TOKEN not in driver.page_source

    check_writes_need_the_console_header_and_origin(vigil, browser, session["value"])
    log = vigil.log()
    assert log.strip(), f"the daemon's log at {vigil.log_path} is empty: nothing to check"
    assert TOKEN not in log, "the token is in the daemon's log"

    # Signing out with the console's button ends the session on the server: the login form is
    # back, and the old cookie's value, replayed, is refused.
    status, _ = vigil.request("/api/v1/streams", headers={"Cookie": f"vigil_session={session['value']}"})
    assert status == 200
    driver.get(vigil.base + "/")
    button = browser.until(
        "the sign-out button", lambda d: [b for b in d.find_elements(By.CSS_SELECTOR, "button.logout") if b.is_displayed()]
    )[0]
    button.click()
    browser.until("the login form after signing out", lambda d: d.find_elements(By.CSS_SELECTOR, TOKEN_FIELD))
    status, _ = vigil.request("/api/v1/streams", headers={"Cookie": f"vigil_session={session['value']}"})
    assert status == 401, "the session outlived signing out"
