"use strict";
// The fleet view (#/fleet): GET /api/v1/fleet on a box with fleet: (docs/SCALING.md): the boxes
// (alive, capacity, load), the cameras and who runs each, the unassigned ones and the last moves.
// A box without fleet: says so (the API's 404 message). Text only through textContent.
(() => {
  const {el, errorText, localTime, cameraHref} = window.Vigil;

  function table(cls, head, rows) {
    return el("div", {class: "table-wrap"}, el("table", {class: `models ${cls}`},
      el("thead", {}, el("tr", {}, ...head.map((h) => el("th", {text: h})))), el("tbody", {}, ...rows)));
  }

  function capacityText(capacity) {
    const parts = [];
    if (capacity && capacity.cameras !== null && capacity.cameras !== undefined) parts.push(`${capacity.cameras} cameras`);
    if (capacity && capacity.fps) parts.push(`${capacity.fps} fps`);
    return parts.join(", ") || "no limit";
  }

  function boxRow(box) {
    const load = box.load || {};
    return el("tr", {class: "box", data: {box: box.box}},
      el("td", {}, el("div", {class: "name", text: box.box}), el("div", {class: "sub", text: box.api || ""})),
      el("td", {class: `state ${box.alive ? "streaming" : "failed"}`, text: box.alive ? "alive" : "gone"}),
      el("td", {text: capacityText(box.capacity)}),
      el("td", {class: "num", text: `${load.cameras ?? 0} cameras, ${(load.fps ?? 0).toFixed(1)} fps`}),
      el("td", {text: (box.cameras || []).join(", ") || "none"}),
      el("td", {class: "sub", text: box.version || ""}));
  }

  function cameraRow(camera, here) {
    const runs = camera.box === here
      ? el("a", {href: cameraHref(camera.name), text: `${camera.box} (this box)`})
      : el("span", {text: camera.box || "unassigned"});
    return el("tr", {class: `camera${camera.box ? "" : " unassigned"}`, data: {camera: camera.name}},
      el("td", {class: "name", text: camera.name}),
      el("td", {class: "runs"}, runs),
      el("td", {text: camera.since ? localTime(camera.since) : "–"}),
      el("td", {class: "sub", text: camera.url || ""}));
  }

  function moveRow(move) {
    return el("tr", {class: "move"},
      el("td", {text: localTime(move.at)}),
      el("td", {class: "name", text: move.camera}),
      el("td", {text: `${move.from || "–"} → ${move.to || "–"}`}),
      el("td", {class: "reason", text: move.reason}));
  }

  function showFleet(page, root) {
    const message = el("p", {class: "message"});
    const summary = el("p", {class: "summary"});
    const boxes = el("div", {class: "fleet-boxes"});
    const cameras = el("div", {class: "fleet-cameras"});
    const moves = el("div", {class: "fleet-moves"});
    root.append(el("h1", {text: "Fleet"}), message, summary,
      el("h2", {text: "Boxes"}), boxes, el("h2", {text: "Cameras"}), cameras, el("h2", {text: "Last moves"}), moves);
    page.every(3000, async () => {
      const answer = await page.fetch("/api/v1/fleet");
      if (!answer.ok) {
        message.textContent = errorText(answer);
        message.className = answer.status === 404 ? "message" : "message error";
        return;
      }
      const fleet = answer.data;
      message.textContent = "";
      const alive = (fleet.boxes || []).filter((b) => b.alive).length;
      summary.textContent = `${(fleet.cameras || []).length} cameras on ${alive} boxes alive; ` +
        `${(fleet.unassigned || []).length} unassigned. This is box ${fleet.box}.`;
      boxes.replaceChildren(table("fleet-boxes", ["Box", "State", "Capacity", "Load", "Cameras", "Version"],
        (fleet.boxes || []).map(boxRow)));
      cameras.replaceChildren(table("fleet-cameras", ["Camera", "Runs on", "Since", "URL"],
        (fleet.cameras || []).map((camera) => cameraRow(camera, fleet.box))));
      moves.replaceChildren((fleet.moves || []).length
        ? table("fleet-moves", ["When", "Camera", "From → to", "Why"], fleet.moves.map(moveRow))
        : el("p", {class: "empty", text: "No moves yet."}));
    });
  }

  Object.assign(window.Vigil.views, {fleet: showFleet});
})();
