// The agent's identity cache: registration entries (diffed by revision), one X.509-SVID per entry
// with its in-memory key, the trust bundles, and JWT-SVIDs. The sync loop feeds it; the Workload
// API and SDS read it through their own interfaces (adapters in this folder). SVIDs keep being
// served while the server is unreachable and disappear only when they expire.
import type { Clock } from "../../common/clock.js";
import { spindleError } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import type { Selector } from "../../spiffe/selector.js";
import { createBundleState, type BundleSnapshot } from "./bundle-state.js";
import { createEntryIndex, type EntryDiff } from "./entry-index.js";
import { createJwtCache } from "./jwt-cache.js";
import { createRenewer, type RenewSummary } from "./renewer.js";
import type { AgentEntry, JwtSvidResult, ServerClient, SyncEntriesResult } from "./server-client.js";
import type { CachedSvid } from "./svid-signer.js";
import type { WorkloadKeyType } from "./workload-key.js";

export interface CacheChange {
  /** Entries added, changed or removed, or whose SVID was issued, renewed or expired. */
  readonly entries: readonly string[];
  /** SPIFFE IDs whose SVID (chain or key) changed, appeared or went away. */
  readonly spiffeIds: readonly string[];
  /** Trust domains (no scheme) whose bundle was added, changed or removed. */
  readonly trustDomains: readonly string[];
  /** Which workloads get which identities (or federated bundles) may have changed. */
  readonly entitlements: boolean;
  /** True on the one event that made the cache ready. */
  readonly ready: boolean;
}

/** One identity of a workload. Objects are reused until the entry or its SVID changes. */
export interface CachedIdentity {
  readonly entryId: string;
  readonly spiffeId: string;
  /** The entry's hint; undefined when it has none. */
  readonly hint?: string;
  readonly federatesWith: readonly string[];
  readonly x509Svid: { readonly certChainDer: readonly Uint8Array[]; readonly privateKeyPkcs8Der: Uint8Array };
  readonly notAfter: number;
}

export interface UnservedEntry {
  readonly entryId: string;
  readonly spiffeId: string;
  /** notAfter of the SVID the cache last held for this entry; undefined when none was signed. */
  readonly svidExpiredAt?: number;
  /** The server's error code when it refused to sign this entry's last CSR. */
  readonly signRefused?: string;
}

export interface IdentityCacheOptions {
  client: ServerClient;
  clock: Clock;
  logger: Logger;
  /** Random source in [0, 1) for the renewal jitter. */
  random?: () => number;
  /** Workload key algorithm, default ec-p256. */
  keyType?: WorkloadKeyType;
  /** CSRs per signCsrs call, 1..500 (default 500). */
  csrBatchSize?: number;
  /** Cached JWT-SVIDs bound (default 4096). */
  jwtCacheSize?: number;
}

export interface IdentityCache {
  /** False until markReady(); never goes back. */
  readonly ready: boolean;
  /** entry id -> revision, for the next sync. */
  knownRevisions(): Map<string, number>;
  /** Applies a sync result: entries, bundles and tainted authorities. */
  applySync(result: SyncEntriesResult): EntryDiff;
  /** Signs every due SVID; rejects (after keeping whatever was signed) when the server is unreachable. */
  renewDue(): Promise<RenewSummary>;
  /** Called by the sync loop once the first sync and signing pass completed. */
  markReady(): void;
  /** The identities of a workload with these selectors, default (first) identity first. */
  identitiesFor(selectors: readonly Selector[]): CachedIdentity[];
  /**
   * Entries matching these selectors that have no servable SVID now (none signed yet, or it
   * expired, e.g. while the server was unreachable), with the expiry of the SVID last held.
   */
  unservedFor(selectors: readonly Selector[]): UnservedEntry[];
  /** Own and federated bundles; ERR_WORKLOAD_API_NOT_READY before the first sync. */
  bundles(): BundleSnapshot;
  /** A JWT-SVID for `spiffeId` (one of the agent's entries), cached until past its half-life. */
  mintJwtSvid(spiffeId: string, audience: readonly string[]): Promise<JwtSvidResult>;
  onChange(listener: (change: CacheChange) => void): () => void;
  /** The cached SVID of an entry (diagnostics, tests); the key stays inside. */
  svidOf(entryId: string): CachedSvid | undefined;
  readonly entryCount: number;
  /** Cancels the expiry timer. */
  close(): void;
}

const EMPTY: CacheChange = Object.freeze({ entries: [], spiffeIds: [], trustDomains: [], entitlements: false, ready: false });

