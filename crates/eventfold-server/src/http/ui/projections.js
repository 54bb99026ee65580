// Projections: every one with its status, progress and rate (the faulted
// reason under its status), and a form that creates one from a query.
import { h, field } from "./dom.js";
import { ApiError, getJson, send } from "./api.js";
import { codeEditor, showQueryError } from "./editor.js";
import { poller } from "./poll.js";

const REFRESH_MS = 2000;

const EXAMPLE = `fromAll()
  .when({
    $init: function () { return { count: 0 }; },
    $any: function (state, event) { state.count += 1; }
  });
`;

export function projectionPath(name) {
  return `/api/v1/projections/${encodeURIComponent(name)}`;
}

export function projectionLink(name) {
  return h("a", { href: `#/projection/${encodeURIComponent(name)}` }, name);
}

/** Projections are off on this node: the API says so with its own code. */
export function projectionsOff(error) {
  return error instanceof ApiError && error.body.code === "projections-not-running";
}

export function offNotice() {
  return h("p", { class: "muted", id: "projections-off" },
    "Projections are not enabled on this node: it was started with --run-projections None.");
}

export function progressCell(projection) {
  const percent = Math.max(0, Math.min(100, projection.progress));
  return h("td", {}, h("progress", { max: 100, value: percent, "aria-label": `Progress of ${projection.name}` }), ` ${percent.toFixed(1)}%`);
}

function createForm(onCreated) {
  const name = field("Name", h("input", { name: "name", required: true, autocomplete: "off" }));
  const mode = h("select", { name: "mode" },
    h("option", { value: "Continuous" }, "Continuous"), h("option", { value: "OneTime" }, "One-time"), h("option", { value: "Transient" }, "Transient"));
  const emit = h("input", { type: "checkbox", name: "emit" });
  const track = h("input", { type: "checkbox", name: "track" });
  const editor = codeEditor("Query", EXAMPLE);
  const result = h("p", { role: "status" });
  const form = h("form", {}, h("fieldset", {}, h("legend", {}, "New projection"),
    h("div", { class: "toolbar" }, name.wrapper, h("label", {}, "Mode", mode),
      h("label", { class: "check" }, emit, "Emit enabled"), h("label", { class: "check" }, track, "Track emitted streams")),
    editor.wrapper,
    h("div", { class: "toolbar" }, h("button", { type: "submit" }, "Create")), result));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const projection = name.control.value.trim();
    name.setError(projection || mode.value === "OneTime" ? "" : "Enter a name.");
    editor.setError(editor.value().trim() ? "" : "Enter a query.");
    if (form.querySelector("[aria-invalid=true]")) return;
    try {
      const created = await send("POST", "/api/v1/projections", {
        name: projection, mode: mode.value, query: editor.value(), emitEnabled: emit.checked, trackEmittedStreams: track.checked,
      });
      result.className = "ok";
      result.textContent = `Created ${created.statistics.name}.`;
      onCreated(created.statistics.name);
    } catch (error) {
      if (error instanceof ApiError && error.body.code === "invalid-query") showQueryError(editor, error);
      else if (error instanceof ApiError && error.body.code === "projection-exists") name.setError(error.message);
      else {
        result.className = "error";
        result.textContent = `Not created: ${error.message}`;
      }
    }
  });
  return form;
}

export function projections(main) {
  const body = h("tbody");
  const problem = h("p", { class: "error", role: "alert", hidden: true });
  const table = h("div", { class: "scroll" }, h("table", { id: "projections" },
    h("thead", {}, h("tr", {}, ["Name", "Mode", "Status", "Progress", "Events/s", "Events processed"].map((title) => h("th", { scope: "col" }, title)))),
    body));
  const form = createForm((name) => { location.hash = `#/projection/${encodeURIComponent(name)}`; });
  main.append(h("h1", {}, "Projections"), problem, table, form);

  async function refresh() {
    try {
      // /info says whether they run; asking the list of a node without them
      // would only be refused.
      const info = await getJson("/info");
      if (polling.stopped) return;
      if (info.features && info.features.projections === false) {
        main.replaceChildren(h("h1", {}, "Projections"), offNotice());
        polling.stop();
        return;
      }
      const list = await getJson("/api/v1/projections");
      if (polling.stopped) return;
      problem.hidden = true;
      body.replaceChildren(...(list.projections.length === 0
        ? [h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No projections."))]
        : list.projections.map((projection) => h("tr", { "data-name": projection.name },
          h("td", {}, projectionLink(projection.name)), h("td", {}, projection.mode),
          h("td", { class: "status" }, projection.status, projection.stateReason ? h("div", { class: "error reason" }, projection.stateReason) : null),
          progressCell(projection), h("td", {}, projection.eventsPerSecond.toFixed(1)),
          h("td", {}, String(projection.eventsProcessedAfterRestart))))));
    } catch (error) {
      if (polling.stopped) return;
      if (projectionsOff(error)) {
        main.replaceChildren(h("h1", {}, "Projections"), offNotice());
        polling.stop();
        return;
      }
      problem.textContent = `Could not list the projections: ${error.message}`;
      problem.hidden = false;
    }
  }
  const polling = poller(refresh, REFRESH_MS);
  polling.now();
  return () => polling.stop();
}
