// One persistent subscription group: its settings (edited in place), its
// connected consumers, its parked events (the group's `parked` route,
// replayed or discarded up to a stop-at revision), and its deletion behind
// a confirmation.
import { h, field, uid } from "./dom.js";
import { ApiError, getJson, send, query } from "./api.js";
import { jsonView } from "./json.js";
import { poller } from "./poll.js";

const REFRESH_MS = 3000;
const PARKED_SHOWN = 100;

/** The settings a form edits: name, label, kind. */
export const SETTINGS = [
  ["startFrom", "Start from (start, end or a number)", "text"],
  ["consumerStrategy", "Consumer strategy", "strategy"],
  ["resolveLinks", "Resolve links", "check"],
  ["extraStatistics", "Extra statistics", "check"],
  ["messageTimeoutMs", "Message timeout (ms)", "number"],
  ["maxRetryCount", "Max retry count", "number"],
  ["liveBufferSize", "Live buffer size", "number"],
  ["readBatchSize", "Read batch size", "number"],
  ["historyBufferSize", "History buffer size", "number"],
  ["checkpointAfterMs", "Checkpoint after (ms)", "number"],
  ["minCheckpointCount", "Min checkpoint count", "number"],
  ["maxCheckpointCount", "Max checkpoint count", "number"],
  ["maxSubscriberCount", "Max subscribers (0: no limit)", "number"],
];

const STRATEGIES = ["RoundRobin", "DispatchToSingle", "Pinned", "PinnedByCorrelation"];

export function groupPath(stream, group) {
  return `/api/v1/subscriptions/${encodeURIComponent(stream)}/${encodeURIComponent(group)}`;
}

export function groupLink(stream, group) {
  return h("a", { href: `#/subscription/${encodeURIComponent(stream)}/${encodeURIComponent(group)}` }, group);
}

/** Controls for the settings, filled from `values`; `read()` answers the body of a PUT or an error. */
export function settingsControls(values) {
  const controls = {};
  const wrappers = SETTINGS.map(([name, label, kind]) => {
    let control;
    if (kind === "check") {
      control = h("input", { type: "checkbox", name });
      control.checked = Boolean(values[name]);
      return { wrapper: h("label", { class: "check" }, control, label), name, kind, control, setError: () => {} };
    }
    if (kind === "strategy") {
      control = h("select", { name }, STRATEGIES.map((strategy) => h("option", { value: strategy }, strategy)));
      control.value = values[name] || "RoundRobin";
    } else {
      control = h("input", { name, autocomplete: "off", inputmode: kind === "number" ? "numeric" : null });
      control.value = values[name] === undefined ? "" : String(values[name]);
    }
    const built = field(label, control);
    return { ...built, name, kind };
  });
  for (const item of wrappers) controls[item.name] = item;
  function read() {
    const body = {};
    let valid = true;
    for (const item of wrappers) {
      const value = item.kind === "check" ? item.control.checked : item.control.value.trim();
      if (item.kind === "number") {
        if (value === "") { item.setError(""); continue; }
        if (!/^[0-9]+$/.test(value)) { item.setError("A whole number."); valid = false; continue; }
        body[item.name] = Number(value);
      } else if (item.kind === "text") {
        if (value !== "" && !/^(start|end|[0-9]+)$/.test(value)) { item.setError("start, end or a number."); valid = false; continue; }
        if (value !== "") body[item.name] = value;
      } else {
        body[item.name] = value;
      }
      item.setError("");
    }
    return valid ? body : null;
  }
  return { elements: wrappers.map((item) => item.wrapper), read, controls };
}

function confirmDialog(title, content, confirmLabel, onConfirm) {
  const id = uid("confirm");
  const dialog = h("dialog", { "aria-labelledby": `${id}-title` },
    h("form", { method: "dialog" }, h("h2", { id: `${id}-title` }, title), content,
      h("div", { class: "toolbar" },
        h("button", { value: "cancel", type: "submit" }, "Cancel"),
        h("button", { value: "confirm", type: "submit", class: "danger" }, confirmLabel))));
  dialog.addEventListener("close", () => { if (dialog.returnValue === "confirm") onConfirm(); });
  return { dialog, open: () => { dialog.returnValue = ""; dialog.showModal(); } };
}

