// A plain-text code editor: a textarea beside a gutter of line numbers that
// scrolls with it. A syntax error marks its line in the gutter and is told
// below the editor, tied to it for screen readers.
import { h, uid } from "./dom.js";

export function codeEditor(label, initial) {
  const id = uid("code");
  const gutter = h("div", { class: "gutter", "aria-hidden": "true" });
  const area = h("textarea", { id, class: "code", spellcheck: "false", wrap: "off", rows: 14, autocomplete: "off" });
  area.value = initial || "";
  const error = h("p", { class: "error", id: `${id}-error`, role: "alert", hidden: true });
  area.setAttribute("aria-describedby", error.id);
  let badLine = null;

  function numbers() {
    const count = area.value.split("\n").length;
    if (gutter.childElementCount !== count) {
      const lines = [];
      for (let line = 1; line <= count; line += 1) lines.push(h("span", { "data-line": line }, String(line)));
      gutter.replaceChildren(...lines);
    }
    for (const span of gutter.children) span.classList.toggle("bad", Number(span.dataset.line) === badLine);
    gutter.scrollTop = area.scrollTop;
  }

  /** Shows `message`, marking `line` (from 1) when given; none clears it. */
  function setError(message, line) {
    badLine = message && line ? line : null;
    // The server's message names the line and column already.
    error.textContent = message || "";
    error.hidden = !message;
    if (message) area.setAttribute("aria-invalid", "true");
    else area.removeAttribute("aria-invalid");
    wrapper.dataset.errorLine = badLine ? String(badLine) : "";
    numbers();
  }

  area.addEventListener("input", numbers);
  area.addEventListener("scroll", () => { gutter.scrollTop = area.scrollTop; });
  area.addEventListener("keydown", (event) => {
    // Tab indents instead of leaving the field; Escape then Tab still leaves.
    if (event.key !== "Tab" || event.shiftKey || area.dataset.escaped === "1") return;
    event.preventDefault();
    area.setRangeText("  ", area.selectionStart, area.selectionEnd, "end");
    numbers();
  });
  area.addEventListener("keyup", (event) => { area.dataset.escaped = event.key === "Escape" ? "1" : ""; });
  const wrapper = h("div", { class: "field editor-field" },
    h("label", { for: id }, label),
    h("div", { class: "editor" }, gutter, area),
    error);
  numbers();
  return { wrapper, control: area, setError, value: () => area.value };
}

/** A refusal of the API as the editor shows it: at its line when it has one. */
export function showQueryError(editor, error) {
  const body = (error && error.body) || {};
  editor.setError(body.error || error.message, body.line);
}
