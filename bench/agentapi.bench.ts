// `npm run bench agentapi`: the agent API over TLS 1.3 + HTTP/2 against a SQLite datastore (the
// real server pieces: CA, join_token attestor, datastore as AgentStore and EntrySource).
// - sync latency (one full SyncEntries, every page, nothing known) for 1,000 attested agents with
//   10 entries each, one sync per agent, sequentially, on an already open connection;
// - the same for one agent with 10,000 entries (20 pages), and its steady-state sync (all known),
//   as many rounds as fit a time budget (the sample count is reported);
// - BatchSignX509Svid throughput with 500 CSRs per call, next to raw crypto.sign P-256
//   signatures/s measured in the same run (interleaved, so both see the same machine load).
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { PeerCertificate } from "node:tls";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { systemClock } from "../src/common/clock.js";
import { createSilentLogger } from "../src/common/logger.js";
import { certsToPem } from "../src/common/pem.js";
import { AgentService } from "../src/gen/spindle/agent/v1/agent_pb.js";
import { parseTrustDomain } from "../src/spiffe/index.js";
import { createJoinTokenAgentAttestor } from "../src/agent/nodeattestors/join-token/index.js";
import { startAgentApiServer, type AgentApiServer } from "../src/ca/agentapi/index.js";
import { attest, makeCsr } from "../test/support/agentapi-harness.js";
import { createCertificateAuthority, createMemoryJournalStore } from "../src/ca/authority/index.js";
import { createDatastore } from "../src/ca/datastore/index.js";
import { createMemoryKeyManager } from "../src/ca/keys/index.js";
import { createJoinTokenAttestor } from "../src/ca/nodeattestors/index.js";
import { createRegistration, type Registration } from "../src/ca/registration/index.js";

const TD = "example.org";
const AGENTS = 1000;
const ENTRIES_PER_AGENT = 10;
const BIG_AGENT_ENTRIES = 10_000;
// Rounds of the 10,000-entry syncs, bounded by a time budget (at least MIN rounds) so the bench
// stays within a few minutes however slow a full sync is.
const BIG_SYNC_MAX_ROUNDS = 10;
const BIG_SYNC_MIN_ROUNDS = 2;
const BIG_SYNC_BUDGET_MS = 60_000;
const BIG_STEADY_MIN_ROUNDS = 1;
const BIG_STEADY_BUDGET_MS = 20_000;
const BATCH = 500;
const BATCH_ROUNDS = 5;
const RAW_WINDOW_MS = 1000;

type AgentClient = { client: Client<typeof AgentService>; close(): void };

/** An agent-like client with its own HTTP/2 connection (closed by close()). */
function connect(server: AgentApiServer, bundlePem: string, identity?: { chainDer: readonly Uint8Array[]; privateKey: KeyObject }): AgentClient {
  const baseUrl = `https://127.0.0.1:${server.address.port}`;
  const sessionManager = new Http2SessionManager(baseUrl, {}, {
    ca: bundlePem,
    ...(identity ? { cert: certsToPem(identity.chainDer), key: identity.privateKey.export({ type: "pkcs8", format: "pem" }) } : {}),
    checkServerIdentity: (_host: string, cert: PeerCertificate) =>
      cert.subjectaltname?.split(", ").includes(`URI:${server.serverId}`) ? undefined : new Error(`server is not ${server.serverId}`),
  });
  const transport = createGrpcTransport({ baseUrl, sessionManager });
  return { client: createClient(AgentService, transport), close: () => sessionManager.abort() };
}

/** Every page of a sync; returns the entries and revisions seen. */
async function fullSync(client: Client<typeof AgentService>, known: Record<string, bigint> = {}): Promise<{ revisions: number; entries: number; pages: number }> {
  let pageToken = "";
  let revisions = 0;
  let entries = 0;
  let pages = 0;
  do {
    const res = await client.syncEntries({ known, pageToken });
    revisions += res.revisions.length;
    entries += res.entries.length;
    pages++;
    pageToken = res.nextPageToken;
  } while (pageToken !== "");
  return { revisions, entries, pages };
}

