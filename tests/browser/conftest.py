"""Chromium for the browser tests: Debian's chromium through Debian's chromedriver (Selenium 4, and
never Selenium Manager: no browser or driver is downloaded), a fresh profile per test, and the
screenshots every test keeps under artifacts/console/ (CI keeps that folder)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.daemon import ARTIFACTS

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
INSTALL = "bash packaging/install-services.sh"


class Browser:
    """A Selenium driver and the test's screenshots (`shot`)."""

    def __init__(self, driver: webdriver.Chrome, test: str) -> None:
        self.driver = driver
        self.test = test

    def shot(self, step: str) -> Path:
        """The whole page (beyond the window when it is longer) as artifacts/console/<test>-<step>.png."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.test}-{step}.png"
        size = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": max(size["width"], 1), "height": max(size["height"], 1), "scale": 1}
        data = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
        )
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    def until(self, what: str, condition: Callable[[webdriver.Chrome], Any], timeout: float = 30) -> Any:
        """An explicit wait whose failure says what was awaited (and keeps a screenshot of the page)."""
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.25).until(condition)
        except TimeoutException:
            self.shot("timeout")
            raise AssertionError(
                f"{what}: not seen in Chromium within {timeout} s (screenshot {self.test}-timeout.png)"
            ) from None

    def script(self, js: str, *args: Any) -> Any:
        return self.driver.execute_script(js, *args)

    def image_width(self, selector: str) -> int:
        """naturalWidth of the first image matching `selector` (0: absent or not loaded yet)."""
        return int(self.script("const e = document.querySelector(arguments[0]); return e ? e.naturalWidth : 0", selector) or 0)

    def tile_state(self, name: str) -> str:
        """The state a camera's tile says (as written: the style may show it in capitals)."""
        js = "const e = document.querySelector(arguments[0]); return e ? e.textContent : ''"
        return str(self.script(js, f'div.tile[data-camera="{name}"] .state')).strip().lower()

    def visited_urls(self) -> list[str]:
        """Every URL Chromium requested since it started (from its performance log: every
        navigation, fetch, image and stream, reloads included), plus the page's own entries."""
        urls = [self.driver.current_url]
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                urls.append(message["params"]["request"]["url"])
        urls += self.driver.execute_script("return performance.getEntries().map(e => e.name)")
        return urls


def make_driver(*arguments: str) -> webdriver.Chrome:
    """Chromium with the tests' options, and `arguments` (e.g. --host-resolver-rules=...)."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        pytest.fail(
            f"{' and '.join(missing)} missing: run `{INSTALL}` (as root: it installs Debian's chromium and chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--window-size=1280,900",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-extensions",
        *arguments,
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    # An MJPEG <img> never finishes loading: wait for the document, not for every picture.
    options.page_load_strategy = "eager"
    # A Service with the driver's path: Selenium Manager is never run, nothing is downloaded.
    try:
        return webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    except WebDriverException as exc:
        pytest.fail(
            f"Chromium did not start through {CHROMEDRIVER}: {exc.msg}; check that `{INSTALL}` installed "
            "matching chromium and chromium-driver packages"
        )


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[Browser]:
    driver = make_driver()
    driver.set_page_load_timeout(30)
    test = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    try:
        yield Browser(driver, test)
    finally:
        driver.quit()
