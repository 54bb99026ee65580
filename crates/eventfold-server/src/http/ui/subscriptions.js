// Persistent subscription groups: how far behind, what is in flight and
// parked; parked events can be replayed.
import { h, field } from "./dom.js";
import { getJson, send } from "./api.js";
import { lag } from "./dashboard.js";
import { groupLink, groupPath, settingsControls } from "./subscription.js";
import { poller } from "./poll.js";

const REFRESH_MS = 3000;

// A new group: its stream (or $all) and name, and settings left empty take
// the server's defaults.
function createForm() {
  const stream = field("Stream (or $all)", h("input", { name: "stream", autocomplete: "off" }));
  const group = field("Group", h("input", { name: "group", autocomplete: "off" }));
  const settings = settingsControls({ startFrom: "end", consumerStrategy: "RoundRobin" });
  const outcome = h("p", { role: "status" });
  const form = h("form", {}, h("details", {}, h("summary", {}, "New group"),
    h("div", { class: "toolbar" }, stream.wrapper, group.wrapper),
    h("div", { class: "settings" }, settings.elements),
    h("div", { class: "toolbar" }, h("button", { type: "submit" }, "Create group")), outcome));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const streamName = stream.control.value.trim();
    const groupName = group.control.value.trim();
    stream.setError(streamName ? "" : "Enter a stream.");
    group.setError(groupName ? "" : "Enter a group name.");
    const body = settings.read();
    if (!streamName || !groupName || !body) return;
    try {
      // A PUT of an existing group updates it: creating must not.
      const { subscriptions: groups } = await getJson("/api/v1/subscriptions");
      if (groups.some((known) => known.stream === streamName && known.group === groupName)) {
        return group.setError("A group of that name exists on this stream.");
      }
      await send("PUT", groupPath(streamName, groupName), body);
      location.hash = `#/subscription/${encodeURIComponent(streamName)}/${encodeURIComponent(groupName)}`;
    } catch (error) {
      outcome.className = "error";
      outcome.textContent = `Not created: ${error.message}`;
    }
  });
  return form;
}

export function subscriptions(main) {
  const body = h("tbody");
  const result = h("p", { role: "status" });
  main.append(
    h("h1", {}, "Persistent subscriptions"),
    createForm(),
    result,
    h("div", { class: "scroll" }, h("table", { id: "subscriptions" },
      h("thead", {}, h("tr", {}, ["Stream", "Group", "Status", "Lag", "In flight", "Parked", "Consumers", "Items/s", ""].map((name) => h("th", { scope: "col" }, name)))),
      body)));

  async function replay(group) {
    try {
      const path = `/api/v1/subscriptions/${encodeURIComponent(group.stream)}/${encodeURIComponent(group.group)}/replay-parked`;
      await send("POST", path);
      result.className = "ok";
      result.textContent = `Replaying the parked events of ${group.group} on ${group.stream}.`;
    } catch (error) {
      result.className = "error";
      result.textContent = `Could not replay: ${error.message}`;
    }
  }

  async function refresh() {
    try {
      const list = await getJson("/api/v1/subscriptions");
      if (polling.stopped) return;
      body.replaceChildren(...(list.subscriptions.length === 0
        ? [h("tr", {}, h("td", { colspan: 9, class: "muted" }, "No persistent subscriptions."))]
        : list.subscriptions.map((group) => h("tr", {},
          h("td", {}, group.stream), h("td", {}, groupLink(group.stream, group.group)),
          h("td", {}, group.status, group.failure ? h("div", { class: "error" }, group.failure) : null),
          h("td", {}, lag(group)), h("td", {}, String(group.inFlight)), h("td", {}, String(group.parkedCount)),
          h("td", {}, String(group.connections.length)), h("td", {}, group.averagePerSecond.toFixed(1)),
          h("td", {}, h("button", {
            type: "button",
            disabled: group.parkedCount === 0,
            "aria-label": `Replay parked events of ${group.group} on ${group.stream}`,
            onclick: () => replay(group),
          }, "Replay parked"))))));
    } catch (error) {
      if (polling.stopped) return;
      result.className = "error";
      result.textContent = `Could not list the subscriptions: ${error.message}`;
    }
  }
  const polling = poller(refresh, REFRESH_MS);
  polling.now();
  return () => polling.stop();
}
