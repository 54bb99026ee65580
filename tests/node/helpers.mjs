// What the Node client test files share: names, events, reading an
// iterable, and a server with a client connected to it.

import { randomUUID } from "node:crypto";

import { KurrentDBClient, jsonEvent } from "@kurrent/kurrentdb-client";

import { Server } from "./server.mjs";

export const TIMEOUT = 30_000;

/** A stream name no other test uses. */
export const unique = (category) => `${category}-${randomUUID().replaceAll("-", "")}`;

/** `count` JSON events of `type` whose data counts from `from`. */
export const numbered = (type, count, from = 0) =>
  Array.from({ length: count }, (_, index) => jsonEvent({ type, data: { n: from + index } }));

/** Every item of a finite iterable. */
export async function collect(iterable) {
  const items = [];
  for await (const item of iterable) items.push(item);
  return items;
}

/** Starts a server and connects a client to it. */
export async function connect() {
  const server = await Server.start();
  const client = KurrentDBClient.connectionString`kurrentdb://127.0.0.1:${server.port}?tls=false`;
  return { server, client };
}

/** Closes what `connect` opened, whichever parts of it were opened. */
export async function disconnect({ server, client }) {
  if (client) await client.dispose();
  if (server) await server.stop();
}
