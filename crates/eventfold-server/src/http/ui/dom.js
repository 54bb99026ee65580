// Building elements without innerHTML: every value from the server goes in as
// text, so a stream name or event type can never inject markup.

export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "text") element.textContent = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : String(child));
  }
}

let counter = 0;
/** A fresh id, for tying labels and error messages to their controls. */
export function uid(prefix) {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** A labelled control with a place for its error, announced by screen readers. */
export function field(label, control) {
  const id = control.id || uid("f");
  control.id = id;
  const error = h("p", { class: "error", id: `${id}-error`, role: "alert", hidden: true });
  control.setAttribute("aria-describedby", error.id);
  const wrapper = h("div", { class: "field" }, h("label", { for: id }, label, control), error);
  return { wrapper, control, setError: (message) => setError(control, error, message) };
}

function setError(control, error, message) {
  error.textContent = message || "";
  error.hidden = !message;
  if (message) control.setAttribute("aria-invalid", "true");
  else control.removeAttribute("aria-invalid");
}

export function formatTime(millis) {
  return new Date(millis).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

export function streamLink(stream) {
  return h("a", { href: `#/stream/${encodeURIComponent(stream)}` }, stream);
}
