// `npm run bench logs`: what the agent's public socket writes to its log (docs/logging.md) for
// 1,000 Workload API calls on fresh connections (FetchX509SVID streams read to their first message,
// a third closing politely, a third sending a PING and dropping the socket at once as Go clients
// do, a third dropping it; plus FetchJWTSVID calls) and for 1,000 SDS StreamSecrets streams (each
// on its own connection, to its first response). The agent stack is the real one
// (startAgentSocket: grpc-js over a temp Unix socket, SO_PEERCRED, the unix attestor) fed by the
// in-process test CA, logging through pino into a counter. Figures: bytes and lines at info (the
// default), next to the baselines of the same run: info with identity_log_window 0s (every grant
// written, no rate limit) and debug (every per-call line).
import { mkdtempSync, rmSync } from "node:fs";
import http2 from "node:http2";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { Registry } from "prom-client";
import { createUnixAttestor, createWorkloadAttestor } from "../src/agent/attestors/index.js";
import { createIdentityCache } from "../src/agent/cache/index.js";
import { createTestServer } from "../test/support/fake-agent-server.js";
import { startAgentSocket } from "../src/agent/socket-services.js";
import { createLogger } from "../src/common/logger.js";
import { NodeSchema } from "../src/gen/envoy/config/core/v3/base_pb.js";
import { DiscoveryRequestSchema } from "../src/gen/envoy/service/discovery/v3/discovery_pb.js";
import { JWTSVIDRequestSchema } from "../src/gen/workload_pb.js";
import { createXdsMetrics } from "../src/sds/index.js";

const CALLS = 1_000;
const STREAMS = 1_000;
/** Clients in flight at once. */
const CONCURRENCY = 20;
const SECRET_TYPE_URL = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

type HangUp = "close" | "ping-and-destroy" | "destroy";

function frame(body: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out.writeUInt32BE(body.length, 1);
  out.set(body, 5);
  return out;
}

/** One call on a fresh connection, ended when its first response message arrives. */
function call(socketPath: string, path: string, body: Uint8Array, hangUp: HangUp, metadata: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    const session = http2.connect("http://localhost", { createConnection: () => socket });
    session.on("error", () => {});
    const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...metadata });
    req.on("error", () => {});
    // SDS is bidirectional: the request stays open like Envoy's.
    if (path.includes("SecretDiscoveryService")) req.write(frame(body));
    else req.end(frame(body));
    req.once("data", () => {
      if (hangUp === "close") session.close();
      else if (hangUp === "ping-and-destroy") {
        socket.write(Buffer.from([0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]));
        socket.destroy();
      } else socket.destroy();
      resolve();
    });
    req.on("trailers", (t) => reject(new Error(`${path} ended before a message: grpc-status ${String(t["grpc-status"])} ${String(t["grpc-message"])}`)));
  });
}

async function pool(n: number, run: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < n) await run(next++);
    }),
  );
}

interface Counted {
  bytes: number;
  lines: number;
}

async function measure(level: "info" | "debug", windowMs: number | undefined): Promise<{ workloadApi: Counted; sds: Counted }> {
  const dir = mkdtempSync(join(tmpdir(), "spindle-bench-logs-"));
  const socketPath = join(dir, "api.sock");
  const counted: Counted = { bytes: 0, lines: 0 };
  const logger = createLogger({
    level,
    destination: {
      write(line: string) {
        counted.bytes += Buffer.byteLength(line);
        counted.lines++;
      },
    },
  });
  const server = await createTestServer({ x509SvidTtlSeconds: 3600 });
  const uid = process.getuid!();
  server.putEntry({ id: "client", spiffeId: "spiffe://example.org/bench/client", selectors: [{ type: "unix", value: `uid:${uid}` }] });
  const cache = createIdentityCache({ client: server, clock: server.clock, logger });
  cache.applySync(await server.syncEntries(cache.knownRevisions()));
  await cache.renewDue();
  cache.markReady();
  const attestor = createWorkloadAttestor({ plugins: [createUnixAttestor({ logger })], logger });
  const close = await startAgentSocket({ socketPath, cache, attestor, xdsMetrics: createXdsMetrics({ registry: new Registry() }), identityLogWindowMs: windowMs, logger, clock: server.clock });
  try {
    const wl = { "workload.spiffe.io": "true" };
    const modes: HangUp[] = ["close", "ping-and-destroy", "destroy"];
    const jwt = toBinary(JWTSVIDRequestSchema, create(JWTSVIDRequestSchema, { audience: ["bench"] }));
    const start = { ...counted };
    // 9 in 10 calls are FetchX509SVID streams, 1 in 10 FetchJWTSVID (the token is cached after the first).
    await pool(CALLS, (i) => (i % 10 === 9 ? call(socketPath, "/SpiffeWorkloadAPI/FetchJWTSVID", jwt, "close", wl) : call(socketPath, "/SpiffeWorkloadAPI/FetchX509SVID", new Uint8Array(), modes[i % 3]!, wl)));
    await new Promise((r) => setTimeout(r, 200));
    const workloadApi = { bytes: counted.bytes - start.bytes, lines: counted.lines - start.lines };
    const mid = { ...counted };
    const sdsRequest = (i: number) =>
      toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, { node: create(NodeSchema, { id: `envoy-${i}`, cluster: "bench" }), resourceNames: ["default"], typeUrl: SECRET_TYPE_URL }));
    await pool(STREAMS, (i) => call(socketPath, "/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets", sdsRequest(i), "destroy", {}));
    await new Promise((r) => setTimeout(r, 200));
    const sds = { bytes: counted.bytes - mid.bytes, lines: counted.lines - mid.lines };
    return { workloadApi, sds };
  } finally {
    await close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const per = (c: Counted, n: number) => ({ bytesPer1000: Math.round((c.bytes * 1000) / n), linesPer1000: Math.round((c.lines * 1000) / n) });

export default async function logsBench(): Promise<Record<string, unknown>> {
  const info = await measure("info", undefined);
  const everyGrant = await measure("info", 0);
  const debug = await measure("debug", undefined);
  return {
    workloadApiCalls: {
      calls: CALLS,
      info: per(info.workloadApi, CALLS),
      baselineInfoNoRateLimit: per(everyGrant.workloadApi, CALLS),
      baselineDebug: per(debug.workloadApi, CALLS),
    },
    sdsStreams: {
      streams: STREAMS,
      info: per(info.sds, STREAMS),
      baselineInfoNoRateLimit: per(everyGrant.sds, STREAMS),
      baselineDebug: per(debug.sds, STREAMS),
    },
    note: "info = the default (identity_log_window 60s); baselines from the same run: identity_log_window 0s, and log_level debug",
  };
}