function percentiles(ms: number[]): { p50Ms: number; p99Ms: number; maxMs: number; samples: number } {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => Math.round(s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]! * 100) / 100;
  return { p50Ms: at(0.5), p99Ms: at(0.99), maxMs: at(1), samples: s.length };
}

async function attestAgent(reg: Registration, server: AgentApiServer, bundlePem: string) {
  const { token } = await reg.generateJoinToken();
  const anon = connect(server, bundlePem);
  try {
    const { svid, privateKey } = await attest(anon.client, createJoinTokenAgentAttestor({ token }));
    return { agentId: svid.svid!.spiffeId, identity: { chainDer: svid.svid!.certChain, privateKey } };
  } finally {
    anon.close();
  }
}

async function createEntries(reg: Registration, agentId: string, prefix: string, n: number): Promise<string[]> {
  const inputs = Array.from({ length: n }, (_, j) => ({
    spiffeId: `spiffe://${TD}/${prefix}/w${j}`,
    parentId: agentId,
    selectors: [{ type: "unix", value: `uid:${1000 + j}` }],
    x509SvidTtl: 3600,
  }));
  const ids: string[] = [];
  for (const r of await reg.batchCreate(inputs)) {
    if (!r.ok) throw r.error;
    ids.push(r.entry.id);
  }
  return ids;
}

function rawSignRate(key: KeyObject): number {
  const tbs = Buffer.alloc(420, 7); // about the size of an SVID's TBSCertificate
  for (let i = 0; i < 100; i++) sign("sha256", tbs, key);
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < RAW_WINDOW_MS) {
    for (let i = 0; i < 50; i++) sign("sha256", tbs, key);
    n += 50;
  }
  return Math.round((n * 1000) / (performance.now() - start));
}

