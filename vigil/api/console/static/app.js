"use strict";
// vigil console: one page, its views chosen by the URL's fragment (#/, #/camera/NAME, #/events,
// #/models, #/zones/NAME). Every string from the API goes into the page with textContent or
// setAttribute, never as markup, so a camera name or an event field cannot inject anything.
// The views are in this file and in events.js and zones.js, which add to `window.Vigil`.
(() => {
  const SVG_NS = "http://www.w3.org/2000/svg";

  /** An element: props are text, class, data (dataset), on<event> handlers, or attributes. */
  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    setProps(node, props);
    node.append(...children.filter((child) => child !== null && child !== undefined && child !== false));
    return node;
  }

  function svg(tag, attributes = {}) {
    const node = document.createElementNS(SVG_NS, tag);
    setProps(node, attributes);
    return node;
  }

  function setProps(node, props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "text") node.textContent = String(value);
      else if (key === "data") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
  }

  const enc = encodeURIComponent;
  const streamPath = (name) => `/api/v1/streams/${enc(name)}`;
  const cameraHref = (name) => `#/camera/${enc(name)}`;

  /** A URL the API gave for one of its own files: only same-origin paths are used. */
  function ownUrl(url) {
    return typeof url === "string" && url.startsWith("/") && !url.startsWith("//") ? url : null;
  }

  /** fetch with the console's header (CSRF) and cookie; a 401 reloads the page (the sign-in). */
  async function api(path, options = {}) {
    const headers = {"X-Vigil-Console": "1"};
    let body;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers["Content-Type"] = "application/json";
    }
    const response = await fetch(path, {
      method: options.method || "GET", credentials: "same-origin", headers, body, signal: options.signal,
    });
    if (response.status === 401) {
      location.reload();
      throw new Error("signed out");
    }
    const type = response.headers.get("Content-Type") || "";
    const data = type.includes("json") ? await response.json() : await response.text();
    return {status: response.status, ok: response.ok, data};
  }

  function errorText(answer) {
    const data = answer.data;
    if (data && typeof data === "object" && typeof data.error === "string") return data.error;
    return `the API answered HTTP ${answer.status}`;
  }

  /** One shown view: its timers and fetches end, and its live images let go, when it is left. */
  class Page {
    constructor() {
      this.alive = true;
      this.timers = new Set();
      this.controller = new AbortController();
      this.signal = this.controller.signal;
    }

    later(ms, fn) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (this.alive) fn();
      }, ms);
      this.timers.add(timer);
    }

    /** fn now, then every ms after each run has finished (never two at once). */
    every(ms, fn) {
      const tick = async () => {
        try {
          await fn();
        } catch (error) {
          if (this.alive && error.name !== "AbortError") console.warn("vigil console:", error);
        }
        this.later(ms, tick);
      };
      if (this.alive) tick();
    }

    fetch(path, options = {}) {
      return api(path, {...options, signal: this.signal});
    }

    stop(root) {
      this.alive = false;
      for (const timer of this.timers) clearTimeout(timer);
      this.timers.clear();
      this.controller.abort();
      // An MJPEG answer lasts as long as its image asks for it: emptying src ends the stream.
      for (const img of root.querySelectorAll("img")) img.src = "";
    }
  }

  // A browser opens at most 6 HTTP/1.1 connections to a host and an MJPEG answer holds one for as
  // long as it is shown: past this many live tiles the grid would leave none for the API calls.
  // The tiles after them show a still picture refreshed every 2 s instead.
  const LIVE_TILES_MAX = 4;

  /** An img showing a camera's live MJPEG; it tries again a few seconds after the stream broke. */
  function liveImage(page, name, width) {
    const url = `${streamPath(name)}/live.mjpeg?width=${width}`;
    const img = el("img", {class: "live", alt: `live view of ${name}`, src: url});
    img.addEventListener("error", () => {
      if (page.alive && img.getAttribute("src")) page.later(3000, () => { img.src = url; });
    });
    return img;
  }

  /** An img showing the camera's latest frame, fetched again every 2 s while the page is shown. */
  function stillImage(page, name, width) {
    const img = el("img", {class: "live still", alt: `latest frame of ${name}`});
    const load = () => { img.src = `${streamPath(name)}/frame.jpg?width=${width}&t=${Date.now()}`; };
    page.every(2000, () => img.dataset.stopped ? null : new Promise((done) => {
      img.addEventListener("load", done, {once: true});
      img.addEventListener("error", done, {once: true});
      load();
    }));
    return img;
  }

  function formatNumber(value, digits, unit) {
    return typeof value === "number" ? `${value.toFixed(digits)} ${unit}` : `– ${unit}`;
  }

  function showState(node, stream) {
    node.textContent = stream.state || "unknown";
    node.className = `state ${stream.state || ""}`;
    node.title = stream.last_error || "";
  }

  function localTime(iso) {
    const when = new Date(iso);
    return Number.isNaN(when.getTime()) ? String(iso) : when.toLocaleString();
  }

  // ---- #/ : the camera grid -------------------------------------------------------------

  function makeTile(page, stream, live) {
    const parts = {
      img: live ? liveImage(page, stream.name, 480) : stillImage(page, stream.name, 480),
      state: el("span", {class: "state"}),
      fps: el("span", {class: "fps"}),
      latency: el("span", {class: "latency"}),
      dropped: el("span", {class: "dropped"}),
      error: el("div", {class: "last-error"}),
    };
    parts.node = el("div", {class: "tile", data: {camera: stream.name}},
      el("a", {class: "tile-link", href: cameraHref(stream.name), title: `open ${stream.name}`},
        parts.img,
        el("div", {class: "tile-head"}, el("span", {class: "name", text: stream.name}), parts.state)),
      el("div", {class: "figures"}, parts.fps, parts.latency, parts.dropped),
      parts.error);
    return parts;
  }

  function updateTile(tile, stream) {
    showState(tile.state, stream);
    if (stream.width && stream.height) tile.img.style.aspectRatio = `${stream.width} / ${stream.height}`; // CSSOM: CSP allows it
    tile.fps.textContent = formatNumber(stream.fps, 1, "fps");
    tile.latency.textContent = formatNumber(stream.latency_ms, 0, "ms latency");
    tile.dropped.textContent = `${stream.dropped ?? 0} dropped`;
    tile.error.textContent = stream.state !== "streaming" && stream.last_error ? stream.last_error : "";
  }

  function showGrid(page, root) {
    const grid = el("div", {class: "grid"});
    const empty = el("p", {class: "empty", text: "No cameras yet: add sources to the config or POST /api/v1/streams."});
    empty.hidden = true;
    root.append(el("h1", {text: "Cameras"}), empty, grid);
    const tiles = new Map();
    page.every(2000, async () => {
      const answer = await page.fetch("/api/v1/streams");
      if (!answer.ok) throw new Error(errorText(answer));
      const streams = answer.data.streams || [];
      const seen = new Set();
      for (const stream of streams) {
        seen.add(stream.name);
        let tile = tiles.get(stream.name);
        if (!tile) {
          tile = makeTile(page, stream, tiles.size < LIVE_TILES_MAX);
          tiles.set(stream.name, tile);
          grid.append(tile.node);
        }
        updateTile(tile, stream);
      }
      for (const [name, tile] of tiles) {
        if (seen.has(name)) continue;
        tile.img.dataset.stopped = "yes";
        tile.img.src = "";
        tile.node.remove();
        tiles.delete(name);
      }
      empty.hidden = streams.length > 0;
    });
  }

  // ---- #/camera/NAME ----------------------------------------------------------------------

  function facts(pairs) {
    const list = el("dl", {class: "facts"});
    for (const [label, value, cls] of pairs) list.append(el("dt", {text: label}), el("dd", {class: cls, text: value}));
    return list;
  }

  function showCamera(page, root, name) {
    const state = el("span", {class: "state"});
    const aside = el("aside", {}, el("p", {class: "empty", text: "Loading…"}));
    const events = el("div", {class: "events"});
    const message = el("p", {class: "message"});
    root.append(
      el("div", {class: "camera-head"}, el("h1", {class: "name", text: name}), state,
        el("a", {class: "edit-zones button", href: `#/zones/${enc(name)}`, text: "Edit zones"})),
      message,
      el("div", {class: "camera-view"}, el("div", {class: "live-wrap"}, liveImage(page, name, 1280)), aside),
      el("h2", {text: "Recent events"}), events);
    page.every(2000, async () => {
      const answer = await page.fetch(streamPath(name));
      if (answer.status === 404) {
        message.textContent = `No camera named '${name}': it was removed, or the link is wrong. Go back to Cameras.`;
        message.className = "message error";
        return;
      }
      if (!answer.ok) throw new Error(errorText(answer));
      const stream = answer.data;
      message.textContent = "";
      showState(state, stream);
      aside.replaceChildren(cameraFacts(stream), el("h2", {text: "Models"}),
        el("ul", {class: "plain models"}, ...(stream.models || []).map((model) => el("li", {text: model}))));
    });
    if (Vigil.cameraAnalytics) Vigil.cameraAnalytics(page, root, name); // counts.js: counts and heatmap
    const list = Vigil.eventList(events, "No events from this camera yet.");
    page.every(5000, async () => {
      const answer = await page.fetch(`/api/v1/events?source=${enc(name)}&limit=20`);
      if (answer.ok) list.update(answer.data.events || []);
    });
  }

  function cameraFacts(stream) {
    const size = stream.width && stream.height ? `${stream.width} × ${stream.height}` : "no frame yet";
    return facts([
      ["state", stream.state, "state-text"],
      ["fps", formatNumber(stream.fps, 1, "fps"), "fps"],
      ["latency", formatNumber(stream.latency_ms, 0, "ms"), "latency"],
      ["dropped", String(stream.dropped ?? 0), "dropped"],
      ["results", String(stream.results ?? 0), "results"],
      ["frame", size, "size"],
      ["url", stream.url || "–", "url"],
      ["origin", stream.origin || "–", "origin"],
      ["last error", stream.last_error || "none", "last-error-text"],
    ]);
  }

  // ---- header: health strip, navigation, sign-out --------------------------------------------

  async function pollHealth() {
    const health = document.getElementById("health");
    try {
      const answer = await api("/readyz");
      const data = answer.data || {};
      const ready = answer.ok && data.ready === true;
      health.className = ready ? "ok" : "bad";
      health.textContent = ready ? "ready" : (data.reasons || []).join("; ") || errorText(answer);
    } catch (error) {
      health.className = "bad";
      health.textContent = "the vigil daemon does not answer";
    }
    health.title = health.textContent;
    setTimeout(pollHealth, 5000);
  }

  async function setUpSignOut() {
    const button = document.querySelector("button.logout");
    try {
      const answer = await api("/api/v1/session");
      button.hidden = !(answer.ok && answer.data.auth === "cookie");
    } catch (error) {
      return;
    }
    button.addEventListener("click", async () => {
      await api("/api/v1/session", {method: "DELETE"});
      location.reload();
    });
  }

  // ---- the router -------------------------------------------------------------------------

  const Vigil = window.Vigil = {el, svg, api, errorText, ownUrl, localTime, streamPath, cameraHref, enc, views: {}};
  Vigil.views.cameras = showGrid;
  Vigil.views.camera = showCamera;
  let current = null;

  function route() {
    const root = document.getElementById("view");
    if (current) current.stop(root);
    current = new Page();
    root.replaceChildren();
    let parts;
    try {
      parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
    } catch (error) {
      parts = ["?"];
    }
    const [name, argument] = parts;
    const key = name || "cameras";
    const view = Object.hasOwn(Vigil.views, key) ? Vigil.views[key] : null;
    const needsArgument = name === "camera" || name === "zones";
    for (const link of document.querySelectorAll("header nav a")) {
      link.classList.toggle("current", link.dataset.page === (name === "camera" || name === "zones" ? "cameras" : name || "cameras"));
    }
    if (!view || (needsArgument && !argument)) {
      root.append(el("p", {class: "message error", text: `There is no page '${location.hash}'.`}),
        el("a", {href: "#/", text: "Back to the cameras"}));
      return;
    }
    document.title = `vigil: ${argument || name || "cameras"}`;
    view(current, root, argument);
  }

  window.addEventListener("hashchange", route);
  window.addEventListener("DOMContentLoaded", () => {
    route();
    pollHealth();
    setUpSignOut();
  });
  window.addEventListener("pagehide", () => { if (current) current.stop(document.getElementById("view")); });
  window.addEventListener("pageshow", (event) => { if (event.persisted) route(); });
})();
