// The official Node.js client (@kurrent/kurrentdb-client) against a real
// `eventfold serve`: append, read a stream, read $all, subscriptions
// (history, then live events) and the error kinds it maps.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";

import {
  BACKWARDS,
  END,
  FORWARDS,
  NO_STREAM,
  START,
  StreamNotFoundError,
  WrongExpectedVersionError,
  eventTypeFilter,
  excludeSystemEvents,
  jsonEvent,
  streamNameFilter,
} from "@kurrent/kurrentdb-client";

import { health } from "./server.mjs";
import { collect, connect, disconnect, numbered, TIMEOUT, unique } from "./helpers.mjs";


/**
 * Watches a subscription: events in arrival order, whether it caught up,
 * and `until(predicate)` to wait (bounded) for a state.
 */
function watch(subscription) {
  const state = { events: [], caughtUp: false, confirmed: false, error: null };
  const waiters = new Set();
  const notify = () => {
    for (const waiter of waiters) waiter();
  };
  subscription.on("confirmation", () => {
    state.confirmed = true;
    notify();
  });
  subscription.on("data", (resolved) => {
    state.events.push(resolved);
    notify();
  });
  subscription.on("caughtUp", () => {
    state.caughtUp = true;
    notify();
  });
  subscription.on("error", (error) => {
    state.error = error;
    notify();
  });
  state.until = (predicate, what, ms = 10_000) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; have ${state.events.length} events`));
      }, ms);
      const check = () => {
        if (state.error) {
          clearTimeout(timer);
          waiters.delete(check);
          reject(state.error);
        } else if (predicate(state)) {
          clearTimeout(timer);
          waiters.delete(check);
          resolve(state);
        }
      };
      waiters.add(check);
      check();
    });
  return state;
}

const ids = (events) => events.map(({ event }) => [event.streamId, event.revision]);

describe("eventfold with @kurrent/kurrentdb-client", { timeout: 120_000 }, () => {
  let server;
  let client;
  const subscriptions = [];

  before(async () => {
    ({ server, client } = await connect());
  });

  after(async () => {
    for (const subscription of subscriptions) await subscription.unsubscribe().catch(() => {});
    await disconnect({ server, client });
  });

  test("append and read a stream forwards and backwards", { timeout: TIMEOUT }, async () => {
    const stream = unique("node");
    const result = await client.appendToStream(stream, numbered("counted", 5), { streamState: NO_STREAM });
    assert.equal(result.success, true);
    assert.equal(result.nextExpectedRevision, 4n);
    assert.equal(typeof result.position.commit, "bigint");

    const forwards = await collect(client.readStream(stream, { fromRevision: START, direction: FORWARDS }));
    assert.deepEqual(forwards.map(({ event }) => event.revision), [0n, 1n, 2n, 3n, 4n]);
    assert.deepEqual(forwards.map(({ event }) => event.data.n), [0, 1, 2, 3, 4]);
    for (const { event } of forwards) {
      assert.equal(event.streamId, stream);
      assert.equal(event.type, "counted");
      assert.equal(event.isJson, true);
    }
    const positions = forwards.map(({ event }) => event.position.commit);
    assert.ok(positions.every((position, i) => i === 0 || position > positions[i - 1]), "positions increase");

    const firstTwo = await collect(client.readStream(stream, { fromRevision: START, maxCount: 2 }));
    assert.deepEqual(firstTwo.map(({ event }) => event.revision), [0n, 1n]);
    const lastTwo = await collect(client.readStream(stream, { fromRevision: END, direction: BACKWARDS, maxCount: 2 }));
    assert.deepEqual(lastTwo.map(({ event }) => event.revision), [4n, 3n]);
    const fromTwo = await collect(client.readStream(stream, { fromRevision: 2n, maxCount: 2 }));
    assert.deepEqual(fromTwo.map(({ event }) => event.revision), [2n, 3n]);
  });

  test("reading a missing stream throws StreamNotFoundError", { timeout: TIMEOUT }, async () => {
    await assert.rejects(collect(client.readStream(unique("missing"))), StreamNotFoundError);
  });

  test("read $all forwards and backwards, filtered", { timeout: TIMEOUT }, async () => {
    const prefix = `nall${randomUUID().replaceAll("-", "")}`;
    const a = `${prefix}-a`;
    const b = `${prefix}-b`;
    const order = [a, b, a];
    const written = [];
    for (const stream of order) {
      const result = await client.appendToStream(stream, numbered("all-test", 1));
      written.push([stream, result.nextExpectedRevision]);
    }
    const ours = (events) => events.filter(({ event }) => event && event.streamId.startsWith(prefix));

    const forwards = ours(await collect(client.readAll({ fromPosition: START, direction: FORWARDS })));
    assert.deepEqual(ids(forwards), written);
    const backwards = ours(await collect(client.readAll({ fromPosition: END, direction: BACKWARDS })));
    assert.deepEqual(ids(backwards), [...written].reverse());
    const lastTwo = await collect(client.readAll({ fromPosition: END, direction: BACKWARDS, maxCount: 2 }));
    assert.deepEqual(ids(lastTwo), [...written].reverse().slice(0, 2));

    const filtered = await collect(
      client.readAll({ fromPosition: START, filter: streamNameFilter({ prefixes: [b] }) }),
    );
    assert.deepEqual(ids(filtered), [[b, 0n]]);
  });

  test("subscribe to a stream: history, caught up, then live", { timeout: TIMEOUT }, async () => {
    const stream = unique("nsub");
    await client.appendToStream(stream, numbered("s", 3), { streamState: NO_STREAM });
    const subscription = client.subscribeToStream(stream, { fromRevision: START });
    subscriptions.push(subscription);
    const state = watch(subscription);
    await state.until((s) => s.caughtUp && s.events.length >= 3, "history and caught-up");
    assert.deepEqual(state.events.map(({ event }) => event.revision), [0n, 1n, 2n]);

    await client.appendToStream(unique("nsub"), numbered("s", 1));
    await client.appendToStream(stream, numbered("s", 2, 3), { streamState: 2n });
    await state.until((s) => s.events.length >= 5, "two live events");
    assert.deepEqual(state.events.map(({ event }) => event.data.n), [0, 1, 2, 3, 4]);
    assert.deepEqual(state.events.map(({ event }) => event.revision), [0n, 1n, 2n, 3n, 4n]);
  });

  test("subscribe to $all with filters: history, then live", { timeout: TIMEOUT }, async () => {
    const prefix = `nfilt${randomUUID().replaceAll("-", "")}`;
    const stream = `${prefix}-x`;
    const typed = (type) => jsonEvent({ type, data: { type } });
    await client.appendToStream(stream, [typed("wanted"), typed("$system-like"), typed("wanted")]);
    await client.appendToStream(unique("other"), [typed("wanted")]);

    const byPrefix = watch(
      client.subscribeToAll({ fromPosition: START, filter: streamNameFilter({ prefixes: [prefix] }) }),
    );
    // The client's default exclude-system-events filter (`^[^$].*`) and the
    // lookahead form other clients send.
    const noSystem = watch(client.subscribeToAll({ fromPosition: START, filter: excludeSystemEvents() }));
    const lookahead = watch(
      client.subscribeToAll({ fromPosition: START, filter: eventTypeFilter({ regex: "^(?!\\$).*" }) }),
    );
    for (const state of [byPrefix, noSystem, lookahead]) {
      await state.until((s) => s.caughtUp, "caught-up");
    }
    assert.deepEqual(ids(byPrefix.events), [[stream, 0n], [stream, 1n], [stream, 2n]]);
    for (const state of [noSystem, lookahead]) {
      const mine = state.events.filter(({ event }) => event.streamId === stream);
      assert.deepEqual(mine.map(({ event }) => event.revision), [0n, 2n]);
      assert.ok(state.events.every(({ event }) => !event.type.startsWith("$")), "no system event types");
    }

    await client.appendToStream(stream, [typed("$again"), typed("live")]);
    await byPrefix.until((s) => s.events.length >= 5, "two live events by prefix");
    assert.deepEqual(ids(byPrefix.events.slice(3)), [[stream, 3n], [stream, 4n]]);
    for (const state of [noSystem, lookahead]) {
      await state.until((s) => s.events.some(({ event }) => event.revision === 4n && event.streamId === stream), "live");
      assert.ok(state.events.every(({ event }) => !event.type.startsWith("$")), "no system event types");
    }
  });

  test("a wrong expected revision throws WrongExpectedVersionError", { timeout: TIMEOUT }, async () => {
    const stream = unique("nwev");
    await client.appendToStream(stream, numbered("w", 3), { streamState: NO_STREAM });
    await assert.rejects(client.appendToStream(stream, numbered("w", 1), { streamState: NO_STREAM }), (error) => {
      assert.ok(error instanceof WrongExpectedVersionError, `got ${error?.constructor?.name}: ${error?.message}`);
      assert.equal(error.expectedState, NO_STREAM);
      assert.equal(error.actualState, 2n);
      return true;
    });
    await assert.rejects(client.appendToStream(stream, numbered("w", 1), { streamState: 7n }), (error) => {
      assert.ok(error instanceof WrongExpectedVersionError, `got ${error?.constructor?.name}: ${error?.message}`);
      assert.equal(error.expectedState, 7n);
      assert.equal(error.actualState, 2n);
      return true;
    });
    await assert.rejects(
      client.appendToStream(unique("nwev"), numbered("w", 1), { streamState: "stream_exists" }),
      (error) => {
        assert.ok(error instanceof WrongExpectedVersionError, `got ${error?.constructor?.name}: ${error?.message}`);
        assert.equal(error.actualState, NO_STREAM);
        return true;
      },
    );
    const events = await collect(client.readStream(stream));
    assert.equal(events.length, 3, "refused appends wrote nothing");
    assert.equal(await health(server.port), 200);
  });
});
