"""The console on loopback (no token) in Chromium, against one real daemon for the module: two file
cameras looping in real time with the astronaut's face moving across them, the real YOLOv8n, the
tracker, a zone on `door`, a snapshot sink and clips taking events. The grid streams both cameras,
an event reaches the events page with its picture, and a zone drawn in the editor is saved, applied
and makes events."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from tests.browser.conftest import Browser
from tests.browser.daemon import FRAMES, REPO, Vigil, camera, free_port, start_vigil, stop_vigil
from tests.integration.stages.test_tracking import face_clip

DOCS_SCREENSHOT = REPO / "docs" / "images" / "console.png"
CAMERAS = ("door", "yard")
# The zone drawn in the editor, in frame pixels: over the right of the face's path (its box's
# bottom centre crosses x 300..486 at y 340 every loop).
DRAWN = [(300, 60), (620, 60), (620, 440), (300, 440)]
# `yard` starts with a line (the editor must keep it when it saves the zone drawn beside it).
YARD = "    lines:\n      - {name: path, start: [200, 0], end: [200, 480]}\n"


@pytest.fixture(scope="module")
def vigil(tmp_path_factory: pytest.TempPathFactory, nudenet_path: Path) -> Iterator[Vigil]:
    folder = tmp_path_factory.mktemp("console")
    clip = face_clip(folder / "face.mp4", shown=[range(FRAMES)])
    door = (
        f"    zones:\n      - {{name: step, polygon: [[300, 0], [640, 0], [640, 480], [300, 480]]}}\n"
        f"    clips: {{directory: {folder / 'clips'}, pre_roll_s: 1, post_roll_s: 1}}\n"
    )
    port = free_port()
    config = (
        f"model:\n  path: {nudenet_path}\n  image_size: 320\n"
        f"sources:\n{camera('door', clip, door)}{camera('yard', clip, YARD)}"
        f"sinks:\n  - {{kind: snapshot, name: pictures, directory: {folder / 'snaps'}, records: [events]}}\n"
        f"api:\n  port: {port}\n  state_file: {folder / 'api-state.json'}\n  events_kept: 500\n"
    )
    running = start_vigil(folder, config, port)
    yield running
    died = running.proc.poll() is not None
    stop_vigil(running, keep_log_as="test_console-vigil")
    if died:
        pytest.fail(f"the daemon died during the tests: {running.state()}")


def picture(png: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image is not None and image.size, "the element screenshot is not a PNG"
    return image.astype(np.float32)


def test_chromium_loads_the_daemons_healthz(vigil: Vigil, browser: Browser) -> None:
    browser.driver.get(vigil.base + "/healthz")
    body = browser.driver.find_element(By.TAG_NAME, "body").text
    browser.shot("healthz")
    assert '"status": "ok"' in body or '"status":"ok"' in body, body


def test_the_grid_shows_both_cameras_streaming_and_their_live_images_change(vigil: Vigil, browser: Browser) -> None:
    browser.driver.get(vigil.base + "/")
    for name in CAMERAS:
        browser.until(f"the tile of camera {name!r} saying streaming", lambda _: browser.tile_state(name) == "streaming")
        live = f'div.tile[data-camera="{name}"] img.live'
        browser.until(f"a live image in the tile of {name!r}", lambda _: browser.image_width(live) > 0)
        src = browser.script("return document.querySelector(arguments[0]).getAttribute('src')", live)
        assert f"/api/v1/streams/{name}/live.mjpeg" in src, src
    health = browser.until(
        "the health strip saying ready",
        lambda d: [e for e in d.find_elements(By.CSS_SELECTOR, "#health") if "ok" in (e.get_attribute("class") or "").split()],
    )
    assert "ready" in health[0].text.lower(), health[0].text
    browser.shot("grid")
    for name in CAMERAS:
        element = browser.driver.find_element(By.CSS_SELECTOR, f'div.tile[data-camera="{name}"] img.live')
        first = picture(element.screenshot_as_png)
        time.sleep(1.5)  # the face moves 4 px a frame: 1.5 s later the picture differs
        second = picture(element.screenshot_as_png)
        assert first.shape == second.shape
        change = float(np.abs(first - second).mean())
        assert change > 1.0, f"the live image of {name!r} did not change in 1.5 s (mean difference {change:.2f})"
    # Faces found and tracked on both cameras (object_start at least): boxes on the live images now.
    for name in CAMERAS:
        vigil.wait_for(lambda: vigil.api(f"/api/v1/events?source={name}&limit=1")["events"], f"an event on {name!r}")
    browser.shot("boxes")
    if os.environ.get("VIGIL_UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        browser.driver.save_screenshot(str(DOCS_SCREENSHOT))


def event_ids(vigil: Vigil) -> set[str]:
    return {e["id"] for e in vigil.api("/api/v1/events?limit=500")["events"]}


def test_an_event_shows_on_the_events_page_with_its_snapshot_after_it_happens(vigil: Vigil, browser: Browser) -> None:
    before = event_ids(vigil)

    def new_pictured_event() -> dict | None:
        events = vigil.api("/api/v1/events?source=door&type=zone_enter&limit=20")["events"]
        return next((e for e in events if e["id"] not in before and "snapshot_url" in e), None)

    event = vigil.wait_for(new_pictured_event, "a new zone_enter event on 'door' with a snapshot_url")
    browser.driver.get(vigil.base + "/#/events")
    row = f'div.event[data-event-id="{event["id"]}"]'
    browser.until(f"event {event['id']} on the events page", lambda d: d.find_elements(By.CSS_SELECTOR, row))
    browser.until(f"the snapshot of event {event['id']} loaded", lambda _: browser.image_width(f"{row} img.snapshot") > 0)
    browser.shot("events")
    text = browser.driver.find_element(By.CSS_SELECTOR, row).text
    assert "zone_enter" in text and "door" in text and "step" in text, text
    src = browser.script("return document.querySelector(arguments[0]).getAttribute('src')", f"{row} img.snapshot")
    assert src.endswith(event["snapshot_url"]), (src, event["snapshot_url"])


def test_the_events_type_filter_offers_the_types_the_api_documents(vigil: Vigil, browser: Browser) -> None:
    # The console reads them from the API's OpenAPI document, so a plugin's event types show too.
    document = vigil.api("/api/v1/openapi.json")
    param = next(p for p in document["paths"]["/api/v1/events"]["get"]["parameters"] if p["name"] == "type")
    browser.driver.get(vigil.base + "/#/events")
    options = "return [...document.querySelectorAll('select.filter-type option')].map((o) => o.value)"
    browser.until("the type filter's options", lambda _: browser.script(options))
    assert browser.script(options) == ["", *param["schema"]["enum"]]


def svg_box(browser: Browser) -> dict[str, float]:
    return browser.script("""const svg = document.querySelector('svg.editor');
        svg.scrollIntoView({block: 'start'});
        const r = svg.getBoundingClientRect();
        return {width: r.width, height: r.height};""")


def test_a_zone_drawn_in_the_editor_is_saved_applied_and_makes_events(vigil: Vigil, browser: Browser) -> None:
    frame_size = vigil.api("/api/v1/streams/yard/zones")
    width, height = frame_size["width"], frame_size["height"]
    assert (width, height) == (640, 480), frame_size
    browser.driver.get(vigil.base + "/#/zones/yard")
    browser.until("the camera's frame in the zone editor", lambda _: browser.image_width("img.frame") > 0)
    browser.until("svg.editor", lambda d: d.find_elements(By.CSS_SELECTOR, "svg.editor"))
    browser.driver.find_element(By.CSS_SELECTOR, "button.tool-zone").click()
    box = svg_box(browser)
    sx, sy = box["width"] / width, box["height"] / height
    assert abs(sx - sy) < 0.02, f"svg.editor is {box} over a {width}x{height} frame: not the frame's aspect"
    svg = browser.driver.find_element(By.CSS_SELECTOR, "svg.editor")
    for x, y in DRAWN:  # Selenium 4 offsets are from the element's centre
        offset = (round(x * sx - box["width"] / 2), round(y * sy - box["height"] / 2))
        ActionChains(browser.driver).move_to_element_with_offset(svg, *offset).click().perform()
    browser.driver.find_element(By.CSS_SELECTOR, "input.shape-name").send_keys("drawn")
    browser.driver.find_element(By.CSS_SELECTOR, "button.finish").click()
    browser.shot("drawn")
    browser.driver.find_element(By.CSS_SELECTOR, "button.save").click()
    browser.until("'saved' in .message", lambda d: "saved" in d.find_element(By.CSS_SELECTOR, ".message").text.lower())
    browser.shot("saved")

    zones = {z["name"]: z for z in vigil.api("/api/v1/streams/yard/zones")["zones"]}
    assert "drawn" in zones, zones
    polygon = zones["drawn"]["polygon"]
    assert len(polygon) == len(DRAWN) and not zones["drawn"]["normalized"], zones["drawn"]
    tolerance = 2 + 1 / min(sx, sy)  # a click lands on a whole displayed pixel
    for (x, y), (px, py) in zip(DRAWN, polygon):
        assert abs(px - x) <= tolerance and abs(py - y) <= tolerance, f"clicked {DRAWN}, saved {polygon}"

    lines = vigil.api("/api/v1/streams/yard/zones")["lines"]
    assert [line["name"] for line in lines] == ["path"], f"the line 'yard' had was not kept: {lines}"

    config = vigil.api("/api/v1/config")["config"]
    [yard] = [s for s in config["sources"] if s["name"] == "yard"]
    assert "drawn" in [z["name"] for z in yard.get("zones") or []], yard

    def entered() -> list[dict]:
        events = vigil.api("/api/v1/events?source=yard&type=zone_enter&limit=50")["events"]
        return [e for e in events if e.get("zone") == "drawn"]

    vigil.wait_for(entered, "a zone_enter event naming the drawn zone on 'yard'")


def test_an_events_clip_plays_in_the_events_page(vigil: Vigil, browser: Browser) -> None:
    def clipped() -> dict | None:
        events = vigil.api("/api/v1/events?source=door&type=object_end&limit=20")["events"]
        return next((e for e in events if "clip_url" in e), None)

    event = vigil.wait_for(clipped, "an object_end event on 'door' with a clip_url (clips: on 'door')")
    browser.driver.get(vigil.base + "/#/events")
    row = f'div.event[data-event-id="{event["id"]}"]'
    browser.until(f"event {event['id']} on the events page", lambda d: d.find_elements(By.CSS_SELECTOR, row))
    item = browser.driver.find_element(By.CSS_SELECTOR, row)
    browser.script("arguments[0].scrollIntoView({block: 'center'})", item)
    [button] = item.find_elements(By.CSS_SELECTOR, "button")
    button.click()
    video = f"{row} video.clip"
    browser.until(
        "the event's clip playing in video.clip",
        lambda _: browser.script("const v = document.querySelector(arguments[0]); return v && v.videoWidth > 0", video),
    )
    browser.shot("clip")
    src = browser.script("return document.querySelector(arguments[0]).currentSrc", video)
    assert src.endswith(event["clip_url"]), (src, event["clip_url"])
    assert browser.script("return document.querySelector(arguments[0]).videoWidth", video) == 640


def live_metric(vigil: Vigil, name: str, camera: str) -> float:
    """One camera's sample of a live-view metric in /metrics (0 when it has none yet)."""
    status, text = vigil.request("/metrics")
    assert status == 200, text
    if not any(f"# HELP {family} " in text for family in (name, name.removesuffix("_total"))):
        pytest.fail(f"{name} is not in /metrics: the daemon does not export the live view's figures")
    prefix = f'{name}{{source="{camera}"}} '
    return next((float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix)), 0.0)


