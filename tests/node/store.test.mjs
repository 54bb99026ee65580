// Store rules as the official Node.js client sees them, the same on the
// embedded engine and on PostgreSQL (scripts/test-node runs this file on
// both): positions in $all reads and subscriptions, stream metadata and
// retention, soft delete and tombstone, idempotent re-appends, `$ce-`
// reads and a persistent subscription group.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";

import {
  END,
  FORWARDS,
  NO_STREAM,
  START,
  StreamDeletedError,
  StreamNotFoundError,
  persistentSubscriptionToStreamSettingsFromDefaults,
  streamNameFilter,
} from "@kurrent/kurrentdb-client";

import { collect, connect, disconnect, numbered, TIMEOUT, unique } from "./helpers.mjs";


/** The first `count` items of an endless iterable, or an error after `ms`. */
async function take(iterable, count, what, ms = 10_000) {
  const items = [];
  const timer = new Promise((_, reject) =>
    setTimeout(() => reject(new Error(`timed out waiting for ${what}; have ${items.length}`)), ms).unref(),
  );
  const reading = (async () => {
    for await (const item of iterable) {
      if (item.event) items.push(item);
      if (items.length >= count) return items;
    }
    return items;
  })();
  return Promise.race([reading, timer]);
}

describe("store rules with @kurrent/kurrentdb-client", { timeout: 120_000 }, () => {
  let server;
  let client;

  before(async () => {
    ({ server, client } = await connect());
  });

  after(() => disconnect({ server, client }));

  test("$all from a position: a read includes it, a subscription starts after it", { timeout: TIMEOUT }, async () => {
    const prefix = `npos${randomUUID().replaceAll("-", "")}`;
    const filter = streamNameFilter({ prefixes: [prefix] });
    const positions = [];
    for (let n = 0; n < 3; n += 1) {
      const result = await client.appendToStream(`${prefix}-${n}`, numbered("p", 1, n));
      positions.push(result.position);
    }
    const [first, second, third] = positions;
    assert.ok(first.commit < second.commit && second.commit < third.commit, "appends' positions rise");

    const read = await collect(client.readAll({ fromPosition: second, direction: FORWARDS, filter }));
    assert.deepEqual(read.map(({ event }) => event.data.n), [1, 2]);
    assert.deepEqual(read[0].event.position, second, "the append's position is its event's");

    const subscription = client.subscribeToAll({ fromPosition: second, filter });
    try {
      const live = take(subscription, 2, "the event after the position, then a live one");
      await client.appendToStream(`${prefix}-3`, numbered("p", 1, 3));
      assert.deepEqual((await live).map(({ event }) => event.data.n), [2, 3]);
    } finally {
      await subscription.unsubscribe();
    }
  });

  test("a re-append with the same event ids writes nothing and answers the same", { timeout: TIMEOUT }, async () => {
    const stream = unique("nidem");
    const events = numbered("i", 2);
    const first = await client.appendToStream(stream, events, { streamState: NO_STREAM });
    const again = await client.appendToStream(stream, events, { streamState: NO_STREAM });
    assert.equal(again.nextExpectedRevision, first.nextExpectedRevision);
    assert.deepEqual(again.position, first.position);
    assert.equal((await collect(client.readStream(stream))).length, 2);
  });

  test("stream metadata: max count keeps the newest, truncate-before hides older", { timeout: TIMEOUT }, async () => {
    const stream = unique("nmeta");
    await client.appendToStream(stream, numbered("m", 5), { streamState: NO_STREAM });
    await client.setStreamMetadata(stream, { maxCount: 2, owner: "node" });
    const metadata = await client.getStreamMetadata(stream);
    assert.equal(metadata.metadata.maxCount, 2);
    assert.equal(metadata.metadata.owner, "node");
    // (The client reports the metadata event's commit position as its
    // `metastreamRevision`: not checked.)
    let events = await collect(client.readStream(stream));
    assert.deepEqual(events.map(({ event }) => event.revision), [3n, 4n]);

    await client.setStreamMetadata(stream, { truncateBefore: 4 }, { expectedRevision: 0n });
    events = await collect(client.readStream(stream));
    assert.deepEqual(events.map(({ event }) => event.revision), [4n]);
    const backwards = await collect(client.readStream(stream, { fromRevision: END, direction: "backwards" }));
    assert.deepEqual(backwards.map(({ event }) => event.revision), [4n]);
  });

  test("soft delete hides a stream that lives on; a tombstone deletes it for good", { timeout: TIMEOUT }, async () => {
    const stream = unique("ndel");
    await client.appendToStream(stream, numbered("d", 3), { streamState: NO_STREAM });
    await client.deleteStream(stream, { expectedRevision: 2n });
    await assert.rejects(collect(client.readStream(stream)), StreamNotFoundError);
    const again = await client.appendToStream(stream, numbered("d", 1, 3));
    assert.equal(again.nextExpectedRevision, 3n, "revisions continue after a soft delete");
    assert.deepEqual((await collect(client.readStream(stream))).map(({ event }) => event.revision), [3n]);

    await client.tombstoneStream(stream);
    await assert.rejects(collect(client.readStream(stream)), StreamDeletedError);
    await assert.rejects(client.appendToStream(stream, numbered("d", 1)), StreamDeletedError);
  });

  test("a category's events in $ce-, in the order they were appended", { timeout: TIMEOUT }, async () => {
    const category = `ncat${randomUUID().replaceAll("-", "").slice(0, 12)}`;
    await client.appendToStream(`${category}-a`, numbered("c", 1, 0));
    await client.appendToStream(`${category}-b`, numbered("c", 2, 1));
    await client.appendToStream(`${category}-a`, numbered("c", 1, 3));
    const read = async () =>
      (await collect(client.readStream(`$ce-${category}`, { fromRevision: START, resolveLinkTos: true }))).map(
        ({ event }) => [event.streamId, event.data.n],
      );
    const expected = [
      [`${category}-a`, 0],
      [`${category}-b`, 1],
      [`${category}-b`, 2],
      [`${category}-a`, 3],
    ];
    // The category index may follow the append by a moment.
    const deadline = Date.now() + 10_000;
    let seen = await read().catch(() => []);
    while (seen.length < expected.length && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      seen = await read().catch(() => []);
    }
    assert.deepEqual(seen, expected);
  });

  test("a persistent subscription group delivers history and live events once acked", { timeout: TIMEOUT }, async () => {
    const stream = unique("npers");
    const group = `group-${randomUUID().slice(0, 8)}`;
    await client.appendToStream(stream, numbered("g", 2), { streamState: NO_STREAM });
    await client.createPersistentSubscriptionToStream(
      stream,
      group,
      persistentSubscriptionToStreamSettingsFromDefaults({ startFrom: START }),
    );
    const subscription = client.subscribeToPersistentSubscriptionToStream(stream, group);
    try {
      const received = [];
      const done = new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out; have ${received.length}`)), 15_000);
        subscription.on("data", async (resolved) => {
          received.push(resolved.event.data.n);
          await subscription.ack(resolved);
          if (received.length === 3) {
            clearTimeout(timer);
            resolve();
          }
        });
        subscription.on("error", (error) => {
          clearTimeout(timer);
          reject(error);
        });
      });
      await client.appendToStream(stream, numbered("g", 1, 2), { streamState: 1n });
      await done;
      assert.deepEqual(received, [0, 1, 2]);
    } finally {
      await subscription.unsubscribe();
    }
    const info = await client.getPersistentSubscriptionToStreamInfo(stream, group);
    assert.equal(info.groupName, group);
    await client.deletePersistentSubscriptionToStream(stream, group);
  });
});
