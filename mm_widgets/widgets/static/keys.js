// One labeller's keyboard and mouse helpers (the widget itself is invisible):
//
// - Keys: the names listed in `shortcuts` are sent to Python as {type: "key", key} while
//   the keyboard focus is inside this view's labeller. A name is KeyboardEvent.key, with
//   "Ctrl+" (Ctrl or Cmd) and "Shift+" before it where held ("Ctrl+z", "Ctrl+Shift+z",
//   "Shift+ArrowLeft"); for a printable key without Ctrl, Shift is already in the key ("+").
// - Wheel (when `wheel`): over the frame, sent as {type: "wheel", dy, fx, fy}, the notch's
//   direction and where the mouse is as fractions of the image; Python zooms there.
// - Strip clicks: a click on a `.mm-strip` (the row of coloured frame cells) is sent as
//   {type: "strip", fx}, where it landed as a fraction of the strip's width.
// - Plot clicks: a click (press and release in one place) on the plot area of the first
//   plotly figure inside the root (its `.nsewdrag` layer) is sent as {type: "plot", fx, fy}, fractions of that area, so Python
//   knows the exact x clicked (plotly itself only names the nearest point it drew).
// - Drags: the bbox widget listens to the mouse on its image only, so a drag released
//   outside the image would never end (the box kept following the mouse and was never
//   saved). While a drag that began on the image is outside it, the mouse is handed to the
//   image at the nearest point of its edge, and the release too: the box ends at the edge.
//
// The listeners sit on window in the capture phase so that they run before JupyterLab's
// own shortcuts (digits change a cell to a heading in command mode, Ctrl+Z undoes cell
// operations) and before the bbox widget, which stops every key it sees from propagating.

const EDITABLE = "input, textarea, select, [contenteditable=''], [contenteditable='true'], .noUi-target";

function keyName(event) {
  const ctrl = event.ctrlKey || event.metaKey;
  if (ctrl) return "Ctrl+" + (event.shiftKey ? "Shift+" : "") + event.key.toLowerCase();
  if (event.key.length > 1 && event.shiftKey) return "Shift+" + event.key;
  return event.key;
}