def test_a_tile_opens_the_camera_page_with_a_larger_live_view_its_events_and_a_zones_link(vigil: Vigil, browser: Browser) -> None:
    browser.driver.get(vigil.base + "/")
    tile = 'div.tile[data-camera="door"]'
    browser.until("the tile of 'door'", lambda d: d.find_elements(By.CSS_SELECTOR, tile))
    browser.driver.find_element(By.CSS_SELECTOR, f"{tile} .name").click()
    browser.until("the camera page of 'door'", lambda d: d.current_url.endswith("#/camera/door"))
    browser.until("the camera page's live image", lambda _: browser.image_width("img.live") > 0)
    src = browser.script("return document.querySelector('img.live').getAttribute('src')")
    assert "/api/v1/streams/door/live.mjpeg" in src and "width=1280" in src, src
    browser.until(
        "the camera's recent events with a loaded snapshot", lambda _: browser.image_width("div.event img.snapshot") > 0
    )
    browser.shot("camera")
    sources = browser.script("return [...document.querySelectorAll('div.event')].map(e => e.textContent)")
    assert sources and len(sources) <= 20 and all("door" in text for text in sources), sources
    browser.driver.find_element(By.CSS_SELECTOR, 'a[href="#/zones/door"]').click()
    browser.until("the zone editor of 'door' after 'Edit zones'", lambda _: browser.image_width("img.frame") > 0)
    assert browser.driver.current_url.endswith("#/zones/door")


