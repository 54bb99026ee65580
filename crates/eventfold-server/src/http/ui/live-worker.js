// The live feeds of every tab of this browser on one connection. A browser
// opens at most six HTTP/1.1 connections per origin, shared by all its tabs:
// with a feed per tab, six tabs tailing streams would leave a seventh unable
// even to load. Tabs ask this shared worker to follow streams; it keeps all
// their feeds on one `/api/v1/live` connection and, whenever the set
// changes or the connection drops, opens the next one from each feed's last
// revision (and drops what the new connection sends again).

const feeds = new Map(); // "<tab>/<id>" -> { port, id, stream, from }
let tabs = 0;
let source = null;
let order = []; // the feed keys, in the order of the open connection's `follow`s
let timer = null;
let backoff = 500;

self.onconnect = (connect) => {
  const port = connect.ports[0];
  const tab = ++tabs;
  port.onmessage = (message) => receive(tab, port, message.data);
};

function receive(tab, port, message) {
  if (message.type === "follow") {
    feeds.set(`${tab}/${message.id}`, { port, id: message.id, stream: message.stream, from: String(message.from) });
  } else if (message.type === "stop") {
    feeds.delete(`${tab}/${message.id}`);
  } else if (message.type === "leave") {
    for (const key of [...feeds.keys()]) if (key.startsWith(`${tab}/`)) feeds.delete(key);
  }
  reopenIn(0);
}

function reopenIn(delay) {
  clearTimeout(timer);
  timer = setTimeout(reopen, delay);
}

function tell(feed, message) {
  feed.port.postMessage({ id: feed.id, ...message });
}

function feedAt(index) {
  return feeds.get(order[Number(index)]);
}

function reopen() {
  if (source) source.close();
  source = null;
  order = [...feeds.keys()];
  if (order.length === 0) return;
  const search = new URLSearchParams();
  for (const key of order) {
    const feed = feeds.get(key);
    search.append("follow", `${feed.stream}@${feed.from}`);
  }
  search.set("resolveLinks", "true");
  const next = new EventSource(`/api/v1/live?${search}`);
  source = next;
  next.addEventListener("event", (message) => {
    if (source !== next) return;
    const [index, revision] = message.lastEventId.split(":");
    const feed = feedAt(index);
    if (!feed) return;
    if (/^[0-9]+$/.test(feed.from) && Number(revision) <= Number(feed.from)) return;
    feed.from = revision;
    tell(feed, { type: "event", revision, event: JSON.parse(message.data) });
  });
  next.addEventListener("caught-up", (message) => {
    if (source !== next) return;
    backoff = 500;
    const feed = feedAt(JSON.parse(message.data).feed);
    if (feed) tell(feed, { type: "status", status: "live" });
  });
  next.addEventListener("error", (message) => {
    if (source !== next) return;
    const body = message.data ? JSON.parse(message.data) : null;
    if (body && body.status) {
      // This feed could not open (deleted, not readable); the others go on.
      const feed = feedAt(body.feed);
      if (feed) {
        feeds.delete(order[body.feed]);
        tell(feed, { type: "status", status: "closed", error: body.error });
      }
      return;
    }
    // The connection dropped or a feed failed: every feed resumes on the next.
    next.close();
    for (const feed of feeds.values()) tell(feed, { type: "status", status: "reconnecting" });
    reopenIn(backoff);
    backoff = Math.min(backoff * 2, 15000);
  });
}
