// The mask labeller's frame: the image, and an SVG over it where polygons are drawn.
//
// - Click: add a point to the polygon being drawn (the first click starts one). A click on
//   its first point, or Enter, closes it (3 points at least); Backspace drops the last
//   point; Escape cancels it.
// - Drag on the frame (not drawing): a box, kept as a 4-point polygon.
// - Drag a point of a mask: move it. Click a mask: select it (a click on the selected mask
//   starts a polygon inside it); Delete or Backspace removes it; C gives it the chosen class.
// - The class buttons over the frame choose the class of new masks (keys 1-9 in Python).
// - Wheel over the frame: sent to Python, which zooms there.
//
// Coordinates are whole shown pixels of the image as sent (Python undoes the display
// scale). Each finished edit sends every mask of the frame, {id, rings, label, edited}, and
// the `version` of the masks it started from: an untouched mask of that version is the very
// mask Python showed (id: its index; null for one drawn). What Python sends while a polygon
// is drawn (the echo of the edit before) keeps the polygon; while a point is dragged, it
// waits for the drag's end. Names are set as text (textContent), never parsed as HTML.

const NS = "http://www.w3.org/2000/svg";
const CLOSE_PX = 7; // a click this near the first point closes the polygon
const DRAG_PX = 4; // a press moved this far is a drag (a box), not a click
const EDITABLE = "input, textarea, select, [contenteditable=''], [contenteditable='true']";

