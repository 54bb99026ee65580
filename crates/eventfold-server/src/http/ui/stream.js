// One stream: its events in pages, newest first; a live tail; forms to append,
// to change the metadata and to delete.
import { h, field, formatTime, uid } from "./dom.js";
import { ApiError, follow, query, readEvents, getJson, send, stopFollowing, streamPath } from "./api.js";
import { jsonView } from "./json.js";

export const PAGE = 20;

/** An event as a folded row that opens onto its details. */
export function eventRow(event, fresh = false) {
  const facts = [
    ["Stream", event.stream],
    ["Revision", event.revision],
    ["Position", event.position],
    ["Id", event.id],
    ["Content type", event.contentType],
    ["Created", formatTime(event.created)],
  ];
  if (event.link) facts.push(["Reached through link", `${event.link.stream} #${event.link.revision} (position ${event.link.position})`]);
  if (event.type === "$>" && event.dataEncoding === "base64") {
    // An unresolved link: its data is `revision@stream`, the event it points to.
    try {
      facts.push(["Link target", atob(event.data)]);
    } catch {
      /* not base64 text after all: the data view shows it */
    }
  }
  return h("details", { class: `event${fresh ? " fresh" : ""}`, "data-revision": event.revision, "data-position": event.position },
    h("summary", {},
      h("span", {}, `#${event.revision}`),
      h("span", { class: "type" }, event.type),
      event.stream ? h("span", { class: "muted" }, event.stream) : null,
      h("span", { class: "muted hide-narrow" }, formatTime(event.created))),
    h("dl", { class: "cards" }, facts.map(([name, value]) => h("div", { class: "card" }, h("dt", {}, name), h("dd", {}, String(value))))),
    jsonView("Data", event.data, event.dataEncoding),
    event.metadata === null ? h("p", { class: "muted" }, "No metadata.") : jsonView("Metadata", event.metadata, event.metadataEncoding));
}

/** The JSON in a text area, or an error message. Empty is `empty`. */
export function parseJson(text, empty) {
  if (text.trim() === "") return { value: empty };
  try {
    return { value: JSON.parse(text) };
  } catch (error) {
    return { error: `Not valid JSON: ${error.message}` };
  }
}

function expectedControl() {
  const choice = h("select", { name: "expected" },
    h("option", { value: "any" }, "any"),
    h("option", { value: "noStream" }, "no stream"),
    h("option", { value: "streamExists" }, "stream exists"),
    h("option", { value: "exact" }, "exact revision"));
  const revision = h("input", { name: "expectedRevision", inputmode: "numeric", size: 8, "aria-label": "Exact expected revision", hidden: true });
  choice.addEventListener("change", () => { revision.hidden = choice.value !== "exact"; });
  return { choice, revision };
}

