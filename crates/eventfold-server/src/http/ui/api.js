// The calls the UI makes, all to the server's public HTTP endpoints, and the
// page's one live feed.

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

// Sent with every request of the UI: a refusal then comes without the Basic
// challenge, and the UI shows its own login form instead of the browser's.
const UI_HEADERS = { "x-eventfold-ui": "1" };

async function failure(response) {
  if (response.status === 401) showLogin();
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = { error: `HTTP ${response.status} ${response.statusText}` };
  }
  return new ApiError(response.status, body);
}

export async function getJson(path) {
  const response = await fetch(path, { headers: { ...UI_HEADERS, accept: "application/json" } });
  if (!response.ok) throw await failure(response);
  return response.json();
}

export async function getText(path) {
  const response = await fetch(path, { headers: UI_HEADERS });
  if (!response.ok) throw await failure(response);
  return response.text();
}

/** A JSON request with a body; resolves to the answer's JSON, if any. */
export async function send(method, path, body) {
  const init = { method, headers: { ...UI_HEADERS } };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (!response.ok) throw await failure(response);
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

/** An NDJSON read, as an array of events. */
export async function readEvents(path) {
  const text = await getText(path);
  return text.split("\n").filter((line) => line.trim() !== "").map((line) => JSON.parse(line));
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "" && value !== false) search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export function streamPath(stream) {
  return `/api/v1/streams/${encodeURIComponent(stream)}`;
}

// A browser opens at most six connections per origin over HTTP/1.1, shared by
// all its tabs: the feeds of every tab go through one shared worker on one
// connection (`live-worker.js`). A page holds at most one feed, and opening
// another closes it. Where a browser has no shared workers, the page keeps a
// connection of its own.
let feed = null;
let worker;
let nextFeedId = 0;
const handlers = new Map(); // feed id -> { stream, from, onEvent, onStatus }

function liveWorker() {
  if (worker !== undefined) return worker;
  worker = typeof SharedWorker === "undefined" ? null : new SharedWorker("/ui/live-worker.js", { name: "eventfold-live" });
  if (!worker) return null;
  worker.port.onmessage = ({ data }) => {
    const handler = handlers.get(data.id);
    if (!handler) return;
    if (data.type === "event") {
      handler.from = data.revision;
      handler.onEvent(data.event);
    } else {
      handler.onStatus(data.status);
    }
  };
  // A page going away gives its feeds up; one restored from the back-forward
  // cache asks for them again, from where it was.
  addEventListener("pagehide", () => worker.port.postMessage({ type: "leave" }));
  addEventListener("pageshow", (event) => {
    if (!event.persisted) return;
    for (const [id, handler] of handlers) worker.port.postMessage({ type: "follow", id, stream: handler.stream, from: handler.from });
  });
  return worker;
}

/** Follows `stream` after `from` (`start` or a revision), links resolved. */
export function follow(stream, from, onEvent, onStatus) {
  stopFollowing();
  const shared = liveWorker();
  if (shared) {
    const id = ++nextFeedId;
    handlers.set(id, { stream, from, onEvent, onStatus });
    shared.port.postMessage({ type: "follow", id, stream, from });
    feed = {
      close() {
        handlers.delete(id);
        shared.port.postMessage({ type: "stop", id });
      },
    };
    return;
  }
  const source = new EventSource(`${streamPath(stream)}/live${query({ from, resolveLinks: true })}`);
  feed = source;
  source.addEventListener("open", () => onStatus("live"));
  source.addEventListener("caught-up", () => onStatus("live"));
  source.addEventListener("event", (message) => onEvent(JSON.parse(message.data)));
  source.addEventListener("error", () => {
    // The browser reconnects by itself (sending Last-Event-ID); say so.
    if (feed === source) onStatus(source.readyState === EventSource.CLOSED ? "closed" : "reconnecting");
  });
}

export function stopFollowing() {
  if (feed) feed.close();
  feed = null;
}

/** Shows the login form (once): the node authenticates and this browser has
 * no session. Logging in sets a session cookie, which every later request
 * and live feed of this browser carries; the page then starts again. */
export function showLogin() {
  const dialog = document.getElementById("login");
  if (!dialog || dialog.open) return;
  const form = dialog.querySelector("form");
  const error = dialog.querySelector(".error");
  form.onsubmit = async (event) => {
    event.preventDefault();
    const login = form.elements.login.value;
    const password = form.elements.password.value;
    const response = await fetch("/ui/session", {
      method: "POST",
      headers: { ...UI_HEADERS, "content-type": "application/json" },
      body: JSON.stringify({ login, password }),
    });
    if (response.ok) {
      dialog.close();
      location.reload();
      return;
    }
    let message = `HTTP ${response.status}`;
    try {
      message = (await response.json()).error || message;
    } catch {
      // the status says enough
    }
    error.textContent = message;
  };
  dialog.showModal();
  form.elements.login.focus();
}

/** Ends this browser's session. */
export async function logout() {
  await fetch("/ui/session", { method: "DELETE", headers: UI_HEADERS });
  location.reload();
}
