// `multiStreamAppend` of the official Node.js client: KurrentDB's second
// streams protocol (AppendSession), every stream appended to or none.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { ANY, NO_STREAM, StreamNotFoundError, WrongExpectedVersionError, jsonEvent } from "@kurrent/kurrentdb-client";

import { collect, connect, disconnect, TIMEOUT, unique } from "./helpers.mjs";

describe("multiStreamAppend with @kurrent/kurrentdb-client", { timeout: 120_000 }, () => {
  let server;
  let client;

  before(async () => {
    ({ server, client } = await connect());
  });

  after(async () => {
    await disconnect({ server, client });
  });

  test("appends to several streams in one transaction", { timeout: TIMEOUT }, async () => {
    const orders = unique("multiorder");
    const payments = unique("multipayment");
    const result = await client.multiStreamAppend([
      {
        streamName: orders,
        expectedState: NO_STREAM,
        events: [
          jsonEvent({ type: "Placed", data: { n: 1 }, metadata: { source: "web" } }),
          jsonEvent({ type: "Priced", data: { n: 2 } }),
        ],
      },
      { streamName: payments, expectedState: ANY, events: [jsonEvent({ type: "Paid", data: { n: 3 } })] },
    ]);
    assert.deepEqual(
      result.responses.map(({ streamName, revision }) => [streamName, revision]),
      [
        [orders, 1n],
        [payments, 0n],
      ],
    );

    const placed = await collect(client.readStream(orders));
    assert.deepEqual(
      placed.map(({ event }) => [event.type, event.data.n, event.isJson]),
      [
        ["Placed", 1, true],
        ["Priced", 2, true],
      ],
    );
    assert.deepEqual(placed[0].event.metadata, { source: "web" });
    const paid = await collect(client.readStream(payments));
    const positions = [...placed, ...paid].map(({ event }) => event.position.commit);
    assert.equal(result.position, positions.reduce((a, b) => (a > b ? a : b)), "the position of the last event written");
  });

  test("a revision conflict on one stream writes nothing and throws WrongExpectedVersionError", { timeout: TIMEOUT }, async () => {
    const fresh = unique("multifresh");
    const existing = unique("multiexisting");
    await client.appendToStream(existing, [jsonEvent({ type: "Opened", data: { n: 0 } })], { streamState: NO_STREAM });
    await assert.rejects(
      client.multiStreamAppend([
        { streamName: fresh, expectedState: NO_STREAM, events: [jsonEvent({ type: "T", data: { n: 1 } })] },
        { streamName: existing, expectedState: NO_STREAM, events: [jsonEvent({ type: "T", data: { n: 2 } })] },
      ]),
      (error) => {
        assert.ok(error instanceof WrongExpectedVersionError, `got ${error?.constructor?.name}: ${error?.message}`);
        assert.equal(error.streamName, existing);
        return true;
      },
    );
    await assert.rejects(collect(client.readStream(fresh)), StreamNotFoundError);
    assert.equal((await collect(client.readStream(existing))).length, 1);
  });
});