def test_the_live_stream_ends_when_the_grid_is_left_and_nothing_is_encoded_without_viewers(
    vigil: Vigil, browser: Browser
) -> None:
    browser.driver.get(vigil.base + "/")
    for name in CAMERAS:
        vigil.wait_for(lambda: live_metric(vigil, "vigil_live_viewers", name) >= 1, f"a live viewer of {name!r} in /metrics")
    browser.shot("watching")
    browser.driver.find_element(By.CSS_SELECTOR, 'a[href="#/events"]').click()
    browser.until("the events page", lambda d: d.current_url.endswith("#/events"))
    # The hash changes at the click; the page renders the events view after it (a loaded machine
    # may take a moment): the grid's live images must then be gone.
    live = "const e = document.querySelector('img.live'); return e ? e.getAttribute('src') : ''"
    browser.until("no img.live streaming once the grid was left", lambda _: not browser.script(live))
    for name in CAMERAS:
        vigil.wait_for(lambda: live_metric(vigil, "vigil_live_viewers", name) == 0, f"no live viewer of {name!r} left")
    encoded = [live_metric(vigil, "vigil_live_frames_encoded_total", name) for name in CAMERAS]
    assert all(count > 0 for count in encoded), encoded  # the grid had them encode
    time.sleep(2.0)  # an absence cannot be waited for: 2 s is 10 encodes at the live view's 5 fps
    after = [live_metric(vigil, "vigil_live_frames_encoded_total", name) for name in CAMERAS]
    assert after == encoded, f"frames encoded with nobody watching: {encoded} -> {after}"
    browser.shot("left")