function render({ model, el }) {
  el.classList.add("mm-keys");
  el.style.display = "none";
  const rootOf = () => el.closest(model.get("root"));
  // The bbox widget's drawing surface: the svg laid over its image.
  const surfaceOf = (root) => {
    const measure = root && root.querySelector(".image-measure");
    return measure ? measure.parentElement.querySelector(":scope > svg") : null;
  };

  const onKey = (event) => {
    const root = rootOf();
    if (!root || !root.contains(event.target)) return;
    if (event.altKey) return;
    if (event.target.closest && event.target.closest(EDITABLE)) return;
    const name = keyName(event);
    if (!model.get("shortcuts").includes(name)) return;
    event.preventDefault();
    event.stopPropagation();
    model.send({ type: "key", key: name });
  };

  let lastWheel = 0;
  const onWheel = (event) => {
    if (!model.get("wheel")) return;
    const root = rootOf();
    const surface = surfaceOf(root);
    if (!surface || !surface.contains(event.target)) return;
    event.preventDefault(); // the page does not scroll under a zoom
    const now = performance.now();
    if (now - lastWheel < 60 || event.deltaY === 0) return; // one step per notch, not per pixel
    lastWheel = now;
    const r = surface.getBoundingClientRect();
    model.send({
      type: "wheel", dy: Math.sign(event.deltaY),
      fx: (event.clientX - r.left) / r.width, fy: (event.clientY - r.top) / r.height,
    });
  };

  let dragging = null; // the surface a drag began on
  const clamped = (surface, event) => {
    const r = surface.getBoundingClientRect();
    const x = Math.min(Math.max(event.clientX, r.left), r.right - 0.01);
    const y = Math.min(Math.max(event.clientY, r.top), r.bottom - 0.01);
    return { x, y, outside: x !== event.clientX || y !== event.clientY };
  };
  const hand = (surface, type, x, y) => surface.dispatchEvent(new MouseEvent(type, {
    bubbles: true, cancelable: true, clientX: x, clientY: y, button: 0, buttons: type === "mouseup" ? 0 : 1,
  }));
  // Plot clicks are a press and a release at the same place on the plot area: plotly lays
  // a cover over the page while the button is down, so no click event reaches the plot.
  let plotPress = null;
  const plotArea = (event) => {
    const root = rootOf();
    const area = root && root.querySelector(".js-plotly-plot .nsewdrag");
    if (!area) return null;
    const a = area.getBoundingClientRect();
    const inside = event.clientX >= a.left && event.clientX <= a.right && event.clientY >= a.top && event.clientY <= a.bottom;
    return inside ? { fx: (event.clientX - a.left) / a.width, fy: (event.clientY - a.top) / a.height } : null;
  };
  const onPlotDown = (event) => {
    plotPress = event.isTrusted && event.button === 0 ? plotArea(event) && { x: event.clientX, y: event.clientY } : null;
  };
  const onPlotUp = (event) => {
    const press = plotPress;
    plotPress = null;
    if (!press || !event.isTrusted || event.button !== 0) return;
    if (Math.abs(event.clientX - press.x) > 4 || Math.abs(event.clientY - press.y) > 4) return;
    const p = plotArea(event);
    if (p) model.send({ type: "plot", fx: p.fx, fy: p.fy });
  };

  const onDown = (event) => {
    if (!event.isTrusted || event.button !== 0) return;
    const surface = surfaceOf(rootOf());
    dragging = surface && surface.contains(event.target) ? surface : null;
  };
  const onMove = (event) => {
    if (!event.isTrusted || !dragging) return;
    const p = clamped(dragging, event);
    if (!p.outside) return; // over the image the bbox widget hears it itself
    event.preventDefault();
    hand(dragging, "mousemove", p.x, p.y);
  };
  const onUp = (event) => {
    if (!event.isTrusted || !dragging || event.button !== 0) return;
    const surface = dragging;
    dragging = null;
    const p = clamped(surface, event);
    if (!p.outside) return;
    hand(surface, "mousemove", p.x, p.y);
    hand(surface, "mouseup", p.x, p.y);
  };
  const onSelect = (event) => { if (dragging) event.preventDefault(); }; // no page text selected

  const onClick = (event) => {
    const root = rootOf();
    if (!root || !event.isTrusted || event.button !== 0) return;
    const strip = event.target.closest && event.target.closest(".mm-strip");
    if (!strip || !root.contains(strip)) return;
    const r = strip.getBoundingClientRect();
    model.send({ type: "strip", fx: (event.clientX - r.left) / r.width });
  };

  window.addEventListener("keydown", onKey, true);
  window.addEventListener("wheel", onWheel, { capture: true, passive: false });
  window.addEventListener("mousedown", onDown, true);
  window.addEventListener("mousemove", onMove, true);
  window.addEventListener("mouseup", onUp, true);
  window.addEventListener("selectstart", onSelect, true);
  window.addEventListener("click", onClick, true);
  window.addEventListener("mousedown", onPlotDown, true);
  window.addEventListener("mouseup", onPlotUp, true);

  // A click anywhere on the labeller (the image included) should give it the keyboard:
  // a tabindex makes the root focusable, and a click focuses the nearest focusable ancestor.
  const makeFocusable = () => {
    const root = rootOf();
    if (root && !root.hasAttribute("tabindex")) root.tabIndex = -1;
    return Boolean(root);
  };
  if (!makeFocusable()) requestAnimationFrame(makeFocusable);

  return () => {
    window.removeEventListener("keydown", onKey, true);
    window.removeEventListener("wheel", onWheel, { capture: true });
    window.removeEventListener("mousedown", onDown, true);
    window.removeEventListener("mousemove", onMove, true);
    window.removeEventListener("mouseup", onUp, true);
    window.removeEventListener("selectstart", onSelect, true);
    window.removeEventListener("click", onClick, true);
    window.removeEventListener("mousedown", onPlotDown, true);
    window.removeEventListener("mouseup", onPlotUp, true);
  };
}

export default { render };