export function stream(main, name, params) {
  const path = streamPath(name);
  const status = h("p", { role: "status", class: "muted" });
  const list = h("div", { id: "events" });
  const toolbar = h("div", { class: "toolbar" });
  const liveToggle = h("input", { type: "checkbox", name: "live" });
  const liveStatus = h("span", { class: "muted", role: "status" });
  let head = null; // the newest revision, null when the stream has no events
  let onFirstPage = true;

  const goTo = (from) => {
    const target = `#/stream/${encodeURIComponent(name)}${from === null ? "" : `?from=${from}`}`;
    if (location.hash === target) load();
    else location.hash = target;
  };

  async function load() {
    toolbar.replaceChildren();
    try {
      const newest = await readEvents(`${path}${query({ direction: "backwards", limit: 1 })}`);
      head = newest.length ? newest[0].revision : null;
      if (head === null) {
        list.replaceChildren(h("p", { class: "muted" }, "This stream has no events."));
        status.textContent = "";
        return;
      }
      const asked = Number.parseInt(params.get("from") ?? "", 10);
      const from = Number.isSafeInteger(asked) && asked >= 0 && asked < head ? asked : head;
      const [events, oldest] = await Promise.all([
        readEvents(`${path}${query({ direction: "backwards", from, limit: PAGE, resolveLinks: true })}`),
        readEvents(`${path}${query({ limit: 1 })}`),
      ]);
      const low = oldest.length ? oldest[0].revision : 0;
      const last = events.length ? events[events.length - 1].revision : from;
      onFirstPage = from === head;
      list.replaceChildren(...(events.length ? events.map((event) => eventRow(event)) : [h("p", { class: "muted" }, "No events on this page.")]));
      status.textContent = events.length
        ? `Revisions ${events[0].revision} to ${last} (newest is ${head}, oldest kept is ${low})`
        : "";
      const button = (label, target, disabled) => h("button", { type: "button", disabled, onclick: () => goTo(target) }, label);
      toolbar.replaceChildren(
        button("First", null, onFirstPage),
        button("Previous", Math.min(head, from + PAGE), onFirstPage),
        button("Next", last - 1, last <= low),
        button("Last", Math.min(head, low + PAGE - 1), last <= low),
      );
    } catch (error) {
      head = null;
      list.replaceChildren(h("p", { class: error.status === 404 ? "muted" : "error", role: "alert" },
        error.status === 404 ? "This stream has no events." : error.status === 410 ? "This stream is deleted." : `Could not read the stream: ${error.message}`));
      status.textContent = "";
    }
  }

  liveToggle.addEventListener("change", () => {
    if (!liveToggle.checked) {
      stopFollowing();
      liveStatus.textContent = "off";
      return;
    }
    liveStatus.textContent = "connecting…";
    let unseen = 0;
    follow(name, head === null ? "start" : head, (event) => {
      if (onFirstPage) {
        // A reload after the form's append may already show it.
        if (list.querySelector(`[data-revision="${event.revision}"]`)) return;
        list.querySelector("p.muted")?.remove();
        list.prepend(eventRow(event, true));
        head = event.revision;
      } else {
        unseen += 1;
        liveStatus.textContent = `${unseen} new; go to the first page to see them`;
      }
    }, (state) => { if (unseen === 0) liveStatus.textContent = state; });
  });

  main.append(
    h("p", {}, h("a", { href: "#/streams" }, "← Streams")),
    h("h1", {}, name),
    h("div", { class: "toolbar" }, h("label", { class: "check" }, liveToggle, "Live tail"), liveStatus),
    toolbar,
    status,
    list,
    appendForm(name, path, () => goTo(null)),
    metadataForm(name, path, load),
    deleteSection(name, path, load),
  );
  load();
  return () => stopFollowing();
}

function appendForm(name, path, done) {
  const type = field("Event type", h("input", { name: "type", autocomplete: "off" }));
  const data = field("Data (JSON)", h("textarea", { name: "data", spellcheck: "false" }, "{}"));
  const metadata = field("Metadata (JSON, optional)", h("textarea", { name: "metadata", spellcheck: "false" }));
  const { choice, revision } = expectedControl();
  const expected = field("Expected revision", choice);
  // Beside the label, not in it: the number has a label of its own.
  expected.wrapper.querySelector("label").after(revision);
  const result = h("p", { role: "status" });
  const form = h("form", { id: "append-form", novalidate: true }, h("fieldset", {},
    h("legend", {}, "Add an event"), type.wrapper, data.wrapper, metadata.wrapper, expected.wrapper,
    h("button", { type: "submit" }, "Append"), result));
  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    result.textContent = "";
    result.className = "";
    const parsedData = parseJson(data.control.value, null);
    const parsedMetadata = parseJson(metadata.control.value, null);
    const exact = revision.value.trim();
    type.setError(type.control.value.trim() ? "" : "An event needs a type.");
    data.setError(parsedData.error || (parsedData.value === null ? "Data is required." : ""));
    metadata.setError(parsedMetadata.error);
    expected.setError(choice.value === "exact" && !/^\d+$/.test(exact) ? "A revision is a whole number, 0 or more." : "");
    if (form.querySelector("[aria-invalid=true]")) return;
    const expectedRevision = choice.value === "exact" ? Number(exact) : choice.value;
    try {
      const answer = await send("POST", path, {
        expectedRevision,
        events: [{ type: type.control.value.trim(), data: parsedData.value, metadata: parsedMetadata.value }],
      });
      result.className = "ok";
      result.textContent = `Appended at revision ${answer.revision}.`;
      done();
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) {
        const current = error.body.currentRevision;
        expected.setError(`Wrong expected revision: the stream is ${current === null || current === undefined ? "absent" : `at revision ${current}`}.`);
      } else if (error instanceof ApiError && error.status === 410) {
        result.className = "error";
        result.textContent = "The stream is deleted: nothing was written.";
      } else {
        result.className = "error";
        result.textContent = `Nothing was written: ${error.message}`;
      }
    }
  });
  return form;
}