def test_the_models_page_lists_the_model_its_package_cameras_and_timings(vigil: Vigil, browser: Browser) -> None:
    [model] = vigil.api("/api/v1/models")["models"]
    vigil.wait_for(lambda: "vigil_model_batch_seconds_count{" in vigil.request("/metrics")[1], "batch timings in /metrics")
    browser.driver.get(vigil.base + "/#/models")

    def row() -> str:
        texts = browser.script("return [...document.querySelectorAll('table tr')].map(r => r.innerText)")
        return next((t for t in texts if model["name"] in t and model["package_id"] in t), "")

    text = browser.until(f"a row of model {model['name']!r} with package {model['package_id']!r}", lambda _: row())
    browser.shot("models")
    assert "door" in text and "yard" in text, text
    assert re.search(r"(^|\s)\d+\.\d(\s|$)", text), f"no mean time per batch (ms) in the row: {text!r}"


def test_the_camera_page_charts_the_counts_of_its_line_and_shows_its_heatmap(vigil: Vigil, browser: Browser) -> None:
    def counted() -> int:
        status, body = vigil.request("/api/v1/counts?source=yard&line=path&interval=1h")
        return sum((row["in"] or 0) + (row["out"] or 0) for row in body["rows"]) if status == 200 else 0

    vigil.wait_for(counted, "a crossing of line 'path' on 'yard' in GET /api/v1/counts", timeout=90)
    browser.driver.get(vigil.base + "/#/camera/yard")
    chart = 'svg.chart[data-series="line:path"]'
    browser.until("the counts chart of line 'path'", lambda d: d.find_elements(By.CSS_SELECTOR, chart))
    bars = f"return [...document.querySelectorAll('{chart} rect.bar')].map(b => Number(b.dataset.count))"
    browser.until("a bar of line 'path' above zero", lambda _: sum(browser.script(bars)) > 0)
    counts = browser.script(bars)
    assert len(counts) in (2 * 24, 2 * 25), counts  # in and out per hour of the last 24 (the first and last hours whole)
    caption = browser.script(f"return document.querySelector('{chart}').parentNode.querySelector('figcaption').textContent")
    assert caption.startswith("line path:") and " in, " in caption, caption
    csv = browser.script("return document.querySelector('a.csv').getAttribute('href')")
    assert csv.startswith("/api/v1/counts?source=yard&interval=1h&since=") and csv.endswith("&format=csv"), csv
    browser.until("the heatmap image of 'yard'", lambda _: browser.image_width("img.heatmap") > 0)
    browser.script("document.querySelector('section.counts').scrollIntoView()")
    browser.shot("counts")
    heat = vigil.request("/api/v1/streams/yard/heatmap.png")
    assert heat[0] == 200
