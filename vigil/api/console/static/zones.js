"use strict";
// The zone and line editor (#/zones/NAME): the camera's frame under an SVG of the same displayed
// size whose viewBox is the frame's own pixels, so shapes are kept and drawn in frame pixels and
// only a click needs converting (getBoundingClientRect). Saving PUTs every shape at once.
(() => {
  const {el, svg, api, errorText, streamPath} = window.Vigil;
  const COLOURS = ["#5aa9ff", "#3fb96b", "#e8a73a", "#c678dd", "#e5534b", "#56c2c6", "#f78166"];
  const CLOSE_PX = 12; // a click this near the first corner (on screen) closes a zone

  function pixels(point, normalized, width, height) {
    return normalized ? [point[0] * width, point[1] * height] : [point[0], point[1]];
  }

  /** The API's zones and lines as editor shapes, in frame pixels; `original` keeps fields the
   * editor does not show (dwell_s, ...) so saving does not lose them. */
  function fromApi(data) {
    const {width, height} = data;
    const zones = (data.zones || []).map((zone) => ({
      kind: "zone", name: zone.name, classes: zone.classes ?? null, original: zone,
      points: zone.polygon.map((p) => pixels(p, zone.normalized, width, height)),
    }));
    const lines = (data.lines || []).map((line) => ({
      kind: "line", name: line.name, classes: line.classes ?? null, original: line,
      points: [pixels(line.start, line.normalized, width, height), pixels(line.end, line.normalized, width, height)],
    }));
    return [...zones, ...lines];
  }

  function toApi(shapes) {
    const round = (p) => [Math.round(p[0]), Math.round(p[1])];
    const of = (kind) => shapes.filter((shape) => shape.kind === kind);
    return {
      zones: of("zone").map((s) => ({...s.original, name: s.name, polygon: s.points.map(round), classes: s.classes, normalized: false})),
      lines: of("line").map((s) => ({...s.original, name: s.name, start: round(s.points[0]), end: round(s.points[1]), classes: s.classes, normalized: false})),
    };
  }

  /** What is wrong with the shapes before they are sent, or null. */
  function problem(shapes) {
    const names = {zone: new Set(), line: new Set()};
    for (const shape of shapes) {
      if (!shape.name) return `a ${shape.kind} has no name; delete it and draw it again with a name`;
      if (shape.kind === "zone" && shape.points.length < 3) return `zone '${shape.name}' needs at least 3 corners`;
      if (shape.kind === "line" && shape.points.length !== 2) return `line '${shape.name}' needs exactly 2 points`;
      if (names[shape.kind].has(shape.name)) return `two ${shape.kind}s are named '${shape.name}'; names must be unique`;
      names[shape.kind].add(shape.name);
    }
    return null;
  }

  function parseClasses(text) {
    const classes = text.split(",").map((c) => c.trim()).filter(Boolean);
    return classes.length ? classes : null;
  }

  function shapeSummary(shape) {
    const what = shape.kind === "zone" ? `zone · ${shape.points.length} corners` : "line";
    return `${what} · ${shape.classes ? shape.classes.join(", ") : "every class"}`;
  }

  class Editor {
    constructor(page, root, name) {
      this.page = page;
      this.name = name;
      this.shapes = [];
      this.draft = [];
      this.tool = null;
      this.size = null;
      this.build(root);
    }

    build(root) {
      const button = (cls, text, handler) => el("button", {type: "button", class: cls, text, onclick: handler});
      this.img = el("img", {class: "frame", alt: `a frame of ${this.name}`, draggable: "false"});
      this.svg = svg("svg", {class: "editor", preserveAspectRatio: "none"});
      this.stage = el("div", {class: "stage"}, this.img, this.svg);
      this.nameInput = el("input", {class: "shape-name", type: "text", placeholder: "e.g. driveway", maxlength: "100"});
      this.classesInput = el("input", {class: "shape-classes", type: "text", placeholder: "person, car (empty: every class)"});
      this.toolButtons = {zone: button("tool-zone", "Draw zone", () => this.choose("zone")),
        line: button("tool-line", "Draw line", () => this.choose("line"))};
      this.hint = el("p", {class: "hint"});
      this.list = el("ul", {class: "shapes"});
      this.message = el("p", {class: "message", role: "status"});
      this.saveButton = button("save primary", "Save", () => this.save());
      root.append(
        el("div", {class: "camera-head"}, el("h1", {text: `Zones and lines of ${this.name}`}),
          el("a", {class: "edit-zones button", href: Vigil.cameraHref(this.name), text: "Back to the camera"})),
        el("div", {class: "editor-layout"},
          el("div", {}, this.stage),
          el("div", {class: "panel"},
            el("div", {class: "tools"}, this.toolButtons.zone, this.toolButtons.line,
              button("finish", "Finish", () => this.finish()), button("cancel", "Cancel", () => this.cancel())),
            el("label", {}, "Name", this.nameInput), el("label", {}, "Classes", this.classesInput),
            this.hint, el("h2", {text: "Shapes"}), this.list, this.saveButton, this.message)));
      this.svg.addEventListener("click", (event) => this.click(event));
      this.img.addEventListener("load", () => this.render());
      this.img.addEventListener("error", () => {
        if (this.page.alive && this.img.getAttribute("src")) this.say(`no picture from '${this.name}' right now; reload the page to try again`, "error");
      });
      new ResizeObserver(() => this.render()).observe(this.img);
      this.showHint();
    }

    say(text, kind = "") {
      this.message.textContent = text;
      this.message.className = kind ? `message ${kind}` : "message";
    }

    async load() {
      const answer = await this.page.fetch(`${streamPath(this.name)}/zones`);
      if (answer.status === 404) {
        this.say(`No camera named '${this.name}'. Go back to Cameras.`, "error");
        return true; // nothing to wait for
      }
      if (!answer.ok) {
        this.say(errorText(answer), "error");
        return false;
      }
      if (!answer.data.width || !answer.data.height) {
        this.say(`Camera '${this.name}' has no frame yet: the editor needs one picture to draw on. Waiting for it…`);
        return false;
      }
      this.size = [answer.data.width, answer.data.height];
      this.svg.setAttribute("viewBox", `0 0 ${this.size[0]} ${this.size[1]}`);
      // The frame's own aspect, as large as fits the column and most of the window's height
      // (CSSOM, which the page's CSP allows; no inline style attribute).
      const ratio = this.size[0] / this.size[1];
      this.stage.style.aspectRatio = `${this.size[0]} / ${this.size[1]}`;
      this.stage.style.width = `min(100%, ${(78 * ratio).toFixed(2)}vh)`;
      this.shapes = fromApi(answer.data);
      this.img.src = `${streamPath(this.name)}/frame.jpg?annotate=0`;
      this.say("");
      this.render();
      return true;
    }

    choose(tool) {
      this.tool = this.tool === tool && !this.draft.length ? null : tool;
      this.draft = [];
      this.showHint();
      this.render();
    }

    cancel() {
      this.tool = null;
      this.draft = [];
      this.showHint();
      this.render();
    }

    showHint() {
      for (const [tool, node] of Object.entries(this.toolButtons)) node.classList.toggle("active", this.tool === tool);
      this.hint.textContent = !this.tool ? "Pick a tool, then click on the picture."
        : this.tool === "zone" ? "Click each corner; click the first corner again or press Finish to close the zone."
          : "Click the line's two ends. Objects crossing towards the 'in' side count as in.";
    }

    click(event) {
      if (!this.size) return;
      if (!this.tool) return this.say("Choose 'Draw zone' or 'Draw line' first.");
      const rect = this.svg.getBoundingClientRect();
      const [width, height] = this.size;
      const clamp = (v, max) => Math.min(Math.max(v, 0), max);
      const point = [clamp((event.clientX - rect.left) / rect.width * width, width),
        clamp((event.clientY - rect.top) / rect.height * height, height)];
      const first = this.draft[0];
      if (this.tool === "zone" && this.draft.length >= 3
          && Math.hypot((point[0] - first[0]) * rect.width / width, (point[1] - first[1]) * rect.height / height) < CLOSE_PX) {
        return this.finish();
      }
      this.draft.push(point);
      this.render();
      if (this.tool === "line" && this.draft.length === 2) this.finish();
      return undefined;
    }

    finish() {
      const kind = this.tool;
      if (!kind) return this.say("Nothing to finish: pick 'Draw zone' or 'Draw line' and click on the picture.", "error");
      if (kind === "zone" && this.draft.length < 3) return this.say(`A zone needs at least 3 corners; it has ${this.draft.length}.`, "error");
      if (kind === "line" && this.draft.length !== 2) return this.say(`A line needs 2 points; it has ${this.draft.length}.`, "error");
      const name = this.nameInput.value.trim();
      if (!name) {
        this.nameInput.focus();
        return this.say(`Type the ${kind}'s name in the Name box, then press Finish.`, "error");
      }
      if (this.shapes.some((s) => s.kind === kind && s.name === name)) {
        return this.say(`There is already a ${kind} named '${name}'; pick another name.`, "error");
      }
      this.shapes.push({kind, name, points: this.draft, classes: parseClasses(this.classesInput.value), original: {}});
      this.nameInput.value = "";
      this.classesInput.value = "";
      this.cancel();
      return this.say(`${kind} '${name}' added; press Save to apply it.`);
    }

    remove(shape) {
      this.shapes = this.shapes.filter((s) => s !== shape);
      this.render();
      this.say(`${shape.kind} '${shape.name}' removed; press Save to apply it.`);
    }

    async save() {
      if (this.draft.length) return this.say("Finish or cancel the shape you are drawing first.", "error");
      const wrong = problem(this.shapes);
      if (wrong) return this.say(wrong, "error");
      this.saveButton.disabled = true;
      try {
        const answer = await api(`${streamPath(this.name)}/zones`, {method: "PUT", body: toApi(this.shapes)});
        if (!answer.ok) return this.say(errorText(answer), "error");
        if (answer.data && Array.isArray(answer.data.zones)) this.shapes = fromApi({...answer.data, width: answer.data.width || this.size[0], height: answer.data.height || this.size[1]});
        this.render();
        return this.say("saved", "ok");
      } catch (error) {
        return this.say(`could not save: ${error.message}`, "error");
      } finally {
        this.saveButton.disabled = false;
      }
    }

    render() {
      if (!this.size) return;
      const shown = this.svg.getBoundingClientRect().width;
      const scale = shown > 0 ? this.size[0] / shown : 1; // frame pixels per screen pixel
      const nodes = [];
      this.shapes.forEach((shape, i) => nodes.push(...drawShape(shape, COLOURS[i % COLOURS.length], scale, this.size)));
      nodes.push(...drawDraft(this.draft, this.tool, scale));
      this.svg.replaceChildren(...nodes);
      this.list.replaceChildren(...this.shapes.map((shape, i) => el("li", {data: {kind: shape.kind, shape: shape.name}},
        shapeSwatch(COLOURS[i % COLOURS.length]),
        el("span", {class: "label"}, el("div", {text: shape.name}), el("div", {class: "sub", text: shapeSummary(shape)})),
        el("button", {type: "button", class: "delete danger", text: "Delete", title: `delete ${shape.kind} ${shape.name}`,
          onclick: () => this.remove(shape)}))));
      if (!this.shapes.length) this.list.append(el("li", {class: "empty", text: "No zones or lines yet."}));
    }
  }

  function shapeSwatch(colour) {
    const node = el("span", {class: "swatch"});
    node.style.background = colour; // CSSOM, which the page's CSP allows (no inline style attribute)
    return node;
  }

  // ---- drawing (frame pixels; `scale` = frame pixels per screen pixel keeps sizes on screen) ----

  function text(content, x, y, scale, fill = "#fff", size = 14, frame = null) {
    if (frame) { // keep a label inside the picture
      const pad = size * scale;
      [x, y] = [Math.min(Math.max(x, pad * 2), frame[0] - pad * 2), Math.min(Math.max(y, pad), frame[1] - pad)];
    }
    const node = svg("text", {x, y, fill, "font-size": size * scale, "stroke-width": 3 * scale,
      "text-anchor": "middle", "dominant-baseline": "middle"});
    node.textContent = content;
    return node;
  }

  const joined = (points) => points.map((p) => `${p[0]},${p[1]}`).join(" ");

  function drawShape(shape, colour, scale, frame) {
    const pts = shape.points;
    if (shape.kind === "zone") {
      const cx = pts.reduce((sum, p) => sum + p[0], 0) / pts.length;
      const cy = pts.reduce((sum, p) => sum + p[1], 0) / pts.length;
      return [svg("polygon", {class: "zone", points: joined(pts), fill: colour, "fill-opacity": 0.28, stroke: colour}),
        text(shape.name, cx, cy, scale, "#fff", 14, frame)];
    }
    const [[x1, y1], [x2, y2]] = pts;
    const length = Math.hypot(x2 - x1, y2 - y1) || 1;
    const [ux, uy] = [(x2 - x1) / length, (y2 - y1) / length];
    const [nx, ny] = [uy, -ux]; // towards the 'in' side, as vigil/stages/_geometry.py decides it
    const head = 14 * scale;
    const arrow = [[x2, y2], [x2 - ux * head + nx * head / 2, y2 - uy * head + ny * head / 2],
      [x2 - ux * head - nx * head / 2, y2 - uy * head - ny * head / 2]];
    const [mx, my] = [(x1 + x2) / 2, (y1 + y2) / 2];
    const side = 30 * scale;
    return [svg("line", {class: "line", x1, y1, x2, y2, stroke: colour}),
      svg("polygon", {points: joined(arrow), fill: colour}),
      text(shape.name, x1 - ux * 16 * scale, y1 - uy * 16 * scale, scale, "#fff", 14, frame),
      text("in", mx + nx * side, my + ny * side, scale, colour, 12),
      text("out", mx - nx * side, my - ny * side, scale, colour, 12)];
  }

  function drawDraft(points, tool, scale) {
    if (!points.length) return [];
    const outline = tool === "zone" && points.length >= 3
      ? svg("polygon", {class: "draft", points: joined(points)})
      : svg("polyline", {class: "draft", points: joined(points), fill: "none"});
    const corners = points.map((p, i) => svg("circle", {class: i === 0 ? "corner first" : "corner", cx: p[0], cy: p[1], r: 5 * scale}));
    return [outline, ...corners];
  }

  function showZones(page, root, name) {
    const editor = new Editor(page, root, name);
    const attempt = async () => { // until the camera has a frame to draw on
      let done = false;
      try {
        done = await editor.load();
      } catch (error) {
        if (page.alive && error.name !== "AbortError") editor.say(`Cannot load the zones: ${error.message}`, "error");
      }
      if (!done) page.later(2000, attempt);
    };
    attempt();
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape") editor.cancel();
    }, {signal: page.signal});
  }

  Object.assign(window.Vigil.views, {zones: showZones});
})();
