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
// - Drawing inside a box: the bbox widget moves a box when a drag starts inside it, so on
//   a crowded frame (a box inside or over another) a person could not draw. Here a press
//   inside a box (not on its edge or a corner handle, which still resize it) waits: moved
//   past a few pixels it becomes a new box drawn from the press point (the press is handed
//   to the drawing surface under the box); released in place it selects the box, as
//   before. Shift+drag inside a box moves it (the bbox widget's own drag).
// - Keys without a click (`focus`): the keyboard focus goes to the labeller when it first
//   appears and whenever the mouse enters it (to the bbox widget's own surface where there
//   is one, so its keys - Tab, Delete, W A S D - work too).
// - `clicks`: keys answered in the browser by clicking a button of the widget (the viewer's
//   Space clicks its play/pause button: instant, never lost behind frames in flight).
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

const DRAW_AFTER_PX = 3; // a press inside a box moved this far is a drawing, not a click
const focusedOnce = new WeakSet(); // models whose first view took the focus already

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
    const clicks = model.get("clicks") || {};
    if (Object.prototype.hasOwnProperty.call(clicks, name)) {
      event.preventDefault();
      event.stopPropagation();
      if (event.repeat) return; // a key held down clicks once
      const button = root.querySelector(clicks[name]);
      if (button && !button.disabled) button.click();
      return;
    }
    if (!model.get("shortcuts").includes(name)) return;
    event.preventDefault();
    event.stopPropagation();
    model.send({ type: "key", key: name });
  };
  // A key answered by a click must not also activate a focused button on its release.
  const onKeyUp = (event) => {
    const root = rootOf();
    if (!root || !root.contains(event.target)) return;
    const clicks = model.get("clicks") || {};
    if (Object.prototype.hasOwnProperty.call(clicks, keyName(event))) event.preventDefault();
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

  let pressed = null; // a press inside a box: {surface, box, x, y} until it moves or ends
  const onDown = (event) => {
    if (!event.isTrusted || event.button !== 0) return;
    const surface = surfaceOf(rootOf());
    dragging = surface && surface.contains(event.target) ? surface : null;
    pressed = null;
    const box = event.target;
    if (!dragging || event.shiftKey || !model.get("draw_inside") || !box.matches || !box.matches("rect.movable")) return;
    // Inside a box: neither the box (it would move) nor JupyterLab hears this press yet.
    event.stopPropagation();
    event.preventDefault(); // (which also keeps the focus from moving: given back below)
    pressed = { surface, box, x: event.clientX, y: event.clientY };
    takeFocus(rootOf());
  };
  const onPressedMove = (event) => {
    if (!event.isTrusted || !pressed) return;
    if (Math.hypot(event.clientX - pressed.x, event.clientY - pressed.y) < DRAW_AFTER_PX) return;
    const { surface, x, y } = pressed;
    pressed = null;
    hand(surface, "mousedown", x, y); // the surface starts a new box at the press point
  };
  const onPressedUp = (event) => {
    if (!event.isTrusted || !pressed || event.button !== 0) return;
    const { box, x, y } = pressed;
    pressed = null;
    hand(box, "mousedown", x, y); // a click in place selects the box, as the widget does
  };
  const onMove = (event) => {
    onPressedMove(event);
    if (!event.isTrusted || !dragging) return;
    const p = clamped(dragging, event);
    if (!p.outside) return; // over the image the bbox widget hears it itself
    event.preventDefault();
    hand(dragging, "mousemove", p.x, p.y);
  };
  const onUp = (event) => {
    onPressedUp(event);
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
  window.addEventListener("keyup", onKeyUp, true);
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
  // The keys reach it without a click: it takes the focus when it first appears and when
  // the mouse enters it (the bbox widget's surface where there is one: its own keys work).
  const keyTarget = (root) => root.querySelector(".wrapper[tabindex]") || root;
  const takeFocus = (root) => {
    if (!model.get("focus") || !root.isConnected) return;
    if (root.contains(document.activeElement) && document.activeElement.closest(EDITABLE)) return;
    keyTarget(root).focus({ preventScroll: true });
  };
  const onEnter = (event) => { if (!event.buttons) takeFocus(event.currentTarget); };
  let entered = null;
  let tries = 0;
  const attach = () => {
    const root = rootOf();
    if (!root) {
      if (tries++ < 120) requestAnimationFrame(attach);
      return;
    }
    if (!root.hasAttribute("tabindex")) root.tabIndex = -1;
    root.addEventListener("mouseenter", onEnter);
    entered = root;
    if (!focusedOnce.has(model)) {
      focusedOnce.add(model);
      // After JupyterLab has moved on to the next cell (it focuses that one as it runs).
      setTimeout(() => takeFocus(root), 50);
    }
  };
  attach();

  return () => {
    window.removeEventListener("keydown", onKey, true);
    window.removeEventListener("keyup", onKeyUp, true);
    window.removeEventListener("wheel", onWheel, { capture: true });
    window.removeEventListener("mousedown", onDown, true);
    window.removeEventListener("mousemove", onMove, true);
    window.removeEventListener("mouseup", onUp, true);
    window.removeEventListener("selectstart", onSelect, true);
    window.removeEventListener("click", onClick, true);
    window.removeEventListener("mousedown", onPlotDown, true);
    window.removeEventListener("mouseup", onPlotUp, true);
    if (entered) entered.removeEventListener("mouseenter", onEnter);
  };
}

export default { render };
