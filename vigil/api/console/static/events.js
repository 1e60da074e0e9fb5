"use strict";
// The events view (#/events), the event list the camera page shares, and the models view.
(() => {
  const {el, ownUrl, localTime, errorText} = window.Vigil;
  // The built-in types until the API's own document lists them all (a plugin's types too).
  const BUILT_IN_TYPES = ["object_start", "object_end", "zone_enter", "zone_exit", "dwell", "line_cross"];

  /** The event types the API filters on, from its OpenAPI document (the `type` query parameter of
   * GET /api/v1/events); the built-in ones when it cannot be read. */
  function fillTypes(select, answer) {
    const get = answer.ok && answer.data.paths && answer.data.paths["/api/v1/events"] && answer.data.paths["/api/v1/events"].get;
    const param = get && (get.parameters || []).find((p) => p.name === "type");
    const types = param && param.schema && Array.isArray(param.schema.enum) ? param.schema.enum : null;
    if (!types) return;
    const chosen = select.value;
    select.replaceChildren(el("option", {value: "", text: "every type"}), ...types.map((t) => el("option", {value: String(t), text: String(t)})));
    select.value = types.includes(chosen) ? chosen : "";
  }

  function where(event) {
    if (event.zone) return `zone ${event.zone}`;
    if (event.line) return `line ${event.line}${event.direction ? ` (${event.direction})` : ""}`;
    return null;
  }

  function playButton(item, url) {
    const button = el("button", {type: "button", class: "play-clip", text: "▶ Play clip"});
    button.addEventListener("click", () => {
      let video = item.querySelector("video.clip");
      if (video) {
        video.pause();
        video.remove();
        button.textContent = "▶ Play clip";
        return;
      }
      video = el("video", {class: "clip", controls: true, autoplay: true, muted: true, playsinline: true, preload: "auto", src: url});
      item.append(video);
      button.textContent = "✕ Close clip";
    });
    return button;
  }

  function eventItem(event) {
    const snapshot = ownUrl(event.snapshot_url);
    const clip = ownUrl(event.clip_url);
    const picture = snapshot
      ? el("a", {href: snapshot, target: "_blank", rel: "noopener"},
        el("img", {class: "snapshot", loading: "lazy", src: snapshot, alt: `snapshot of ${event.type} on ${event.source}`}))
      : el("div", {class: "no-snapshot", text: "no snapshot"});
    const detail = [
      event.tracker_id !== undefined && event.tracker_id !== null ? `track #${event.tracker_id}` : null,
      typeof event.confidence === "number" ? `${Math.round(event.confidence * 100)}%` : null,
      typeof event.duration_s === "number" ? `${event.duration_s.toFixed(1)} s` : null,
      typeof event.dwell_s === "number" ? `dwell ${event.dwell_s} s` : null,
    ].filter(Boolean).join(" · ");
    const item = el("div", {class: "event", data: {eventId: event.id}},
      picture,
      el("div", {class: "info"},
        el("div", {class: "what"},
          el("span", {class: `type ${event.type}`, text: event.type}),
          el("a", {class: "camera", href: Vigil.cameraHref(event.source), text: event.source}),
          el("span", {class: "class", text: event.class_name ?? "unknown class"}),
          where(event) && el("span", {class: "where", text: where(event)})),
        el("div", {class: "detail"},
          el("time", {class: "time", datetime: event.capture_time, title: event.capture_time, text: localTime(event.capture_time)}),
          detail ? ` · ${detail}` : "")));
    if (clip) item.querySelector(".info").append(el("div", {class: "actions"}, playButton(item, clip)));
    return item;
  }

  /** A list of events kept in the API's order (newest first); items already shown stay as they
   * are (their picture is not fetched again, a playing clip keeps playing). */
  function eventList(container, emptyText) {
    const items = new Map();
    const empty = el("p", {class: "empty", text: emptyText});
    container.append(empty);
    return {
      update(events) {
        let next = empty.nextSibling;
        const seen = new Set();
        for (const event of events) {
          seen.add(event.id);
          let item = items.get(event.id);
          if (!item) {
            item = eventItem(event);
            items.set(event.id, item);
          }
          if (item === next) next = next.nextSibling;
          else container.insertBefore(item, next);
        }
        for (const [id, item] of items) {
          if (!seen.has(id)) {
            item.remove();
            items.delete(id);
          }
        }
        empty.hidden = events.length > 0;
      },
      clear() {
        for (const item of items.values()) item.remove();
        items.clear();
      },
    };
  }

  // ---- #/events -----------------------------------------------------------------------------

  function filterForm() {
    const typeOptions = [el("option", {value: "", text: "every type"}), ...BUILT_IN_TYPES.map((t) => el("option", {value: t, text: t}))];
    const f = {
      camera: el("select", {class: "filter-camera", name: "camera"}, el("option", {value: "", text: "every camera"})),
      type: el("select", {class: "filter-type", name: "type"}, ...typeOptions),
      cls: el("input", {class: "filter-class", name: "class", type: "text", placeholder: "e.g. person"}),
      since: el("input", {class: "filter-since", name: "since", type: "datetime-local"}),
      until: el("input", {class: "filter-until", name: "until", type: "datetime-local"}),
    };
    f.form = el("form", {class: "filters"},
      el("label", {}, "Camera", f.camera), el("label", {}, "Type", f.type), el("label", {}, "Class", f.cls),
      el("label", {}, "Since", f.since), el("label", {}, "Until", f.until),
      el("button", {type: "reset", class: "clear-filters", text: "Clear"}));
    return f;
  }

  function eventsQuery(f) {
    const params = new URLSearchParams({limit: f.cls.value.trim() ? "1000" : "100"});
    if (f.camera.value) params.set("source", f.camera.value);
    if (f.type.value) params.set("type", f.type.value);
    for (const key of ["since", "until"]) {
      // datetime-local is the browser's local time; the API wants ISO 8601 UTC.
      const when = f[key].value ? new Date(f[key].value) : null;
      if (when && !Number.isNaN(when.getTime())) params.set(key, when.toISOString());
    }
    return `/api/v1/events?${params}`;
  }

  function fillCameras(select, streams) {
    const known = new Set([...select.options].map((option) => option.value));
    for (const stream of streams) {
      if (!known.has(stream.name)) select.append(el("option", {value: stream.name, text: stream.name}));
    }
  }

  function showEvents(page, root) {
    const f = filterForm();
    const message = el("p", {class: "message"});
    const container = el("div", {class: "events"});
    root.append(el("h1", {text: "Events"}), f.form, message, container);
    const list = eventList(container, "No events match.");
    const refresh = async () => {
      const answer = await page.fetch(eventsQuery(f));
      if (!answer.ok) {
        message.textContent = errorText(answer);
        message.className = "message error";
        return;
      }
      message.textContent = "";
      const wanted = f.cls.value.trim().toLowerCase();
      const events = (answer.data.events || []).filter((e) => !wanted || String(e.class_name ?? "").toLowerCase().includes(wanted));
      list.update(events.slice(0, 100));
    };
    const changed = () => { list.clear(); refresh().catch(() => {}); };
    let typed = 0;
    f.form.addEventListener("change", changed);
    f.cls.addEventListener("input", () => { // once typing pauses, not per key
      const mine = ++typed;
      page.later(300, () => { if (mine === typed) changed(); });
    });
    f.form.addEventListener("reset", () => setTimeout(changed, 0));
    f.form.addEventListener("submit", (event) => { event.preventDefault(); changed(); });
    page.fetch("/api/v1/streams").then((answer) => { if (answer.ok) fillCameras(f.camera, answer.data.streams || []); }).catch(() => {});
    page.fetch("/api/v1/openapi.json").then((answer) => fillTypes(f.type, answer)).catch(() => {});
    page.every(5000, refresh);
  }

  // ---- #/models -----------------------------------------------------------------------------

  /** Mean seconds per batch by model and stage, from the Prometheus text of /metrics. */
  function batchTimes(text) {
    const sums = new Map();
    const pattern = /^vigil_model_batch_seconds_(sum|count)\{([^}]*)\}\s+(\S+)/;
    for (const line of String(text).split("\n")) {
      const match = pattern.exec(line);
      if (!match) continue;
      const labels = Object.fromEntries([...match[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
      const key = `${labels.model}\u0000${labels.stage}`;
      const entry = sums.get(key) || {sum: 0, count: 0};
      entry[match[1]] = Number(match[3]);
      sums.set(key, entry);
    }
    return (model, stage) => {
      const entry = sums.get(`${model}\u0000${stage}`);
      return entry && entry.count > 0 ? `${(entry.sum / entry.count * 1000).toFixed(1)}` : "–";
    };
  }

  function modelRow(model, mean) {
    const batch = model.batch || {};
    const extras = [batch.opt ? `best ${batch.opt}` : null, batch.static ? "static" : null].filter(Boolean);
    const sizes = `accepts ${batch.min ?? 1}–${batch.max ?? "any"}${extras.length ? ` (${extras.join(", ")})` : ""}`;
    const cameras = [...(model.sources || []), ...(model.cascades || []).map((c) => `${c} (cascade)`)].join(", ") || "none";
    const classes = model.classes || [];
    return el("tr", {class: "model", data: {model: model.name}},
      el("td", {}, el("div", {class: "name", text: model.name}), el("div", {class: "sub", text: model.model_id || ""})),
      el("td", {text: model.kind || "–"}),
      el("td", {}, el("div", {text: model.package_id || "–"}), el("div", {class: "sub", text: model.reference || ""})),
      el("td", {}, el("div", {text: `runs ${model.batch_size ?? "?"}`}), el("div", {class: "sub", text: sizes})),
      el("td", {title: classes.join(", "), text: `${classes.length}`}),
      el("td", {text: cameras}),
      ...["pre_process", "infer", "post_process"].map((stage) => el("td", {class: `num ${stage}`, text: mean(model.name, stage)})));
  }

  function showModels(page, root) {
    const message = el("p", {class: "message"});
    const head = ["Model", "Kind", "Package", "Batch", "Classes", "Cameras", "Pre ms", "Infer ms", "Post ms"];
    const body = el("tbody");
    root.append(el("h1", {text: "Models"}), message,
      el("div", {class: "table-wrap"}, el("table", {class: "models"},
        el("thead", {}, el("tr", {}, ...head.map((h) => el("th", {text: h})))), body)),
      el("p", {class: "hint", text: "Times are the mean per batch since the daemon started (vigil_model_batch_seconds)."}));
    page.every(5000, async () => {
      const [models, metrics] = await Promise.all([page.fetch("/api/v1/models"), page.fetch("/metrics")]);
      if (!models.ok) {
        message.textContent = errorText(models);
        message.className = "message error";
        return;
      }
      message.textContent = "";
      const mean = batchTimes(metrics.ok ? metrics.data : "");
      body.replaceChildren(...(models.data.models || []).map((model) => modelRow(model, mean)));
    });
  }

  Object.assign(window.Vigil, {eventList});
  Object.assign(window.Vigil.views, {events: showEvents, models: showModels});
})();