export function subscription(main, stream, group) {
  const path = groupPath(stream, group);
  const cards = h("dl", { class: "cards", id: "group-status", "aria-live": "polite" });
  const result = h("p", { role: "status", id: "group-result" });
  const consumers = h("tbody");
  const parked = h("div", { id: "parked-events" });
  const settingsForm = h("form", { id: "group-settings" });
  const stopAt = field("Stop at parked revision (empty: all)", h("input", { name: "stopAt", inputmode: "numeric", autocomplete: "off" }));

  function say(ok, text) {
    result.className = ok ? "ok" : "error";
    result.textContent = text;
  }

  function stopAtQuery() {
    const value = stopAt.control.value.trim();
    if (value !== "" && !/^[0-9]+$/.test(value)) {
      stopAt.setError("A whole number.");
      return null;
    }
    stopAt.setError("");
    return query({ stopAt: value });
  }

  async function parkedAction(verb, done) {
    const suffix = stopAtQuery();
    if (suffix === null) return;
    try {
      await send("POST", `${path}/${verb}${suffix}`);
      say(true, done);
    } catch (error) {
      say(false, error.message);
    }
    polling.now();
  }

  const truncate = confirmDialog(`Discard the parked events of ${group}?`,
    h("p", {}, "They are not delivered again (below the stop-at revision, or all)."), "Discard",
    () => parkedAction("truncate-parked", "Parked events discarded."));
  const remove = confirmDialog(`Delete the group ${group} on ${stream}?`,
    h("p", {}, "Its consumers are dropped; its checkpoint and parked events are deleted."), "Delete",
    async () => {
      await polling.stop();
      try {
        await send("DELETE", path);
        location.hash = "#/subscriptions";
      } catch (error) {
        say(false, `Not deleted: ${error.message}`);
        polling.resume();
      }
    });

  async function loadSettings() {
    const values = await getJson(`${path}/settings`);
    const controls = settingsControls(values);
    settingsForm.replaceChildren(h("fieldset", {}, h("legend", {}, "Settings"), filterLine(values.filter),
      h("div", { class: "settings" }, controls.elements),
      h("div", { class: "toolbar" }, h("button", { type: "submit" }, "Save settings"))));
    settingsForm.onsubmit = async (event) => {
      event.preventDefault();
      const body = controls.read();
      if (!body) return;
      try {
        await send("PUT", path, body);
        say(true, "Settings saved; the group restarts from its checkpoint.");
      } catch (error) {
        say(false, `Not saved: ${error.message}`);
      }
    };
  }

  async function showParked(count) {
    if (count === 0) {
      parked.replaceChildren(h("p", { class: "muted" }, "No parked events."));
      return;
    }
    // Parked entries are links to the events: resolved, each shows the
    // event it parks, and the link's revision is what stop-at counts. The
    // group's own route answers none, not 404, when a replay or a discard
    // has just emptied them.
    const { events } = await getJson(`${path}/parked${query({ limit: PARKED_SHOWN })}`);
    parked.replaceChildren(...events.map((event) => {
      const revision = event.link ? event.link.revision : event.revision;
      return h("details", { class: "event", "data-revision": revision },
        h("summary", {}, h("span", { class: "type" }, event.type), h("span", {}, `parked revision ${revision}`),
          h("span", { class: "muted" }, `event ${event.revision} of ${event.stream}`)),
        jsonView("Data", event.data, event.dataEncoding));
    }));
  }

  async function refresh() {
    try {
      const info = await getJson(path);
      if (polling.stopped) return;
      const shown = [["Status", info.status], ["Strategy", info.consumerStrategy], ["Last checkpoint", info.lastCheckpointed ?? "–"],
        ["Last known", info.lastKnown ?? "–"], ["In flight", info.inFlight], ["Parked", info.parkedCount], ["Items/s", info.averagePerSecond.toFixed(1)]];
      cards.replaceChildren(...shown.map(([title, value]) => h("div", { class: "card" }, h("dt", {}, title), h("dd", {}, String(value)))));
      consumers.replaceChildren(...(info.connections.length === 0
        ? [h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No consumer connected."))]
        : info.connections.map((connection) => h("tr", {}, h("td", {}, connection.name || "–"), h("td", {}, connection.from),
          h("td", {}, String(connection.inFlight)), h("td", {}, String(connection.totalItems)),
          h("td", {}, connection.averageItemsPerSecond.toFixed(1))))));
      await showParked(info.parkedCount);
    } catch (error) {
      if (polling.stopped) return;
      say(false, error instanceof ApiError && error.status === 404 ? `No group ${group} on ${stream}.` : `Could not read the group: ${error.message}`);
    }
  }
  const polling = poller(refresh, REFRESH_MS);

  main.append(
    h("h1", {}, "Group ", group, " on ", stream),
    h("p", {}, h("a", { href: "#/subscriptions" }, "All subscriptions")),
    cards, result,
    h("h2", {}, "Consumers"),
    h("div", { class: "scroll" }, h("table", { id: "consumers" },
      h("thead", {}, h("tr", {}, ["Name", "From", "In flight", "Items", "Items/s"].map((title) => h("th", { scope: "col" }, title)))), consumers)),
    h("h2", {}, "Parked events"),
    h("div", { class: "toolbar" }, stopAt.wrapper,
      h("button", { type: "button", onclick: () => parkedAction("replay-parked", "Replaying the parked events.") }, "Replay parked"),
      h("button", { type: "button", class: "danger", onclick: truncate.open }, "Discard parked…")),
    parked, truncate.dialog,
    settingsForm,
    h("div", { class: "toolbar" }, h("button", { type: "button", class: "danger", onclick: remove.open }, "Delete group…")),
    remove.dialog);
  loadSettings().catch((error) => say(false, `Could not read the settings: ${error.message}`)).then(() => polling.now());
  return () => polling.stop();
}

/** A `$all` group's filter, shown but not edited: it is fixed when the group
 * is created (an update carries none), so changing it means a new group. */
function filterLine(filter) {
  if (!filter) return null;
  const on = filter.target === "eventType" ? "event types" : "stream names";
  const what = filter.regex !== undefined ? `${on} matching ${filter.regex}` : `${on} starting with ${filter.prefixes.join(", ")}`;
  return h("p", { id: "group-filter" }, h("strong", {}, "Filter: "), what,
    h("span", { class: "muted" }, " (fixed when the group was created: delete the group and create it again to change it)"));
}