function render({ model, el }) {
  el.classList.add("mm-masks");
  const bar = document.createElement("div");
  bar.className = "mm-mask-classes";
  bar.style.cssText = "display:flex;flex-wrap:wrap;gap:4px;margin:2px 0 4px 0";
  const wrap = document.createElement("div");
  wrap.style.cssText = "position:relative;display:inline-block;line-height:0;user-select:none";
  const img = document.createElement("img");
  img.draggable = false;
  img.style.display = "block";
  const svg = document.createElementNS(NS, "svg");
  svg.classList.add("mm-mask-surface");
  svg.style.cssText = "position:absolute;left:0;top:0;cursor:crosshair;overflow:hidden;touch-action:none";
  wrap.append(img, svg);
  el.append(bar, wrap);

  let masks = []; // {rings: [[x, y, ...]], label, id, edited}
  let open = null; // the polygon being drawn: [x, y, ...]
  let selected = -1;
  let hover = null; // the mouse, for the line to the next point
  let drag = null; // a point being moved: {mask, ring, vertex, moved}
  let press = null; // a press on the frame: {x, y, onMask, box}
  let url = null;
  let loaded = null; // the frame and view the masks shown were sent for
  let pending = false; // masks arrived during a drag

  const W = () => model.get("shown_width");
  const H = () => model.get("shown_height");
  const colourOf = (label) => {
    const colours = model.get("colours");
    const k = Math.max(0, model.get("classes").indexOf(label));
    return colours[k % colours.length];
  };
  const point = (event) => {
    const r = svg.getBoundingClientRect();
    const x = Math.round(((event.clientX - r.left) * W()) / r.width);
    const y = Math.round(((event.clientY - r.top) * H()) / r.height);
    return { x: Math.min(Math.max(x, 0), W()), y: Math.min(Math.max(y, 0), H()) };
  };
  const el_ = (tag, attrs) => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    return e;
  };
  const pathOf = (rings) => rings.map((r) => {
    let d = "";
    for (let k = 0; k < r.length; k += 2) d += (k ? "L" : "M") + r[k] + " " + r[k + 1];
    return d + "Z";
  }).join("");

  const draw = () => {
    svg.setAttribute("width", W());
    svg.setAttribute("height", H());
    svg.setAttribute("viewBox", `0 0 ${W()} ${H()}`);
    img.style.width = W() + "px";
    img.style.height = H() + "px";
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    masks.forEach((m, k) => {
      const colour = colourOf(m.label);
      const sel = k === selected;
      const path = el_("path", {
        d: pathOf(m.rings), fill: colour, "fill-opacity": sel ? 0.45 : 0.3, "fill-rule": "nonzero",
        stroke: colour, "stroke-width": sel ? 3 : 2, "data-mask": k, class: "mm-mask" + (sel ? " mm-selected" : ""),
      });
      svg.append(path);
      const text = el_("text", {
        x: m.rings[0][0] + 3, y: m.rings[0][1] - 4, fill: "white", stroke: colour, "stroke-width": 3,
        "paint-order": "stroke", "font-size": 13, "font-family": "sans-serif", "pointer-events": "none",
      });
      text.textContent = m.label;
      svg.append(text);
      m.rings.forEach((r, ring) => {
        for (let v = 0; v < r.length; v += 2) {
          svg.append(el_("circle", {
            cx: r[v], cy: r[v + 1], r: sel ? 5 : 3.5, fill: "white", stroke: colour, "stroke-width": 2,
            "data-mask": k, "data-ring": ring, "data-vertex": v / 2, class: "mm-vertex", style: "cursor:move",
          }));
        }
      });
    });
    if (press && press.box) {
      const { x1, y1, x2, y2 } = press.box;
      svg.append(el_("rect", {
        x: Math.min(x1, x2), y: Math.min(y1, y2), width: Math.abs(x2 - x1), height: Math.abs(y2 - y1),
        fill: "none", stroke: colourOf(model.get("label")), "stroke-width": 2, "stroke-dasharray": "5 3",
      }));
    }
    if (open) {
      const colour = colourOf(model.get("label"));
      const pts = open.slice();
      if (hover) pts.push(hover.x, hover.y);
      svg.append(el_("polyline", {
        points: pts.join(" "), fill: "none", stroke: colour, "stroke-width": 2, "stroke-dasharray": "6 3",
        class: "mm-open", "pointer-events": "none",
      }));
      for (let v = 0; v < open.length; v += 2) {
        svg.append(el_("circle", {
          cx: open[v], cy: open[v + 1], r: v === 0 ? 6 : 3.5, fill: v === 0 ? colour : "white",
          stroke: colour, "stroke-width": 2, class: v === 0 ? "mm-first" : "mm-open-point",
        }));
      }
    }
  };

  const drawBar = () => {
    bar.replaceChildren();
    const chosen = model.get("label");
    model.get("classes").forEach((c, k) => {
      const b = document.createElement("button");
      b.className = "mm-mask-class" + (c === chosen ? " mm-chosen" : "");
      b.textContent = (k < 9 ? `${k + 1}  ` : "") + c;
      b.title = `new masks get class ${c}` + (k < 9 ? ` (key ${k + 1})` : "");
      const colour = colourOf(c);
      b.style.cssText = `border:2px solid ${colour};border-radius:4px;padding:2px 8px;cursor:pointer;` +
        (c === chosen ? `background:${colour};color:white;font-weight:bold` : "background:white;color:#333");
      b.addEventListener("click", () => {
        model.set("label", c);
        model.save_changes();
      });
      bar.append(b);
    });
  };

  let version = model.get("version");
  const send = () => {
    model.send({
      type: "edit", frame: model.get("frame"), view: model.get("view"), version,
      masks: masks.map((m) => ({ id: m.id, rings: m.rings, label: m.label, edited: m.edited })),
    });
  };
  const load = () => {
    if (drag) {
      pending = true;
      return;
    }
    pending = false;
    version = model.get("version");
    masks = (model.get("masks") || []).map((m, k) => ({
      rings: m.rings.map((r) => r.slice()), label: m.label, id: k, edited: false,
    }));
    const here = model.get("frame") + "/" + model.get("view");
    if (here !== loaded) {
      open = null;
      press = null;
      selected = -1;
    }
    loaded = here;
    if (selected >= masks.length) selected = -1;
    draw();
  };
  const setImage = () => {
    const data = model.get("image");
    if (url) URL.revokeObjectURL(url);
    url = URL.createObjectURL(new Blob([data], { type: "image/jpeg" }));
    img.src = url;
  };
  const close = () => {
    if (!open || open.length < 6) return;
    masks.push({ rings: [open], label: model.get("label"), id: null, edited: true });
    selected = masks.length - 1;
    open = null;
    draw();
    send();
  };

  const onDown = (event) => {
    if (event.button !== 0) return;
    const p = point(event);
    const t = event.target;
    svg.setPointerCapture(event.pointerId);
    if (!open && t.classList.contains("mm-vertex")) {
      const k = +t.dataset.mask;
      drag = { mask: k, ring: +t.dataset.ring, vertex: +t.dataset.vertex, moved: false };
      selected = k;
      draw();
      return;
    }
    if (open) {
      if (open.length >= 6 && Math.hypot(p.x - open[0], p.y - open[1]) <= CLOSE_PX) close();
      else {
        open.push(p.x, p.y);
        draw();
      }
      return;
    }
    press = { x: p.x, y: p.y, onMask: t.classList.contains("mm-mask") ? +t.dataset.mask : -1, box: null };
  };
  const onMove = (event) => {
    const p = point(event);
    hover = p;
    if (drag) {
      const r = masks[drag.mask].rings[drag.ring];
      r[2 * drag.vertex] = p.x;
      r[2 * drag.vertex + 1] = p.y;
      drag.moved = true;
      draw();
    } else if (press) {
      if (press.box || Math.hypot(p.x - press.x, p.y - press.y) >= DRAG_PX) {
        press.box = { x1: press.x, y1: press.y, x2: p.x, y2: p.y };
        draw();
      }
    } else if (open) draw();
  };
  const onUp = (event) => {
    if (event.button !== 0) return;
    if (drag) {
      const { mask, moved } = drag;
      drag = null;
      if (moved) {
        masks[mask].edited = true;
        send();
      }
      if (pending) load();
      else draw();
      return;
    }
    if (!press) return;
    const done = press;
    press = null;
    if (done.box) {
      const { x1, y1, x2, y2 } = done.box;
      const [a, b, c, d] = [Math.min(x1, x2), Math.min(y1, y2), Math.max(x1, x2), Math.max(y1, y2)];
      if (c - a >= 2 && d - b >= 2) {
        masks.push({ rings: [[a, b, c, b, c, d, a, d]], label: model.get("label"), id: null, edited: true });
        selected = masks.length - 1;
        send();
      }
      draw();
    } else if (done.onMask >= 0 && done.onMask !== selected) {
      selected = done.onMask;
      draw();
    } else {
      selected = -1;
      open = [done.x, done.y];
      draw();
    }
  };
  const onLeave = () => {
    hover = null;
    if (open) draw();
  };

  let lastWheel = 0;
  const onWheel = (event) => {
    event.preventDefault();
    const now = performance.now();
    if (now - lastWheel < 60 || event.deltaY === 0) return;
    lastWheel = now;
    const r = svg.getBoundingClientRect();
    model.send({
      type: "wheel", dy: Math.sign(event.deltaY),
      fx: (event.clientX - r.left) / r.width, fy: (event.clientY - r.top) / r.height,
    });
  };

  // Keys while the focus is in this labeller (captured before JupyterLab's Enter and Escape).
  const onKey = (event) => {
    const root = el.closest(".mm-label") || el;
    if (!root.contains(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest && event.target.closest(EDITABLE)) return;
    let handled = true;
    if (event.key === "Enter" && open) close();
    else if (event.key === "Escape" && open) {
      open = null;
      draw();
    } else if (event.key === "Escape" && selected >= 0) {
      selected = -1;
      draw();
    } else if (event.key === "Backspace" && open) {
      open.splice(-2, 2);
      if (!open.length) open = null;
      draw();
    } else if ((event.key === "Delete" || event.key === "Backspace") && selected >= 0 && !open) {
      masks.splice(selected, 1);
      selected = -1;
      draw();
      send();
    } else if ((event.key === "c" || event.key === "C") && selected >= 0 && !open) {
      const m = masks[selected];
      if (m.label !== model.get("label")) {
        m.label = model.get("label");
        m.edited = true;
        draw();
        send();
      }
    } else handled = false;
    if (handled) {
      event.preventDefault();
      event.stopPropagation();
    }
  };

  svg.addEventListener("pointerdown", onDown);
  svg.addEventListener("pointermove", onMove);
  svg.addEventListener("pointerup", onUp);
  svg.addEventListener("pointerleave", onLeave);
  svg.addEventListener("wheel", onWheel, { passive: false });
  window.addEventListener("keydown", onKey, true);
  model.on("change:image", setImage);
  model.on("change:version", load);
  model.on("change:label", () => { drawBar(); draw(); });
  model.on("change:classes", drawBar);
  if (model.get("image") && model.get("image").byteLength) setImage();
  drawBar();
  load();

  return () => {
    window.removeEventListener("keydown", onKey, true);
    if (url) URL.revokeObjectURL(url);
  };
}

export default { render };
