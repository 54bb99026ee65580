// `$all`, newest first, with the server's filters and paging by position.
import { h, field } from "./dom.js";
import { query, readEvents } from "./api.js";
import { eventRow, PAGE } from "./stream.js";

const FILTERS = [
  ["streamPrefix", "Stream prefix"],
  ["eventTypePrefix", "Event type prefix"],
  ["streamRegex", "Stream regex"],
  ["eventTypeRegex", "Event type regex"],
];

export function all(main, params) {
  const fields = FILTERS.map(([name, label]) => {
    const control = h("input", { name, autocomplete: "off", value: params.get(name) || "" });
    return [name, field(label, control)];
  });
  const excludeSystem = h("input", { type: "checkbox", name: "excludeSystem" });
  excludeSystem.checked = params.get("excludeSystem") !== "0";
  const problem = h("p", { class: "error", role: "alert", hidden: true });
  const list = h("div", { id: "all-events" });
  const toolbar = h("div", { class: "toolbar" });

  // The filters travel in the address, so a page can be bookmarked or reloaded.
  const filters = () => {
    const chosen = Object.fromEntries(fields.map(([name, item]) => [name, item.control.value.trim()]));
    chosen.excludeSystem = excludeSystem.checked ? "1" : "0";
    return chosen;
  };
  const goTo = (paging) => { location.hash = `#/all${query({ ...filters(), ...paging })}`; };

  const form = h("form", {
    class: "inline",
    onsubmit: (event) => { event.preventDefault(); goTo({}); },
  }, fields.map(([, item]) => item.wrapper), h("label", { class: "check" }, excludeSystem, "Leave out system events"),
  h("button", { type: "submit" }, "Apply"));

  main.append(h("h1", {}, "$all"), form, problem, toolbar, list);

  async function load() {
    const forwards = params.get("dir") === "forwards";
    const from = params.get("from") || (forwards ? "start" : "end");
    const chosen = filters();
    const serverFilters = { ...chosen, excludeSystem: chosen.excludeSystem === "1" };
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
      problem.textContent = `Could not read $all: ${error.message}`;
      problem.hidden = false;
      list.replaceChildren();
    }
  }
  load();
}
