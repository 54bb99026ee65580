// Node status and throughput, refreshed every two seconds. Rates are the
// difference of `/metrics` counters between two samples.
import { h } from "./dom.js";
import { getJson, getText } from "./api.js";
import { poller } from "./poll.js";

const REFRESH_MS = 2000;

/** The value of a Prometheus counter with the given labels, summed. */
export function counter(text, name, label) {
  let total = 0;
  let found = false;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name) || (line[name.length] !== "{" && line[name.length] !== " ")) continue;
    if (label && !line.includes(label)) continue;
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (Number.isFinite(value)) {
      total += value;
      found = true;
    }
  }
  return found ? total : null;
}

function duration(seconds) {
  const s = Math.floor(seconds);
  const parts = [[Math.floor(s / 86400), "d"], [Math.floor((s % 86400) / 3600), "h"], [Math.floor((s % 3600) / 60), "m"], [s % 60, "s"]];
  return parts.filter(([value], index) => value > 0 || index === 3).map(([value, unit]) => `${value}${unit}`).join(" ");
}

function bytes(count) {
  if (count === null || count === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = count;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** How far a group's checkpoint trails what it has read, in its own terms. */
export function lag(group) {
  if (group.lastKnown === null || group.lastKnown === undefined) return "–";
  const known = BigInt(group.lastKnown);
  const checkpointed = group.lastCheckpointed === null || group.lastCheckpointed === undefined
    ? -1n : BigInt(group.lastCheckpointed);
  const behind = known - checkpointed;
  return `${behind < 0n ? 0n : behind}${group.stream === "$all" ? " bytes" : " events"}`;
}

export function dashboard(main) {
  const cards = h("dl", { class: "cards", "aria-live": "polite" });
  const groups = h("tbody");
  const problem = h("p", { class: "error", role: "alert", hidden: true });
  main.append(
    h("h1", {}, "Dashboard"),
    problem,
    cards,
    h("h2", {}, "Persistent subscriptions"),
    h("div", { class: "scroll" }, h("table", {},
      h("thead", {}, h("tr", {}, ["Stream", "Group", "Status", "Lag", "In flight", "Parked", "Consumers"].map((name) => h("th", { scope: "col" }, name)))),
      groups)),
  );
  let previous = null;

  async function refresh() {
    try {
      const [stats, info, metrics, list] = await Promise.all([
        getJson("/stats"), getJson("/info"), getText("/metrics"), getJson("/api/v1/subscriptions"),
      ]);
      if (polling.stopped) return;
      const now = performance.now();
      // A counter appears with its first event: absent means none yet.
      const written = counter(metrics, "kurrentdb_io_events_total", 'activity="written"') ?? 0;
      const read = counter(metrics, "kurrentdb_io_events_total", 'activity="read"') ?? 0;
      const rate = (current, before) => {
        if (!previous || current === null || before === null) return "…";
        return (((current - before) * 1000) / Math.max(1, now - previous.at)).toFixed(1);
      };
      const figures = [
        ["Status", `${info.state} (${stats.store.health})`],
        ["Version", info.version || info.esVersion],
        ["Uptime", duration(stats.proc.uptimeSeconds)],
        ["Events written/s", rate(written, previous && previous.written)],
        ["Events read/s", rate(read, previous && previous.read)],
        ["Open connections", stats.proc.connections],
        ["Last position", stats.store.lastPosition ?? "–"],
        ["Memory", bytes(stats.proc.mem)],
      ];
      cards.replaceChildren(...figures.map(([name, value]) => h("div", { class: "card" }, h("dt", {}, name), h("dd", {}, String(value)))));
      groups.replaceChildren(...(list.subscriptions.length === 0
        ? [h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No persistent subscriptions."))]
        : list.subscriptions.map((group) => h("tr", {},
          h("td", {}, group.stream), h("td", {}, group.group), h("td", {}, group.status),
          h("td", {}, lag(group)), h("td", {}, String(group.inFlight)), h("td", {}, String(group.parkedCount)),
          h("td", {}, String(group.connections.length))))));
      previous = { at: now, written, read };
      problem.hidden = true;
    } catch (error) {
      if (polling.stopped) return;
      problem.textContent = `Could not reach the server: ${error.message}`;
      problem.hidden = false;
    }
  }
  const polling = poller(refresh, REFRESH_MS);
  polling.now();
  return () => polling.stop();
}
