// `npm run bench federation`: the federation bundle endpoint (https_spiffe, the real CA and server
// SVID) answering `GET /` on loopback, in requests/s, next to the machine's baseline measured in
// the same run: a bare node:https server with the same certificate, key and TLS settings answering
// a fixed body of the same size. Two client patterns, each with CONCURRENCY requests in flight:
// - keep-alive: connections reused (a proxy or a busy peer);
// - new connection per request: a full TLS handshake each time (what a polling peer does).
// Endpoint and baseline rounds alternate so both see the same machine load; the median round is
// reported, with every round's figure.
import { createServer as createHttpsServer, request, Agent, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { createFakeClock } from "../test/support/fake-clock.js";
import { createSilentLogger } from "../src/common/logger.js";
import { createCertificateAuthority, createMemoryJournalStore, createServerSvidSource } from "../src/ca/authority/index.js";
import { startBundleEndpoint } from "../src/ca/federation/bundle-endpoint.js";
import { createMemoryKeyManager } from "../src/ca/keys/index.js";
import { createOwnBundleSource } from "../src/ca/server/own-bundle.js";

const TD = "example.org";
const CONCURRENCY = 16;
const ROUND_MS = 3000;
const ROUNDS = 3;

type Mode = "keepAlive" | "newConnection";

/** Requests completed per second against 127.0.0.1:port for ROUND_MS. */
async function load(port: number, mode: Mode, expectedBytes: number): Promise<number> {
  const agent = new Agent({ keepAlive: mode === "keepAlive", maxSockets: CONCURRENCY, rejectUnauthorized: false });
  let done = 0;
  const deadline = performance.now() + ROUND_MS;
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, path: "/", agent, rejectUnauthorized: false }, (res) => {
        let bytes = 0;
        res.on("data", (d: Buffer) => (bytes += d.length));
        res.on("end", () => {
          if (res.statusCode !== 200 || bytes !== expectedBytes) reject(new Error(`unexpected answer ${res.statusCode} with ${bytes} bytes`));
          else resolve();
        });
      });
      req.once("error", reject);
      req.end();
    });
  const worker = async () => {
    while (performance.now() < deadline) {
      await one();
      done++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const elapsed = performance.now() - started;
  agent.destroy();
  return Math.round((done / elapsed) * 1000);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export default async function bench(): Promise<Record<string, unknown>> {
  const logger = createSilentLogger();
  const clock = createFakeClock(Date.now());
  const ca = await createCertificateAuthority({ trustDomain: TD, serverId: "bench", keyManager: createMemoryKeyManager(), journalStore: createMemoryJournalStore(), clock, logger });
  // A bundle with a prepared authority of each kind too, as during a rotation: 4 keys.
  await ca.prepare("x509");
  await ca.prepare("jwt");
  const svids = createServerSvidSource({ ca, spiffeId: `spiffe://${TD}/spindle/server`, clock, logger });
  const source = createOwnBundleSource(ca, 300);
  const endpoint = await startBundleEndpoint({
    config: { address: { host: "127.0.0.1", port: 0 }, refreshHintSeconds: 300, profile: { kind: "https_spiffe" } },
    document: () => source().spiffeJson,
    serverSvid: svids,
    clock,
    logger,
  });
  const body = Buffer.from(source().spiffeJson);
  const svid = svids.current();
  // Baseline: the same TLS material and version floor, no application logic.
  const baseline: Server = createHttpsServer({ key: svid.keyPem, cert: svid.certPem, minVersion: "TLSv1.2" }, (_req, res) => {
    res.writeHead(200, { "content-type": "application/json", "content-length": body.length });
    res.end(body);
  });
  await new Promise<void>((r) => baseline.listen(0, "127.0.0.1", r));
  const baselinePort = (baseline.address() as AddressInfo).port;

  const results: Record<string, unknown> = {};
  try {
    for (const mode of ["keepAlive", "newConnection"] as const) {
      await load(endpoint.address.port, mode, body.length); // warm-up round, discarded
      const ep: number[] = [];
      const base: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        ep.push(await load(endpoint.address.port, mode, body.length));
        base.push(await load(baselinePort, mode, body.length));
      }
      results[mode] = {
        endpointRequestsPerSecond: median(ep),
        baselineRequestsPerSecond: median(base),
        ratio: Math.round((median(ep) / median(base)) * 100) / 100,
        endpointRounds: ep,
        baselineRounds: base,
      };
    }
  } finally {
    await endpoint.close();
    await new Promise<void>((r) => baseline.close(() => r()));
    svids.close();
    ca.stop();
  }
  return {
    setup: { concurrency: CONCURRENCY, roundMs: ROUND_MS, rounds: ROUNDS, documentBytes: body.length, keys: 4, profile: "https_spiffe", tls: "node default negotiation (TLS 1.3)" },
    ...results,
  };
}
