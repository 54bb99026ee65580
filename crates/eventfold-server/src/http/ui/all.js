// `$all`, newest first, with the server's filters and paging by position.
import { h, field } from "./dom.js";
import { query, readEvents } from "./api.js";
import { eventRow, PAGE } from "./stream.js";

// The server takes one filter at a time: the form offers one kind and a value.
const KINDS = [
  ["excludeSystem", "Leave out system events"],
  ["none", "Everything"],
  ["streamPrefix", "Stream prefix"],
  ["eventTypePrefix", "Event type prefix"],
  ["streamRegex", "Stream regex"],
  ["eventTypeRegex", "Event type regex"],
];
const NEEDS_VALUE = new Set(["streamPrefix", "eventTypePrefix", "streamRegex", "eventTypeRegex"]);

export function all(main, params) {
  const kind = h("select", { name: "filter" }, KINDS.map(([value, label]) => h("option", { value }, label)));
  kind.value = KINDS.some(([value]) => value === params.get("filter")) ? params.get("filter") : "excludeSystem";
  const value = field("Filter value (prefixes separated by commas)", h("input", { name: "value", autocomplete: "off", value: params.get("value") || "" }));
  const showValue = () => { value.wrapper.hidden = !NEEDS_VALUE.has(kind.value); };
  kind.addEventListener("change", showValue);
  showValue();
  const problem = h("p", { class: "error", role: "alert", hidden: true });
  const list = h("div", { id: "all-events" });
  const toolbar = h("div", { class: "toolbar" });

  // The filter travels in the address, so a page can be bookmarked or reloaded.
  const chosen = () => ({ filter: kind.value, value: NEEDS_VALUE.has(kind.value) ? value.control.value.trim() : "" });
  const goTo = (paging) => { location.hash = `#/all${query({ ...chosen(), ...paging })}`; };

  const form = h("form", {
    class: "inline",
    novalidate: true,
    onsubmit: (event) => {
      event.preventDefault();
      const missing = NEEDS_VALUE.has(kind.value) && !value.control.value.trim();
      value.setError(missing ? "This filter needs a value." : "");
      if (!missing) goTo({});
    },
  }, h("label", {}, "Filter", kind), value.wrapper, h("button", { type: "submit" }, "Apply"));

  main.append(h("h1", {}, "$all"), form, problem, toolbar, list);

  async function load() {
    const forwards = params.get("dir") === "forwards";
    const from = params.get("from") || (forwards ? "start" : "end");
    const { filter, value: text } = chosen();
    const serverFilters = filter === "excludeSystem" ? { excludeSystem: true } : NEEDS_VALUE.has(filter) ? { [filter]: text } : {};
    try {
      let events = await readEvents(`/api/v1/all${query({
        ...serverFilters, from, direction: forwards ? "forwards" : "backwards", limit: PAGE, resolveLinks: true,
      })}`);
      if (forwards) events = events.reverse();
      problem.hidden = true;
      list.replaceChildren(...(events.length ? events.map((event) => eventRow(event)) : [h("p", { class: "muted" }, "No events.")]));
      const first = !params.get("from");
      const full = events.length === PAGE;
      const newest = events[0];
      const oldest = events[events.length - 1];
      const button = (label, paging, disabled) => h("button", { type: "button", disabled, onclick: () => goTo(paging) }, label);
      toolbar.replaceChildren(
        button("First", {}, first),
        button("Previous", newest ? { from: (BigInt(newest.position) + 1n).toString(), dir: "forwards" } : {}, first || (forwards && !full)),
        button("Next", oldest ? { from: oldest.position } : {}, !oldest || (!forwards && !full) || (forwards && from === "start")),
        button("Last", { from: "start", dir: "forwards" }, forwards && from === "start"),
      );
    } catch (error) {
      // A filter the server refuses (a bad regex) is said next to its value.
      if (error.status === 400 && NEEDS_VALUE.has(kind.value)) value.setError(error.message);
      else {
        problem.textContent = `Could not read $all: ${error.message}`;
        problem.hidden = false;
      }
      list.replaceChildren();
    }
  }
  load();
}