export function createIdentityCache(options: IdentityCacheOptions): IdentityCache {
  const { clock } = options;
  const logger = options.logger.child({ component: "identity-cache" });
  const index = createEntryIndex();
  const bundleState = createBundleState();
  const jwt = createJwtCache({ client: options.client, clock, maxEntries: options.jwtCacheSize });
  const listeners = new Set<(change: CacheChange) => void>();
  const memo = new Map<string, { entry: AgentEntry; svid: CachedSvid; identity: CachedIdentity }>();
  let ready = false;

  function emit(change: Partial<CacheChange>): void {
    const full = { ...EMPTY, ...change };
    if (full.entries.length + full.spiffeIds.length + full.trustDomains.length === 0 && !full.entitlements && !full.ready) return;
    for (const listener of listeners) {
      try {
        listener(full);
      } catch (err) {
        logger.error({ err }, "a cache change listener threw; other listeners still ran");
      }
    }
  }

  const renewer = createRenewer({
    client: options.client,
    clock,
    logger,
    random: options.random ?? Math.random,
    keyType: options.keyType ?? "ec-p256",
    batchSize: options.csrBatchSize,
    entries: () => index.all(),
    entry: (id) => index.get(id),
    onSvids: (entryIds, spiffeIds) => emit({ entries: entryIds, spiffeIds }),
  });

  function identityOf(entry: AgentEntry, svid: CachedSvid): CachedIdentity {
    const m = memo.get(entry.id);
    if (m !== undefined && m.entry === entry && m.svid === svid) return m.identity;
    const identity: CachedIdentity = Object.freeze({
      entryId: entry.id,
      spiffeId: entry.spiffeId,
      hint: entry.hint === "" ? undefined : entry.hint,
      federatesWith: entry.federatesWith,
      x509Svid: Object.freeze({ certChainDer: svid.chainDer, privateKeyPkcs8Der: svid.key.pkcs8Der }),
      notAfter: svid.notAfter,
    });
    memo.set(entry.id, { entry, svid, identity });
    return identity;
  }

  return {
    get ready() {
      return ready;
    },
    knownRevisions: () => index.knownRevisions(),
    applySync(result) {
      const diff = index.apply(result.changed, result.removed);
      const trustDomains = bundleState.apply(result.bundles);
      renewer.setTainted(result.taintedAuthorities);
      const spiffeIds = new Set<string>();
      for (const removed of diff.removed) {
        memo.delete(removed.id);
        if (renewer.drop(removed.id)) spiffeIds.add(removed.spiffeId);
        jwt.drop(removed.spiffeId);
        logger.info({ entryId: removed.id, spiffeId: removed.spiffeId }, "entry removed by the server: its SVID is no longer served");
      }
      for (const { entry, previous } of diff.updated) {
        jwt.drop(previous.spiffeId);
        logger.info({ entryId: entry.id, spiffeId: entry.spiffeId, revision: entry.revision, previousRevision: previous.revision }, "entry changed: its SVID will be re-issued");
      }
      for (const added of diff.added) logger.debug({ entryId: added.id, spiffeId: added.spiffeId }, "entry added");
      if (trustDomains.length > 0) logger.info({ trustDomains }, "bundles changed");
      const entries = [...diff.added, ...diff.updated.map((u) => u.entry), ...diff.removed].map((e) => e.id);
      emit({ entries, spiffeIds: [...spiffeIds], trustDomains, entitlements: entries.length > 0 });
      return diff;
    },
    renewDue: () => renewer.renewDue(),
    markReady() {
      if (ready) return;
      ready = true;
      logger.info({ entries: index.size, svids: renewer.size }, "first sync complete: serving identities");
      emit({ ready: true });
    },
    identitiesFor(selectors) {
      const now = clock.now();
      const out: CachedIdentity[] = [];
      for (const entry of index.matching(selectors)) {
        const svid = renewer.get(entry.id);
        // An SVID issued for an earlier SPIFFE ID of the entry is never handed out under the new one.
        if (svid !== undefined && svid.spiffeId === entry.spiffeId && now < svid.notAfter) out.push(identityOf(entry, svid));
      }
      return out;
    },
    unservedFor(selectors) {
      const now = clock.now();
      const out: UnservedEntry[] = [];
      for (const entry of index.matching(selectors)) {
        const svid = renewer.get(entry.id);
        if (svid !== undefined && svid.spiffeId === entry.spiffeId && now < svid.notAfter) continue;
        const expiredAt = svid !== undefined && svid.spiffeId === entry.spiffeId ? svid.notAfter : renewer.expiredAt(entry.id);
        const refused = renewer.refusal(entry.id);
        out.push({ entryId: entry.id, spiffeId: entry.spiffeId, ...(expiredAt !== undefined ? { svidExpiredAt: expiredAt } : {}), ...(refused !== undefined ? { signRefused: refused } : {}) });
      }
      return out;
    },
    bundles() {
      const snapshot = bundleState.current();
      if (snapshot === undefined) throw spindleError("ERR_WORKLOAD_API_NOT_READY", "the agent has no bundles yet: the first sync with the server has not completed");
      return snapshot;
    },
    async mintJwtSvid(spiffeId, audience) {
      const [entry] = index.withSpiffeId(spiffeId);
      if (entry === undefined) throw spindleError("ERR_WORKLOAD_NO_IDENTITY", `no registration entry of this agent grants ${spiffeId}`);
      return jwt.get(entry.id, spiffeId, audience);
    },
    onChange(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    svidOf: (entryId) => renewer.get(entryId),
    get entryCount() {
      return index.size;
    },
    close: () => renewer.close(),
  };
}
