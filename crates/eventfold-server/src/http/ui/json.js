// An event's JSON as a tree whose objects and arrays fold, plus a copy button
// for the whole document.
import { h } from "./dom.js";

function node(value, key) {
  const label = key === undefined ? [] : [h("span", { class: "key" }, JSON.stringify(key)), ": "];
  if (value !== null && typeof value === "object") {
    const entries = Array.isArray(value) ? value.map((item, index) => [index, item]) : Object.entries(value);
    const [open, close] = Array.isArray(value) ? ["[", "]"] : ["{", "}"];
    if (entries.length === 0) return h("div", {}, label, open + close);
    return h("details", { open: true },
      h("summary", {}, label, `${open} ${entries.length} ${entries.length === 1 ? "item" : "items"}`),
      entries.map(([childKey, child]) => node(child, Array.isArray(value) ? undefined : childKey)),
      h("div", {}, close));
  }
  const text = JSON.stringify(value);
  return h("div", {}, label, h("span", { class: typeof value === "string" ? "str" : "" }, text));
}

export function jsonView(title, value, encoding) {
  const text = encoding === "base64" ? String(value) : JSON.stringify(value, null, 2);
  const status = h("span", { class: "muted", role: "status" });
  const copy = h("button", {
    type: "button",
    "aria-label": `Copy ${title}`,
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(text);
        status.textContent = "copied";
      } catch {
        status.textContent = "copy refused by the browser";
      }
    },
  }, "Copy");
  const body = encoding === "base64"
    ? h("div", {}, h("span", { class: "muted" }, "base64: "), text)
    : node(value);
  return h("section", {}, h("h3", {}, title, " ", copy, " ", status), h("div", { class: "json" }, body));
}