export default async function agentApiBench(): Promise<Record<string, unknown>> {
  const started = performance.now();
  const dir = mkdtempSync(join(tmpdir(), "spindle-bench-agentapi-"));
  const clock = systemClock;
  const logger = createSilentLogger();
  const ds = await createDatastore({ location: { kind: "sqlite", path: join(dir, "bench.sqlite3") }, clock });
  const reg = createRegistration({ datastore: ds, clock, limits: { trustDomain: TD, maxX509SvidTtl: 14400, maxJwtSvidTtl: 14400 } });
  const ca = await createCertificateAuthority({ trustDomain: TD, serverId: "bench", keyManager: createMemoryKeyManager(), journalStore: createMemoryJournalStore(), clock, logger });
  const server = await startAgentApiServer({
    trustDomain: TD,
    ca,
    attestors: new Map([["join_token", createJoinTokenAttestor({ trustDomain: parseTrustDomain(TD), tokens: ds })]]),
    agents: ds,
    entries: ds,
    clock,
    logger,
    host: "127.0.0.1",
    port: 0,
    // Measure the work, not the per-agent limits.
    attestationsPerSecond: 1e9,
    signingsPerSecond: 1e9,
  });
  const bundlePem = certsToPem(ca.bundleContents().x509Authorities);
  const progress = (what: string) => process.stderr.write(`bench agentapi: ${what} (${Math.round((performance.now() - started) / 1000)} s)\n`);
  try {
    // 1,000 agents x 10 entries.
    const agents: { agentId: string; identity: { chainDer: readonly Uint8Array[]; privateKey: KeyObject } }[] = [];
    let t = performance.now();
    for (let i = 0; i < AGENTS; i++) agents.push(await attestAgent(reg, server, bundlePem));
    const attestMs = performance.now() - t;
    for (const [i, a] of agents.entries()) await createEntries(reg, a.agentId, `a${i}`, ENTRIES_PER_AGENT);
    progress(`${AGENTS} agents attested, ${AGENTS * ENTRIES_PER_AGENT} entries created`);
    const smallSync: number[] = [];
    for (const a of agents) {
      const c = connect(server, bundlePem, a.identity);
      try {
        await c.client.syncEntries({ pageToken: "\uffff" }); // TLS handshake + client-cert checks, an empty page
        t = performance.now();
        const r = await fullSync(c.client);
        smallSync.push(performance.now() - t);
        if (r.revisions !== ENTRIES_PER_AGENT || r.entries !== ENTRIES_PER_AGENT) throw new Error(`agent ${a.agentId} synced ${r.revisions} revisions / ${r.entries} entries`);
      } finally {
        c.close();
      }
    }
    progress("1,000-agent syncs measured");

    // One agent with 10,000 entries.
    const big = await attestAgent(reg, server, bundlePem);
    const bigIds = await createEntries(reg, big.agentId, "big", BIG_AGENT_ENTRIES);
    progress(`${BIG_AGENT_ENTRIES} entries created for one agent`);
    const bc = connect(server, bundlePem, big.identity);
    const bigFull: number[] = [];
    const bigSteady: number[] = [];
    let pages = 0;
    await bc.client.syncEntries({ pageToken: "\uffff" });
    const budgeted = async (samples: number[], min: number, budgetMs: number, once: () => Promise<void>) => {
      const begin = performance.now();
      while (samples.length < BIG_SYNC_MAX_ROUNDS && (samples.length < min || performance.now() - begin < budgetMs)) {
        const s0 = performance.now();
        await once();
        samples.push(performance.now() - s0);
      }
    };
    await budgeted(bigFull, BIG_SYNC_MIN_ROUNDS, BIG_SYNC_BUDGET_MS, async () => {
      const r = await fullSync(bc.client);
      if (r.revisions !== BIG_AGENT_ENTRIES || r.entries !== BIG_AGENT_ENTRIES) throw new Error(`big agent synced ${r.revisions} revisions / ${r.entries} entries`);
      pages = r.pages;
    });
    const known = Object.fromEntries(bigIds.map((id) => [id, 1n]));
    await budgeted(bigSteady, BIG_STEADY_MIN_ROUNDS, BIG_STEADY_BUDGET_MS, async () => {
      const r = await fullSync(bc.client, known);
      if (r.revisions !== BIG_AGENT_ENTRIES || r.entries !== 0) throw new Error(`steady-state sync returned ${r.revisions} revisions / ${r.entries} entries`);
    });
    progress("10,000-entry syncs measured");

    // 500 CSRs in one call, for 500 of the big agent's entries; raw signatures interleaved.
    const csrs = await Promise.all(bigIds.slice(0, BATCH).map(async (entryId, j) => ({ entryId, csr: (await makeCsr({ uris: [`spiffe://${TD}/big/w${j}`] })).der })));
    const rawKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    await bc.client.batchSignX509Svid({ requests: csrs.slice(0, 50) }); // warm-up
    const batchMs: number[] = [];
    const rawRates: number[] = [];
    for (let round = 0; round < BATCH_ROUNDS; round++) {
      rawRates.push(rawSignRate(rawKey));
      t = performance.now();
      const res = await bc.client.batchSignX509Svid({ requests: csrs });
      batchMs.push(performance.now() - t);
      const failed = res.results.filter((r) => r.status?.code !== "");
      if (res.results.length !== BATCH || failed.length > 0) throw new Error(`batch: ${failed.length} of ${res.results.length} CSRs failed: ${failed[0]?.status?.message}`);
    }
    bc.close();
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const batchPerSec = Math.round((BATCH * 1000) / median(batchMs));
    const rawPerSec = median(rawRates);
    return {
      setup: { agents: AGENTS, entriesPerAgent: ENTRIES_PER_AGENT, attestationsPerSec: Math.round((AGENTS * 1000) / attestMs), totalEntries: AGENTS * ENTRIES_PER_AGENT + BIG_AGENT_ENTRIES },
      sync1000AgentsX10Entries: percentiles(smallSync),
      sync1AgentX10000Entries: { pages, ...percentiles(bigFull) },
      sync1AgentX10000EntriesAllKnown: percentiles(bigSteady),
      batchSign500Csrs: { csrsPerSec: batchPerSec, callMsMedian: Math.round(median(batchMs)), callMs: batchMs.map((x) => Math.round(x)) },
      rawP256SignaturesPerSec: rawPerSec,
      batchVsRawPercent: Math.round((batchPerSec / rawPerSec) * 1000) / 10,
      rawRounds: rawRates,
      totalSeconds: Math.round((performance.now() - started) / 1000),
    };
  } finally {
    await server.close();
    await ds.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
