// Keyboard shortcuts for one labeller: the keys listed in `shortcuts` are sent to Python
// as {type: "key", key} while the keyboard focus is inside this view's labeller.
//
// The listener sits on window in the capture phase so that it runs before JupyterLab's
// own shortcuts (digits change a cell to a heading in command mode) and before the bbox
// widget, which stops every key it sees from propagating.

const EDITABLE = "input, textarea, select, [contenteditable=''], [contenteditable='true'], .noUi-target";

function render({ model, el }) {
  el.classList.add("mm-keys");
  el.style.display = "none";
  const rootOf = () => el.closest(".mm-label");

  const onKey = (event) => {
    const root = rootOf();
    if (!root || !root.contains(event.target)) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest && event.target.closest(EDITABLE)) return;
    if (!model.get("shortcuts").includes(event.key)) return;
    event.preventDefault();
    event.stopPropagation();
    model.send({ type: "key", key: event.key });
  };
  window.addEventListener("keydown", onKey, true);

  // A click anywhere on the labeller (the image included) should give it the keyboard:
  // a tabindex makes the root focusable, and a click focuses the nearest focusable ancestor.
  const makeFocusable = () => {
    const root = rootOf();
    if (root && !root.hasAttribute("tabindex")) root.tabIndex = -1;
    return Boolean(root);
  };
  if (!makeFocusable()) requestAnimationFrame(makeFocusable);

  return () => window.removeEventListener("keydown", onKey, true);
}

export default { render };
