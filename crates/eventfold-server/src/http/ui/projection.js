// One projection: how it is doing (the faulted reason too), its commands
// (enable, disable, reset from the start or after a position, delete with
// its options, each destructive one behind a confirmation), its query in an
// editor, its state per partition, its result and the streams it emitted to.
import { h, streamLink, uid } from "./dom.js";
import { ApiError, getJson, send, query } from "./api.js";
import { codeEditor, showQueryError } from "./editor.js";
import { jsonView } from "./json.js";
import { poller } from "./poll.js";
import { offNotice, projectionPath, projectionsOff } from "./projections.js";

const REFRESH_MS = 2000;

function confirmDialog(title, options, confirmLabel, onConfirm) {
  const id = uid("confirm");
  const dialog = h("dialog", { "aria-labelledby": `${id}-title` },
    h("form", { method: "dialog" },
      h("h2", { id: `${id}-title` }, title),
      options,
      h("div", { class: "toolbar" },
        h("button", { value: "cancel", type: "submit" }, "Cancel"),
        h("button", { value: "confirm", type: "submit", class: "danger" }, confirmLabel))));
  dialog.addEventListener("close", () => {
    if (dialog.returnValue === "confirm") onConfirm();
  });
  return { dialog, open: () => { dialog.returnValue = ""; dialog.showModal(); } };
}

function partitionLabel(partition) {
  return partition === "" ? "(root partition)" : partition;
}