/** Checks the metadata keys the server gives a meaning to. */
export function metadataProblem(value) {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return "Metadata is a JSON object.";
  for (const key of ["$maxCount", "$maxAge", "$tb", "$cacheControl"]) {
    if (key in value && !(Number.isSafeInteger(value[key]) && value[key] >= (key === "$tb" ? 0 : 1))) {
      return `${key} must be a whole number${key === "$tb" ? ", 0 or more" : " above 0"}.`;
    }
  }
  if ("$acl" in value && (value.$acl === null || typeof value.$acl !== "object" || Array.isArray(value.$acl))) return "$acl must be an object.";
  return "";
}

function metadataForm(name, path, done) {
  const text = field("Stream metadata (JSON object: $maxCount, $maxAge in seconds, $tb, $acl, your own keys)",
    h("textarea", { name: "metadata", spellcheck: "false" }));
  const result = h("p", { role: "status" });
  const form = h("form", { id: "metadata-form", novalidate: true }, h("fieldset", {},
    h("legend", {}, "Metadata"), text.wrapper, h("button", { type: "submit" }, "Save metadata"), result));
  getJson(`${path}/metadata`)
    .then((body) => { text.control.value = JSON.stringify(body.metadata, null, 2); })
    .catch((error) => { result.className = "error"; result.textContent = `Could not read the metadata: ${error.message}`; });
  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    result.textContent = "";
    const parsed = parseJson(text.control.value, {});
    text.setError(parsed.error || metadataProblem(parsed.value));
    if (form.querySelector("[aria-invalid=true]")) return;
    try {
      await send("PUT", `${path}/metadata`, { metadata: parsed.value });
      result.className = "ok";
      result.textContent = "Saved.";
      done();
    } catch (error) {
      text.setError(`Not saved: ${error.message}`);
    }
  });
  return form;
}

function deleteSection(name, path, done) {
  const kind = uid("delete-kind");
  const soft = h("input", { type: "radio", name: kind, value: "soft", checked: true });
  const hard = h("input", { type: "radio", name: kind, value: "tombstone" });
  const result = h("p", { role: "status" });
  const dialog = h("dialog", { "aria-labelledby": `${kind}-title` },
    h("form", { method: "dialog" },
      h("h2", { id: `${kind}-title` }, `Delete ${name}?`),
      h("label", { class: "check" }, soft, "Soft delete: the events are hidden; writing again continues the stream"),
      h("label", { class: "check" }, hard, "Tombstone: deleted for ever; the name can never be used again"),
      h("div", { class: "toolbar" },
        h("button", { value: "cancel", type: "submit" }, "Cancel"),
        h("button", { value: "confirm", type: "submit", class: "danger" }, "Delete"))));
  dialog.addEventListener("close", async () => {
    if (dialog.returnValue !== "confirm") return;
    try {
      await send("DELETE", `${path}${query({ tombstone: hard.checked })}`);
      result.className = "ok";
      result.textContent = hard.checked ? "Tombstoned." : "Deleted.";
      done();
    } catch (error) {
      result.className = "error";
      result.textContent = `Not deleted: ${error.message}`;
    }
  });
  return h("fieldset", {}, h("legend", {}, "Delete"),
    h("button", { type: "button", class: "danger", onclick: () => { dialog.returnValue = ""; dialog.showModal(); } }, "Delete stream…"),
    result, dialog);
}
