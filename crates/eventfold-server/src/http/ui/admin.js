// Scavenges: start one, follow its progress, stop it; the last one's figures.
import { h, formatTime } from "./dom.js";
import { ApiError, getJson, send } from "./api.js";
import { poller } from "./poll.js";

const REFRESH_MS = 1000;

export function admin(main) {
  const progress = h("progress", { id: "scavenge-progress", max: 1, value: 0, "aria-label": "Scavenge progress" });
  const figures = h("dl", { class: "cards", id: "scavenge-figures", "aria-live": "polite" });
  const result = h("p", { role: "status" });
  const start = h("button", { type: "button", onclick: () => act("POST", "/api/v1/scavenges", "Scavenge started.") }, "Start scavenge");
  const stop = h("button", { type: "button", class: "danger", disabled: true, onclick: () => act("DELETE", "/api/v1/scavenges/current", "Stop asked.") }, "Stop scavenge");
  main.append(h("h1", {}, "Admin"), h("h2", {}, "Scavenge"),
    h("p", { class: "muted" }, "A scavenge removes deleted and expired events from the log and gives the space back."),
    h("div", { class: "toolbar" }, start, stop), result, progress, figures);

  async function act(method, path, done) {
    try {
      await send(method, path);
      result.className = "ok";
      result.textContent = done;
    } catch (error) {
      result.className = "error";
      result.textContent = error.message;
    }
    polling.now();
  }

  async function refresh() {
    try {
      const status = await getJson("/api/v1/scavenges/last");
      if (polling.stopped) return;
      const running = status.state === "running";
      start.disabled = running;
      stop.disabled = !running;
      progress.max = Math.max(1, status.segments_total);
      progress.value = status.state === "completed" ? progress.max : status.segments_done;
      const shown = [
        ["Id", status.id],
        ["State", status.state],
        ["Segments", `${status.segments_done} of ${status.segments_total}`],
        ["Started", formatTime(status.started)],
        ["Finished", status.finished ? formatTime(status.finished) : "–"],
        ["Bytes read", status.bytes_read],
        ["Bytes reclaimed", status.bytes_reclaimed],
        ["Events kept", status.events_kept],
        ["Events removed", status.events_removed],
      ];
      if (status.error) shown.push(["Error", status.error]);
      figures.replaceChildren(...shown.map(([name, value]) => h("div", { class: "card" }, h("dt", {}, name), h("dd", {}, String(value)))));
    } catch (error) {
      if (polling.stopped) return;
      if (error instanceof ApiError && error.status === 404) {
        figures.replaceChildren(h("p", { class: "muted" }, "No scavenge has run since the server started."));
      } else {
        result.className = "error";
        result.textContent = `Could not read the scavenge status: ${error.message}`;
      }
    }
  }
  const polling = poller(refresh, REFRESH_MS);
  polling.now();
  return () => polling.stop();
}
