// Test bundle endpoints: real HTTPS servers on 127.0.0.1 with certificates from the test CA
// helpers, answering with whatever the test sets, plus a manager over a temp SQLite datastore.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createFakeClock, type FakeClock } from "./fake-clock.js";
import { createLogger, type Logger } from "../../src/common/logger.js";
import { encodeSpiffeBundle } from "../../src/spiffe/index.js";
import { createTestBundle, createTestCa, issueTestCertificate, issueTestSvid, type TestCa, type TestCertOptions } from "./spiffe/index.js";
import { KeyUsage } from "../../src/spiffe/certificate.js";
import { createDatastore, type Datastore } from "../../src/ca/datastore/index.js";
import { createFederationManager, type FederationManager, type FederationMetrics, type FederationTiming } from "../../src/ca/federation/manager.js";
import type { RelationshipInput } from "../../src/ca/federation/relationship.js";
import type { RefusalReason } from "../../src/ca/federation/refusal.js";

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface TestEndpoint {
  url: string;
  port: number;
  handler: Handler;
  close(): Promise<void>;
}

/** An HTTPS server with the given certificate chain (PEM) and key; `handler` can be swapped. */
export async function startEndpoint(certPem: string, keyPem: string, handler: Handler): Promise<TestEndpoint> {
  const ep: { handler: Handler } = { handler };
  const server = https.createServer({ cert: certPem, key: keyPem, minVersion: "TLSv1.2" }, (req, res) => ep.handler(req, res));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(ep, {
    url: `https://127.0.0.1:${port}/`,
    port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
}

export function json(body: string, status = 200): Handler {
  return (_req, res) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(body);
  };
}

/** A server certificate for 127.0.0.1 / localhost issued by a plain (Web PKI style) test CA. */
export function webServerCert(ca: TestCa, o: TestCertOptions = {}) {
  const now = Date.now();
  return issueTestCertificate(
    ca,
    {
      subject: "CN=localhost",
      notBefore: now - 60_000,
      notAfter: now + 3600_000,
      uris: [],
      basicConstraints: { ca: false },
      keyUsage: KeyUsage.digitalSignature,
      extKeyUsage: ["1.3.6.1.5.5.7.3.1"],
    },
    { dnsNames: ["localhost"], ...o },
  );
}

export interface Remote {
  ca: TestCa;
  /** The bundle document served, for sequence `seq`. */
  doc(seq: number, hint?: number): string;
}

export function remoteDomain(td: string): Remote {
  const ca = createTestCa({ trustDomain: td });
  return { ca, doc: (seq, hint = 300) => encodeSpiffeBundle(createTestBundle({ cas: [ca], sequenceNumber: seq, refreshHintSeconds: hint })) };
}

export function endpointSvid(remote: Remote, id: string, o: TestCertOptions = {}) {
  return issueTestSvid(remote.ca, { spiffeId: id, ...o });
}

export interface LogLine {
  level: string;
  msg: string;
  [k: string]: unknown;
}

export interface Harness {
  dir: string;
  ds: Datastore;
  clock: FakeClock;
  logger: Logger;
  lines: LogLine[];
  refusals: { trustDomain: string; reason: RefusalReason }[];
  metrics: FederationMetrics;
  manager(configRelationships?: Parameters<typeof createFederationManager>[0]["configRelationships"], timing?: Partial<FederationTiming>, timeoutMs?: number): FederationManager;
  writeFile(name: string, content: string): string;
  close(): Promise<void>;
}

export async function createHarness(): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), "spindle-fed-"));
  const clock = createFakeClock(Date.now());
  const ds = await createDatastore({ location: { kind: "sqlite", path: join(dir, "ds.sqlite3") }, clock });
  const lines: LogLine[] = [];
  const logger = createLogger({ level: "debug", destination: { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) } });
  const refusals: Harness["refusals"] = [];
  const metrics: FederationMetrics = { refreshed: () => undefined, refused: (trustDomain, reason) => void refusals.push({ trustDomain, reason }) };
  const managers: FederationManager[] = [];
  return {
    dir,
    ds,
    clock,
    logger,
    lines,
    refusals,
    metrics,
    manager(configRelationships = [], timing = {}, timeoutMs = 5_000) {
      const m = createFederationManager({ ownTrustDomain: "a.test", configRelationships, datastore: ds, clock, logger, metrics, timing, fetchLimits: { timeoutMs } });
      managers.push(m);
      return m;
    },
    writeFile(name, content) {
      const p = join(dir, name);
      writeFileSync(p, content);
      return p;
    },
    async close() {
      for (const m of managers) m.stop();
      await ds.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function spiffeInput(td: string, url: string, endpointId: string, bootstrap?: string): RelationshipInput {
  return {
    trustDomain: td,
    bundleEndpointUrl: url,
    profile: "https_spiffe",
    endpointSpiffeId: endpointId,
    ...(bootstrap !== undefined ? { bootstrap: { content: bootstrap, format: "spiffe", origin: "test bundle" } } : {}),
  };
}
