// Test-only ServerClient over a real in-process CA (src/ca/authority) on a fake clock and an
// in-memory entry list: CSRs are parsed and verified like the server does, SVIDs are minted by the
// CA, and `down` makes every call fail like an unreachable server. Never imported by production.
import { createFakeClock, type FakeClock } from "./fake-clock.js";
import { spindleError } from "../../src/common/errors.js";
import { createSilentLogger } from "../../src/common/logger.js";
import { createBundle, type Bundle } from "../../src/spiffe/bundle.js";
import { parseTrustDomain } from "../../src/spiffe/trust-domain.js";
import { createCertificateAuthority, createMemoryJournalStore, type ManagedCertificateAuthority } from "../../src/ca/authority/index.js";
import { parseAndVerifyCsr } from "../../src/ca/csr/index.js";
import { createMemoryKeyManager } from "../../src/ca/keys/index.js";
import type { AgentEntry, CsrSignResult, ServerClient, SyncEntriesResult } from "../../src/agent/cache/server-client.js";
import { MAX_CSR_BATCH } from "../../src/agent/cache/server-client.js";

export const TD = "example.org";
export const AGENT_ID = `spiffe://${TD}/spire/agent/test/node-1`;
export const START = Date.UTC(2026, 0, 1, 0, 0, 0);

export interface TestServer extends ServerClient {
  readonly ca: ManagedCertificateAuthority;
  readonly clock: FakeClock;
  /** While true, every call rejects with ERR_AGENT_SERVER_UNREACHABLE. */
  down: boolean;
  /** Sizes of every signCsrs batch received. */
  readonly batches: number[];
  readonly counts: { sync: number; jwt: number; agent: number };
  federated: Bundle[];
  /** Creates or replaces an entry; a replacement gets revision + 1. */
  putEntry(entry: Partial<AgentEntry> & { id: string; spiffeId: string }): AgentEntry;
  removeEntry(id: string): void;
  entries(): AgentEntry[];
}

export async function createTestServer(options: { clock?: FakeClock; x509SvidTtlSeconds?: number; jwtSvidTtlSeconds?: number } = {}): Promise<TestServer> {
  const clock = options.clock ?? createFakeClock(START);
  const ca = await createCertificateAuthority({
    trustDomain: TD,
    serverId: "server-a",
    keyManager: createMemoryKeyManager(),
    journalStore: createMemoryJournalStore(),
    clock,
    logger: createSilentLogger(),
    x509SvidTtlSeconds: options.x509SvidTtlSeconds,
    jwtSvidTtlSeconds: options.jwtSvidTtlSeconds,
  });
  const entries = new Map<string, AgentEntry>();
  const batches: number[] = [];
  const counts = { sync: 0, jwt: 0, agent: 0 };

  const reachable = (what: string) => {
    if (server.down) throw spindleError("ERR_AGENT_SERVER_UNREACHABLE", `${what}: connect ECONNREFUSED 127.0.0.1:8081 (test server is down)`);
  };
  const ownBundle = (): Bundle => {
    const c = ca.bundleContents();
    return createBundle({
      trustDomain: parseTrustDomain(TD),
      x509Authorities: c.x509Authorities,
      jwtAuthorities: c.jwtAuthorities.map((a) => [a.kid, a.publicKeyJwk] as const),
    });
  };
  const mintFor = (csrDer: Uint8Array, spiffeId: string, ttl: number, dnsNames: readonly string[]) => {
    const csr = parseAndVerifyCsr(csrDer);
    if (csr.uriSans.length !== 1 || csr.uriSans[0] !== spiffeId) throw spindleError("ERR_CSR_INVALID", `CSR asks for ${csr.uriSans.join(",")}, entry grants ${spiffeId}`);
    return ca.mintX509Svid({ spiffeId, publicKey: csr.publicKey, ttlSeconds: ttl === 0 ? undefined : ttl, dnsNames });
  };

  const server: TestServer = {
    ca,
    clock,
    down: false,
    batches,
    counts,
    federated: [],
    putEntry(e) {
      const previous = entries.get(e.id);
      const entry: AgentEntry = {
        selectors: [{ type: "unix", value: "uid:1000" }],
        hint: "",
        dnsNames: [],
        federatesWith: [],
        x509SvidTtl: 0,
        jwtSvidTtl: 0,
        ...e,
        revision: (previous?.revision ?? 0) + 1,
      };
      entries.set(e.id, entry);
      return entry;
    },
    removeEntry: (id) => void entries.delete(id),
    entries: () => [...entries.values()],

    async syncEntries(known): Promise<SyncEntriesResult> {
      reachable("sync");
      counts.sync++;
      return {
        changed: [...entries.values()].filter((e) => known.get(e.id) !== e.revision),
        removed: [...known.keys()].filter((id) => !entries.has(id)),
        bundles: { own: ownBundle(), federated: [...server.federated] },
        taintedAuthorities: ca.show().x509.filter((r) => r.tainted).map((r) => r.id),
      };
    },
    async signCsrs(batch) {
      reachable("sign");
      if (batch.length > MAX_CSR_BATCH) throw spindleError("ERR_RESOURCE_EXHAUSTED", `batch of ${batch.length} CSRs exceeds ${MAX_CSR_BATCH}`);
      batches.push(batch.length);
      return batch.map(({ entryId, csrDer }): CsrSignResult => {
        const entry = entries.get(entryId);
        if (entry === undefined) return { entryId, ok: false, code: "ERR_NOT_FOUND", message: `entry ${entryId} not found` };
        try {
          const minted = mintFor(csrDer, entry.spiffeId, entry.x509SvidTtl, entry.dnsNames);
          return { entryId, ok: true, chainDer: minted.chain, authorityId: minted.authorityId };
        } catch (err) {
          return { entryId, ok: false, code: "ERR_CSR_INVALID", message: (err as Error).message };
        }
      });
    },
    async mintJwtSvid(entryId, audience) {
      reachable("mint JWT-SVID");
      counts.jwt++;
      const entry = entries.get(entryId);
      if (entry === undefined) throw spindleError("ERR_NOT_FOUND", `entry ${entryId} not found`);
      const minted = await ca.mintJwtSvid({ spiffeId: entry.spiffeId, audience, ttlSeconds: entry.jwtSvidTtl === 0 ? undefined : entry.jwtSvidTtl });
      return { token: minted.token, issuedAt: Math.floor(clock.now() / 1000) * 1000, expiresAt: minted.expiresAt };
    },
    async renewAgentSvid(csrDer) {
      reachable("renew agent SVID");
      counts.agent++;
      const minted = mintFor(csrDer, AGENT_ID, 0, []);
      return { chainDer: minted.chain, authorityId: minted.authorityId };
    },
  };
  return server;
}

/** A deterministic random source in [0, 1) (LCG), so jitter varies but tests repeat. */
export function seededRandom(seed = 42): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}
