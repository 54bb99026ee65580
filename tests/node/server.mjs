// Runs a real `eventfold serve` (the binary named by EVENTFOLD_BIN) on a
// free loopback port with a temporary data directory; on PostgreSQL when
// EVENTFOLD_TEST_PG_BASE names a cluster (scripts/test-node sets it with
// EVENTFOLD_NODE_STORE=postgres).

import { randomUUID } from "node:crypto";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, openSync, readFileSync, closeSync } from "node:fs";
import { get } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** GET /health: resolves with the status code, rejects on error or after 2 s. */
export function health(port) {
  return new Promise((resolve, reject) => {
    const request = get({ host: "127.0.0.1", port, path: "/health", timeout: 2000 }, (response) => {
      response.resume();
      response.on("end", () => resolve(response.statusCode));
    });
    request.on("timeout", () => request.destroy(new Error("GET /health timed out")));
    request.on("error", reject);
  });
}

/** The cluster the servers store their events in, when the suite runs on PostgreSQL. */
export const postgresBase = process.env.EVENTFOLD_TEST_PG_BASE || null;

/**
 * `--store` for a new server: on PostgreSQL, a database of its own in the
 * throwaway cluster (so every server starts empty); nothing on the engine.
 */
function storeArgs() {
  if (!postgresBase) return [];
  const database = `ef_node_${randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const { hostname, port } = new URL(postgresBase);
  const createdb = process.env.EVENTFOLD_TEST_PG_CREATEDB || "createdb";
  const created = spawnSync(createdb, ["-h", hostname, "-p", port, "-U", "postgres", database], {
    encoding: "utf8",
    timeout: 30_000,
  });
  if (created.status !== 0) {
    throw new Error(`${createdb} ${database} failed: ${created.error ?? created.stderr}`);
  }
  return ["--store", `${postgresBase}/${database}`];
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class Server {
  static async start() {
    const binary = process.env.EVENTFOLD_BIN;
    if (!binary) {
      throw new Error("EVENTFOLD_BIN is not set: point it at the `eventfold` binary (scripts/test-node does)");
    }
    let lastLog = "";
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const dir = mkdtempSync(join(tmpdir(), "eventfold-node-test-"));
      const logPath = join(dir, "server.log");
      const log = openSync(logPath, "w");
      const port = await freePort();
      const args = ["serve", "--db", join(dir, "data"), "--listen", `127.0.0.1:${port}`, ...storeArgs()];
      const child = spawn(binary, args, { stdio: ["ignore", log, log] });
      closeSync(log);
      const server = new Server(child, port, dir, logPath);
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline && server.exitCode === undefined) {
        try {
          if ((await health(port)) === 200) return server;
        } catch {
          // not up yet
        }
        await sleep(50);
      }
      lastLog = server.log();
      await server.stop().catch(() => {});
      if (Date.now() >= deadline) throw new Error(`eventfold did not answer /health within 30 s; log:\n${lastLog}`);
    }
    throw new Error(`eventfold failed to start three times; last log:\n${lastLog}`);
  }

  constructor(child, port, dir, logPath) {
    this.child = child;
    this.port = port;
    this.dir = dir;
    this.logPath = logPath;
    this.exitCode = undefined;
    this.exited = new Promise((resolve) => {
      child.on("exit", (code, signal) => {
        this.exitCode = code ?? signal;
        resolve(this.exitCode);
      });
    });
  }

  get connectionString() {
    return `kurrentdb://127.0.0.1:${this.port}?tls=false`;
  }

  log() {
    try {
      return readFileSync(this.logPath, "utf8");
    } catch {
      return "";
    }
  }

  /** SIGTERM; rejects if the process has not exited cleanly within 10 s (it is then killed). */
  async stop() {
    try {
      if (this.exitCode === undefined) {
        this.child.kill("SIGTERM");
        const timeout = sleep(10_000).then(() => "timeout");
        if ((await Promise.race([this.exited, timeout])) === "timeout") {
          this.child.kill("SIGKILL");
          await this.exited;
          throw new Error(`eventfold still running 10 s after SIGTERM; log:\n${this.log()}`);
        }
        if (this.exitCode !== 0) {
          throw new Error(`eventfold exited with ${this.exitCode} after SIGTERM; log:\n${this.log()}`);
        }
      }
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