export function projection(main, name) {
  const path = projectionPath(name);
  const cards = h("dl", { class: "cards", id: "projection-status", "aria-live": "polite" });
  const reason = h("p", { class: "error", id: "projection-reason", hidden: true });
  const result = h("p", { role: "status", id: "projection-result" });
  const editor = codeEditor("Query", "");
  const save = h("button", { type: "submit" }, "Save query");
  const emit = h("input", { type: "checkbox", name: "emit" });
  const partitions = h("div", { id: "partitions" });
  const rootResult = h("div", { id: "projection-result-json" });
  const emitted = h("ul", { id: "emitted-streams" });
  let loadedQuery = false;

  async function act(method, target, done) {
    try {
      await send(method, target);
      result.className = "ok";
      result.textContent = done;
    } catch (error) {
      result.className = "error";
      result.textContent = error.message;
    }
    polling.now();
  }

  const position = h("input", { name: "position", inputmode: "numeric", autocomplete: "off" });
  const reset = confirmDialog(`Reset ${name}?`,
    [h("p", {}, "Its state starts empty and the events are processed again."),
      h("label", {}, "After log position (empty: from the first event)", position)],
    "Reset", () => {
      const after = position.value.trim();
      if (after && !/^[0-9]+$/.test(after)) {
        result.className = "error";
        result.textContent = "A position is a decimal number.";
        return;
      }
      act("POST", `${path}/reset${query({ position: after })}`, after ? `Reset to after position ${after}.` : "Reset.");
    });
  const deleteEmitted = h("input", { type: "checkbox", name: "deleteEmittedStreams" });
  const deleteState = h("input", { type: "checkbox", name: "deleteStateStream" });
  const deleteCheckpoint = h("input", { type: "checkbox", name: "deleteCheckpointStream" });
  const remove = confirmDialog(`Delete ${name}?`,
    [h("p", {}, "A running projection must be disabled first."),
      h("label", { class: "check" }, deleteEmitted, "Also delete the streams it emitted to"),
      h("label", { class: "check" }, deleteState, "Also delete its state stream"),
      h("label", { class: "check" }, deleteCheckpoint, "Also delete its checkpoints")],
    "Delete", async () => {
      await polling.stop();
      try {
        await send("DELETE", `${path}${query({
          deleteEmittedStreams: deleteEmitted.checked, deleteStateStream: deleteState.checked, deleteCheckpointStream: deleteCheckpoint.checked,
        })}`);
        location.hash = "#/projections";
      } catch (error) {
        result.className = "error";
        result.textContent = `Not deleted: ${error.message}`;
        polling.resume();
      }
    });

  const queryForm = h("form", {}, editor.wrapper,
    h("div", { class: "toolbar" }, h("label", { class: "check" }, emit, "Emit enabled"), save));
  queryForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    editor.setError("");
    try {
      await send("PUT", `${path}/query`, { query: editor.value(), emitEnabled: emit.checked });
      result.className = "ok";
      result.textContent = "Query saved; the projection goes on from its checkpoint.";
    } catch (error) {
      if (error instanceof ApiError && error.body.code === "invalid-query") showQueryError(editor, error);
      else editor.setError(`Not saved: ${error.message}`);
    }
    polling.now();
  });

  main.append(
    h("h1", {}, "Projection ", name),
    h("p", {}, h("a", { href: "#/projections" }, "All projections")),
    cards, reason,
    h("div", { class: "toolbar" },
      h("button", { type: "button", onclick: () => act("POST", `${path}/enable`, "Enabled.") }, "Enable"),
      h("button", { type: "button", onclick: () => act("POST", `${path}/disable`, "Disabled.") }, "Disable"),
      h("button", { type: "button", class: "danger", onclick: reset.open }, "Reset…"),
      h("button", { type: "button", class: "danger", onclick: remove.open }, "Delete…")),
    result, reset.dialog, remove.dialog,
    h("h2", {}, "Query"), queryForm,
    h("h2", {}, "State by partition"), partitions,
    h("h2", {}, "Result"), rootResult,
    h("h2", {}, "Emitted streams"), emitted);

  function showDetail(detail) {
    const statistics = detail.statistics;
    const shown = [
      ["Status", statistics.status], ["Mode", statistics.mode], ["Progress", `${statistics.progress.toFixed(1)}%`],
      ["Events/s", statistics.eventsPerSecond.toFixed(1)], ["Events processed", statistics.eventsProcessedAfterRestart],
      ["Position", statistics.position], ["Behind the head", `${statistics.lagBytes} bytes`],
    ];
    cards.replaceChildren(...shown.map(([title, value]) => h("div", { class: "card" }, h("dt", {}, title), h("dd", {}, String(value)))));
    reason.textContent = statistics.stateReason ? `Faulted: ${statistics.stateReason}` : "";
    reason.hidden = !statistics.stateReason;
    if (!loadedQuery) {
      editor.control.value = detail.query;
      editor.control.dispatchEvent(new Event("input"));
      emit.checked = detail.emitEnabled;
      editor.control.readOnly = detail.system;
      save.disabled = detail.system;
      loadedQuery = true;
    }
  }

  function showState(list, root, streams) {
    partitions.replaceChildren(...(list.partitions.length === 0
      ? [h("p", { class: "muted" }, "No state yet.")]
      : list.partitions.map((held) => h("div", { class: "partition", "data-partition": held.partition },
        jsonView(partitionLabel(held.partition), held.state)))));
    rootResult.replaceChildren(root.result === null
      ? h("p", { class: "muted" }, "No result for the root partition.")
      : jsonView("Result", root.result));
    emitted.replaceChildren(...(streams.streams.length === 0
      ? [h("li", { class: "muted" }, "None tracked.")]
      : streams.streams.map((stream) => h("li", {}, streamLink(stream)))));
  }

  async function refresh() {
    try {
      const detail = await getJson(path);
      const [list, root, streams] = await Promise.all([
        getJson(`${path}/partitions`), getJson(`${path}/state`), getJson(`${path}/emitted-streams`),
      ]);
      if (polling.stopped) return;
      showDetail(detail);
      showState(list, root, streams);
    } catch (error) {
      if (polling.stopped) return;
      if (projectionsOff(error)) {
        main.replaceChildren(h("h1", {}, "Projection ", name), offNotice());
        // Nothing left to refresh; not awaited, as this run is what it waits for.
        polling.stop();
        return;
      }
      result.className = "error";
      result.textContent = error instanceof ApiError && error.status === 404
        ? `No projection named ${name}.`
        : `Could not read the projection: ${error.message}`;
    }
  }
  const polling = poller(refresh, REFRESH_MS);
  polling.now();
  return () => polling.stop();
}
