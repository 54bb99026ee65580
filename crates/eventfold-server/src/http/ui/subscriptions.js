// Persistent subscription groups: how far behind, what is in flight and
// parked; parked events can be replayed.
import { h } from "./dom.js";
import { getJson, send } from "./api.js";
import { lag } from "./dashboard.js";

const REFRESH_MS = 3000;

export function subscriptions(main) {
  const body = h("tbody");
  const result = h("p", { role: "status" });
  main.append(
    h("h1", {}, "Persistent subscriptions"),
    result,
    h("div", { class: "scroll" }, h("table", { id: "subscriptions" },
      h("thead", {}, h("tr", {}, ["Stream", "Group", "Status", "Lag", "In flight", "Parked", "Consumers", "Items/s", ""].map((name) => h("th", { scope: "col" }, name)))),
      body)));
  let timer = null;
  let stopped = false;

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
      if (stopped) return;
      body.replaceChildren(...(list.subscriptions.length === 0
        ? [h("tr", {}, h("td", { colspan: 9, class: "muted" }, "No persistent subscriptions."))]
        : list.subscriptions.map((group) => h("tr", {},
          h("td", {}, group.stream), h("td", {}, group.group),
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
      if (stopped) return;
      result.className = "error";
      result.textContent = `Could not list the subscriptions: ${error.message}`;
    }
    if (!stopped) timer = setTimeout(refresh, REFRESH_MS);
  }
  refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
