"use strict";
// The camera page's counts and heatmap: GET /api/v1/counts?source=NAME as one plain SVG bar chart
// per line (in and out) and per zone (entries, and the most inside at once as a line), and
// GET /api/v1/streams/NAME/heatmap.png over the camera's latest frame. Nothing is loaded from
// elsewhere: the charts are drawn here, their numbers set with textContent and attributes only.
(() => {
  const {el, svg, enc, streamPath, errorText} = window.Vigil;
  const SPANS = {"15m": ["15m", 6 * 3600], "1h": ["1h", 24 * 3600], "1d": ["1d", 14 * 86400]}; // interval -> span shown
  const WIDTH = 640, HEIGHT = 140, PAD = 22;

  function hhmm(iso, interval) {
    const when = new Date(iso);
    if (interval === "1d") return when.toLocaleDateString([], {month: "short", day: "numeric"});
    return when.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
  }

  /** One series' chart: bars per interval (two side by side for a line), a polyline for occupancy. */
  function chart(kind, name, rows, interval) {
    const values = kind === "line" ? [["in", "bar-in"], ["out", "bar-out"]] : [["entries", "bar-in"]];
    const top = Math.max(1, ...rows.flatMap((row) => [...values.map(([key]) => row[key] || 0), row.max_occupancy || 0]));
    const step = (WIDTH - PAD) / Math.max(1, rows.length);
    const barWidth = Math.max(1, step / values.length - 1);
    const y = (value) => HEIGHT - PAD - (value / top) * (HEIGHT - 2 * PAD);
    const picture = svg("svg", {class: "chart", viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img",
      "aria-label": `${kind} ${name}`, data: {series: `${kind}:${name}`}});
    picture.append(svg("line", {class: "axis", x1: PAD, y1: HEIGHT - PAD, x2: WIDTH, y2: HEIGHT - PAD}));
    const scale = svg("text", {class: "tick", x: 2, y: PAD, text: String(top)});
    picture.append(scale);
    const points = [];
    rows.forEach((row, i) => {
      values.forEach(([key, cls], k) => {
        const count = row[key] || 0;
        const bar = svg("rect", {class: `bar ${cls}`, x: PAD + i * step + k * (barWidth + 1), y: y(count),
          width: barWidth, height: Math.max(0, HEIGHT - PAD - y(count)), data: {count: String(count), key}});
        bar.append(svg("title", {text: `${hhmm(row.start, interval)}: ${count} ${key}`}));
        picture.append(bar);
      });
      if (kind === "zone") points.push(`${PAD + (i + 0.5) * step},${y(row.max_occupancy || 0)}`);
      if (i % Math.ceil(rows.length / 6) === 0) {
        picture.append(svg("text", {class: "tick", x: PAD + i * step, y: HEIGHT - 6, text: hhmm(row.start, interval)}));
      }
    });
    if (points.length) picture.append(svg("polyline", {class: "occupancy", points: points.join(" ")}));
    const totals = values.map(([key]) => `${rows.reduce((sum, row) => sum + (row[key] || 0), 0)} ${key}`).join(", ");
    const dwell = rows.map((row) => row.mean_dwell_s).filter((v) => typeof v === "number");
    const extra = kind === "zone" ? `; most inside ${Math.max(0, ...rows.map((r) => r.max_occupancy || 0))}` +
      (dwell.length ? `; mean stay ${(dwell.reduce((a, b) => a + b, 0) / dwell.length).toFixed(0)} s` : "") : "";
    return el("figure", {class: "count-chart"}, picture,
      el("figcaption", {text: `${kind} ${name}: ${totals}${extra}`}));
  }

  /** Rows by series ("line:door"), in the API's order. */
  function bySeries(rows) {
    const found = new Map();
    for (const row of rows) {
      const key = row.line !== null && row.line !== undefined ? `line:${row.line}` : `zone:${row.zone}`;
      if (!found.has(key)) found.set(key, []);
      found.get(key).push(row);
    }
    return found;
  }

  function countsSection(page, name) {
    const charts = el("div", {class: "charts"}, el("p", {class: "empty", text: "Loading counts…"}));
    const choice = el("select", {class: "interval", "aria-label": "interval"},
      ...Object.keys(SPANS).map((key) => el("option", {value: key, text: `per ${key}`})));
    choice.value = "1h";
    const csv = el("a", {class: "csv", text: "CSV"});
    const load = async () => {
      const [interval, span] = SPANS[choice.value];
      const since = new Date(Date.now() - span * 1000).toISOString();
      const query = `source=${enc(name)}&interval=${interval}&since=${enc(since)}`;
      csv.setAttribute("href", `/api/v1/counts?${query}&format=csv`);
      const answer = await page.fetch(`/api/v1/counts?${query}`);
      if (answer.status === 404) {
        charts.replaceChildren(el("p", {class: "empty", text: "Nothing counted yet: draw a line or a zone (Edit zones)."}));
        return;
      }
      if (!answer.ok) {
        charts.replaceChildren(el("p", {class: "message error", text: errorText(answer)}));
        return;
      }
      const series = bySeries(answer.data.rows || []);
      charts.replaceChildren(...[...series].map(([key, rows]) => {
        const [kind, ...rest] = key.split(":");
        return chart(kind, rest.join(":"), rows, interval);
      }));
    };
    choice.addEventListener("change", () => load().catch((error) => console.warn("vigil console:", error)));
    page.every(10000, load);
    return el("section", {class: "counts"},
      el("div", {class: "counts-head"}, el("h2", {text: "Counts"}), choice, csv), charts);
  }

  function heatmapSection(page, name) {
    const img = el("img", {class: "heatmap", alt: `where objects were on ${name}`});
    page.every(10000, () => new Promise((done) => {
      img.addEventListener("load", done, {once: true});
      img.addEventListener("error", done, {once: true});
      img.src = `${streamPath(name)}/heatmap.png?t=${Date.now()}`;
    }));
    return el("section", {class: "heatmap-section"},
      el("h2", {text: "Heatmap (where objects were; older sightings fade)"}), img);
  }

  /** The camera page's counts and heatmap, below its live view (app.js calls it). */
  window.Vigil.cameraAnalytics = (page, root, name) => {
    root.append(countsSection(page, name), heatmapSection(page, name));
  };
})();
