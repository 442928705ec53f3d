// Starts an in-process server instance on a temp dir (SQLite unless a datastore is given) with a
// memory key manager and ephemeral ports, for admin API and operations tests.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { systemClock } from "../../../src/common/clock.js";
import { createLogger } from "../../../src/common/logger.js";
import { createServer, type Server, type ServerOptions } from "../../../src/ca/server/index.js";
import type { DatastoreLocation } from "../../../src/ca/datastore/index.js";

export interface TestServer {
  server: Server;
  options: ServerOptions;
  dir: string;
  /** Every JSON log line written so far. */
  logs: Record<string, unknown>[];
  close(): Promise<void>;
}

export async function startTestServer(over: Partial<ServerOptions> & { datastore?: DatastoreLocation } = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), "spindle-srv-"));
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split("\n")) if (line.trim() !== "") logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const options: ServerOptions = {
    trustDomain: "example.org",
    serverId: "test-1",
    dataDir: join(dir, "data"),
    // Port 0: the server now serves the agent API there, and suites run in parallel.
    bindAddress: { host: "127.0.0.1", port: 0 },
    adminSocket: join(dir, "private", "admin.sock"),
    datastore: { kind: "sqlite", path: join(dir, "ds.sqlite3") },
    caTtlSeconds: 86400,
    x509SvidTtlSeconds: 3600,
    jwtSvidTtlSeconds: 300,
    keyManager: "memory",
    caKeyType: "ec-p256",
    jwtKeyType: "ec-p256",
    logLevel: "info",
    healthAddress: { host: "127.0.0.1", port: 0 },
    bundleRefreshHintSeconds: 300,
    ...over,
  };
  const server = createServer(options, { logger: createLogger({ level: "info", destination: sink }), clock: systemClock, version: "test" });
  try {
    await server.start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    server,
    options,
    dir,
    logs,
    close: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
