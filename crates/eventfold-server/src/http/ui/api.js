// The calls the UI makes, all to the server's public HTTP endpoints, and the
// page's one live feed.

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

async function failure(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = { error: `HTTP ${response.status} ${response.statusText}` };
  }
  return new ApiError(response.status, body);
}

export async function getJson(path) {
  const response = await fetch(path, { headers: { accept: "application/json" } });
  if (!response.ok) throw await failure(response);
  return response.json();
}

export async function getText(path) {
  const response = await fetch(path);
  if (!response.ok) throw await failure(response);
  return response.text();
}

/** A JSON request with a body; resolves to the answer's JSON, if any. */
export async function send(method, path, body) {
  const init = { method, headers: {} };
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
// all its tabs: a page holds at most one feed, and opening another closes it.
let feed = null;

export function follow(url, onEvent, onStatus) {
  stopFollowing();
  const source = new EventSource(url);
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
