// The stream browser's start: streams recently created and recently changed,
// narrowed by a prefix or a regular expression, and a way to open any stream.
import { h, field, formatTime, streamLink } from "./dom.js";
import { getJson, query } from "./api.js";

const LIMIT = 1000;

/** A predicate on names, or an error message for a bad regular expression. */
export function matcher(mode, text) {
  if (!text) return { test: () => true };
  if (mode === "prefix") return { test: (name) => name.startsWith(text) };
  try {
    const pattern = new RegExp(text);
    return { test: (name) => pattern.test(name) };
  } catch (error) {
    return { error: `Not a regular expression: ${error.message}` };
  }
}

function listTable(caption, id) {
  const body = h("tbody");
  const table = h("table", { id },
    h("caption", { class: "muted" }, caption),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Stream"), h("th", { scope: "col", class: "hide-narrow" }, "When"))),
    body);
  return { table, body };
}

export function streams(main, params) {
  const goto = field("Stream name", h("input", { name: "stream", required: true, autocomplete: "off" }));
  const search = field("Search", h("input", { name: "search", type: "search", value: params.get("q") || "", autocomplete: "off" }));
  const mode = h("select", { name: "mode" }, h("option", { value: "prefix" }, "prefix"), h("option", { value: "regex" }, "regular expression"));
  mode.value = params.get("mode") === "regex" ? "regex" : "prefix";
  const system = h("input", { type: "checkbox", name: "system" });
  system.checked = params.get("system") === "1";
  const created = listTable("Recently created", "recently-created");
  const changed = listTable("Recently changed", "recently-changed");
  const problem = h("p", { class: "error", role: "alert", hidden: true });
  let lists = { created: [], changed: [] };

  function show() {
    const match = matcher(mode.value, search.control.value);
    search.setError(match.error);
    for (const [which, table] of [["created", created], ["changed", changed]]) {
      const rows = match.error ? [] : lists[which].filter((item) => match.test(item.stream));
      table.body.replaceChildren(...(rows.length === 0
        ? [h("tr", {}, h("td", { colspan: 2, class: "muted" }, "No streams."))]
        : rows.map((item) => h("tr", {}, h("td", {}, streamLink(item.stream)), h("td", { class: "hide-narrow" }, formatTime(item.created))))));
    }
  }

  async function load() {
    try {
      const includeSystem = system.checked;
      const [recent, changedList] = await Promise.all([
        getJson(`/api/v1/streams${query({ order: "created", limit: LIMIT, includeSystem })}`),
        getJson(`/api/v1/streams${query({ order: "changed", limit: LIMIT, includeSystem })}`),
      ]);
      lists = { created: recent.streams, changed: changedList.streams };
      problem.hidden = true;
    } catch (error) {
      problem.textContent = `Could not list streams: ${error.message}`;
      problem.hidden = false;
    }
    show();
  }

  main.append(
    h("h1", {}, "Streams"),
    h("form", {
      class: "inline",
      onsubmit: (event) => {
        event.preventDefault();
        const name = goto.control.value.trim();
        if (!name) return goto.setError("Enter a stream name.");
        location.hash = `#/stream/${encodeURIComponent(name)}`;
      },
    }, goto.wrapper, h("button", { type: "submit" }, "Open stream")),
    h("form", { class: "inline", role: "search", onsubmit: (event) => event.preventDefault() },
      search.wrapper,
      h("label", {}, "Match by", mode),
      h("label", { class: "check" }, system, "Show system streams")),
    problem,
    h("div", { class: "columns" }, h("div", { class: "scroll" }, created.table), h("div", { class: "scroll" }, changed.table)),
  );
  search.control.addEventListener("input", show);
  mode.addEventListener("change", show);
  system.addEventListener("change", load);
  load();
}
