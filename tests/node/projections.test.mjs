// Projections through the official Node.js client: create, status, state
// and result (root and partition), update, disable, abort, enable, reset,
// delete, emitted streams, a faulted projection and a refused query.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";

import { jsonEvent } from "@kurrent/kurrentdb-client";

import { connect, disconnect, TIMEOUT } from "./helpers.mjs";

// A category is the stream name up to its first dash: none in here.
const category = () => `n${randomUUID().replaceAll("-", "").slice(0, 12)}`;

async function eventually(check, what, ms = 15_000) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await check();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}; last: ${last}`);
}

const counter = (source) => `fromCategory('${source}').foreachStream().when({
  $init: function () { return { count: 0 }; },
  Added: function (s, e) { s.count += e.data.n; emit('${source}out-' + e.streamId, 'Counted', { count: s.count }); }
}).transformBy(function (s) { return { doubled: s.count * 2 }; })`;

describe("projections with @kurrent/kurrentdb-client", { timeout: 120_000 }, () => {
  let server;
  let client;

  before(async () => {
    ({ server, client } = await connect());
  });

  after(() => disconnect({ server, client }));

  test("the lifecycle of an emitting, partitioned projection", { timeout: TIMEOUT }, async () => {
    const source = category();
    const name = `count-${source}`;
    await client.appendToStream(`${source}-a`, [jsonEvent({ type: "Added", data: { n: 2 } })]);
    await client.appendToStream(`${source}-b`, [jsonEvent({ type: "Added", data: { n: 5 } })]);
    await client.createProjection(name, counter(source), { emitEnabled: true, trackEmittedStreams: true });
    await eventually(
      async () => (await client.getProjectionState(name, { partition: `${source}-b` }))?.count === 5,
      "the partition's state",
    );
    const result = await client.getProjectionResult(name, { partition: `${source}-a` });
    assert.deepEqual(result, { doubled: 4 });
    const status = await client.getProjectionStatus(name);
    assert.equal(status.status, "Running");
    assert.equal(status.name, name);

    const emitted = [];
    for await (const resolved of client.readStream(`${source}out-${source}-a`)) emitted.push(resolved.event.data);
    assert.deepEqual(emitted, [{ count: 2 }]);

    await client.disableProjection(name);
    await eventually(async () => (await client.getProjectionStatus(name)).status === "Stopped", "Stopped");
    await client.appendToStream(`${source}-a`, [jsonEvent({ type: "Added", data: { n: 1 } })]);
    await client.enableProjection(name);
    await eventually(
      async () => (await client.getProjectionState(name, { partition: `${source}-a` }))?.count === 3,
      "the state after enable",
    );
    await client.resetProjection(name);
    await eventually(
      async () => (await client.getProjectionState(name, { partition: `${source}-a` }))?.count === 3,
      "the state after reset",
    );
    await client.abortProjection(name);
    await eventually(async () => (await client.getProjectionStatus(name)).status === "Aborted", "Aborted");
    await client.deleteProjection(name, { deleteEmittedStreams: true, deleteCheckpointStream: true });
    await assert.rejects(client.getProjectionStatus(name));
  });

  test("a faulted projection reports why; a bad query is refused", { timeout: TIMEOUT }, async () => {
    const source = category();
    const name = `fault-${source}`;
    await client.appendToStream(`${source}-a`, [jsonEvent({ type: "Added", data: { n: 1 } })]);
    await client.createProjection(
      name,
      `fromCategory('${source}').when({ Added: function () { throw new Error('no ' + 'thanks'); } })`,
    );
    const faulted = await eventually(async () => {
      const status = await client.getProjectionStatus(name);
      return status.status.startsWith("Faulted") && status;
    }, "Faulted");
    assert.match(faulted.stateReason, /no thanks/);
    await assert.rejects(client.createProjection(`bad-${source}`, "fromAll().when({ x: function ( { } })"), /line 1/);
    await assert.rejects(client.createProjection(name, `fromCategory('${source}').when({})`));
  });
});
