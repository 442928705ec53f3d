// The server's federation relationships and one refresher per relationship. Config relationships
// win over API ones (same trust domain: the API one is ignored and cannot be written); every
// replica reconciles the API relationships from the datastore at an interval, so a relationship
// created on one HA replica is polled by all of them (writes are compare-and-set, see refresh.ts).
import { createBackoff, type Backoff } from "../../common/backoff.js";
import type { Clock } from "../../common/clock.js";
import { SpindleError, spindleError } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import type { Datastore, StoredRelationship } from "../datastore/index.js";
import type { FetchLimits } from "./fetch-bundle.js";
import { reasonOf, type RefusalReason } from "./refusal.js";
import { refreshOnce, storedBundle, type RefreshResult } from "./refresh.js";
import { endpointTrustDomain, validateRelationship, type FederationRelationship, type RelationshipInput, type ValidatedRelationship } from "./relationship.js";

/** Poll timing (docs/federation.md "Refresh timing"). */
export interface FederationTiming {
  /** Without spiffe_refresh_hint (SPIFFE Federation section 4.1 recommends five minutes). */
  defaultIntervalMs: number;
  /** Floor and ceiling applied to the hint. */
  minIntervalMs: number;
  maxIntervalMs: number;
  /** Until the first success: backoff from this... */
  firstRetryInitialMs: number;
  /** ...up to this. */
  firstRetryMaxMs: number;
  /** How often API relationships are re-read from the datastore (changes made on other replicas). */
  reconcileIntervalMs: number;
}

export const DEFAULT_FEDERATION_TIMING: Readonly<FederationTiming> = Object.freeze({
  defaultIntervalMs: 5 * 60_000,
  minIntervalMs: 30_000,
  maxIntervalMs: 60 * 60_000,
  firstRetryInitialMs: 1_000,
  firstRetryMaxMs: 30_000,
  reconcileIntervalMs: 5_000,
});

export const DEFAULT_FETCH_LIMITS = Object.freeze({ timeoutMs: 10_000, maxBodyBytes: 1024 * 1024, maxRedirects: 5 });

export interface FederationMetrics {
  refreshed(trustDomain: string, outcome: RefreshResult["outcome"]): void;
  refused(trustDomain: string, reason: RefusalReason): void;
}

export interface RefreshStatus {
  lastAttemptAt?: number;
  lastSuccessAt?: number;
  lastError?: { reason: RefusalReason; message: string; at: number };
  nextAttemptAt?: number;
}

export interface RelationshipView {
  relationship: FederationRelationship;
  status: RefreshStatus;
  /** The stored bundle of the trust domain, if any. */
  bundle?: { sequence?: number; refreshHintSeconds?: number; x509Authorities: number; jwtAuthorities: number; updatedAt: number };
}

export interface FederationManagerOptions {
  ownTrustDomain: string;
  /** Validated by the config pipeline. */
  configRelationships: readonly ValidatedRelationship[];
  datastore: Datastore;
  clock: Clock;
  logger: Logger;
  metrics?: FederationMetrics;
  timing?: Partial<FederationTiming>;
  fetchLimits?: Partial<Omit<FetchLimits, "now">>;
}

export interface FederationManager {
  /** Stores config bootstrap bundles where none is stored yet and starts every refresher. */
  start(): Promise<void>;
  stop(): void;
  list(): Promise<RelationshipView[]>;
  get(trustDomain: string): Promise<RelationshipView>;
  /** All or nothing. */
  create(inputs: readonly RelationshipInput[]): Promise<RelationshipView[]>;
  update(input: RelationshipInput): Promise<RelationshipView>;
  delete(trustDomain: string): Promise<RelationshipView>;
  /** Fetches now; rejects with the refusal (ERR_FEDERATION_REFRESH_FAILED) when refused. */
  refresh(trustDomain: string): Promise<RelationshipView>;
  /** Re-reads API relationships and starts/stops refreshers to match. */
  reconcile(): Promise<void>;
}

interface Worker {
  relationship: FederationRelationship;
  status: RefreshStatus;
  succeeded: boolean;
  intervalMs: number;
  backoff: Backoff;
  cancel?: () => void;
  running?: Promise<RefreshResult>;
  stopped: boolean;
}

function sameSettings(a: FederationRelationship, b: FederationRelationship): boolean {
  return a.bundleEndpointUrl === b.bundleEndpointUrl && a.profile === b.profile && a.endpointSpiffeId === b.endpointSpiffeId && a.caFile === b.caFile && a.source === b.source;
}

function fromStored(s: StoredRelationship): FederationRelationship {
  return Object.freeze({ trustDomain: s.trustDomain, bundleEndpointUrl: s.bundleEndpointUrl, profile: s.profile, endpointSpiffeId: s.endpointSpiffeId, caFile: s.caFile, source: "api" as const });
}

export function createFederationManager(o: FederationManagerOptions): FederationManager {
  const timing: FederationTiming = { ...DEFAULT_FEDERATION_TIMING, ...o.timing };
  const limits: FetchLimits = { ...DEFAULT_FETCH_LIMITS, ...o.fetchLimits, now: o.clock.now };
  const ds = o.datastore;
  const config = new Map(o.configRelationships.map((v) => [v.relationship.trustDomain, v]));
  const workers = new Map<string, Worker>();
  const shadowWarned = new Set<string>();
  let stopped = false;
  let cancelReconcile: (() => void) | undefined;

  const intervalFor = (hintSeconds: number | undefined) =>
    Math.min(timing.maxIntervalMs, Math.max(timing.minIntervalMs, hintSeconds === undefined ? timing.defaultIntervalMs : hintSeconds * 1000));

  function schedule(w: Worker, ms: number): void {
    w.cancel?.();
    if (w.stopped) return;
    w.status.nextAttemptAt = o.clock.now() + ms;
    w.cancel = o.clock.setTimeout(() => void attempt(w).catch(() => undefined), ms);
  }

  async function runAttempt(w: Worker): Promise<RefreshResult> {
    const r = w.relationship;
    w.status.lastAttemptAt = o.clock.now();
    try {
      const result = await refreshOnce(r, ds, limits);
      w.succeeded = true;
      w.backoff.reset();
      w.status.lastSuccessAt = o.clock.now();
      w.intervalMs = intervalFor(result.bundle.refreshHintSeconds);
      o.metrics?.refreshed(r.trustDomain, result.outcome);
      const fields = { trustDomain: r.trustDomain, outcome: result.outcome, sequence: result.bundle.sequenceNumber, url: result.url };
      if (result.outcome === "updated") o.logger.info(fields, "federated bundle refreshed");
      else o.logger.debug(fields, "federated bundle checked");
      schedule(w, w.intervalMs);
      return result;
    } catch (err) {
      const e = SpindleError.from(err);
      const reason = reasonOf(e);
      w.status.lastError = { reason, message: e.message, at: o.clock.now() };
      o.metrics?.refused(r.trustDomain, reason);
      // One line per refusal, naming the relationship and the reason; the stored bundle stays.
      o.logger.warn({ trustDomain: r.trustDomain, url: r.bundleEndpointUrl, profile: r.profile, reason }, `federated bundle refresh of "${r.trustDomain}" refused (${reason}): ${e.message}; keeping the last good bundle`);
      // SPIFFE Federation section 6.2: after a failure retry at the next interval; only until the
      // first success a short backoff applies.
      schedule(w, w.succeeded ? w.intervalMs : w.backoff.next());
      throw e;
    }
  }

  /** Attempts are serialized per relationship; a refresh during one waits for it, then runs. */
  async function attempt(w: Worker): Promise<RefreshResult> {
    while (w.running) await w.running.catch(() => undefined);
    if (w.stopped) throw spindleError("ERR_NOT_FOUND", `no federation relationship with "${w.relationship.trustDomain}"`);
    const p = runAttempt(w);
    w.running = p;
    try {
      return await p;
    } finally {
      if (w.running === p) w.running = undefined;
    }
  }

  function startWorker(r: FederationRelationship): void {
    const w: Worker = {
      relationship: r,
      status: {},
      succeeded: false,
      intervalMs: timing.defaultIntervalMs,
      backoff: createBackoff({ initialMs: timing.firstRetryInitialMs, maxMs: timing.firstRetryMaxMs }),
      stopped: false,
    };
    workers.set(r.trustDomain, w);
    o.logger.info({ trustDomain: r.trustDomain, url: r.bundleEndpointUrl, profile: r.profile, source: r.source }, "federation relationship active");
    schedule(w, 0);
  }

  /** Stops polling; the returned promise settles once an attempt in flight has finished. */
  function stopWorker(td: string, why: string): Promise<void> {
    const w = workers.get(td);
    if (!w) return Promise.resolve();
    w.stopped = true;
    w.cancel?.();
    workers.delete(td);
    o.logger.info({ trustDomain: td }, `federation relationship stopped (${why})`);
    return (w.running ?? Promise.resolve()).then(
      () => undefined,
      () => undefined,
    );
  }

  async function desired(): Promise<Map<string, FederationRelationship>> {
    const out = new Map<string, FederationRelationship>();
    for (const [td, v] of config) out.set(td, v.relationship);
    for (const s of await ds.listFederationRelationships()) {
      if (config.has(s.trustDomain)) {
        if (!shadowWarned.has(s.trustDomain)) o.logger.warn({ trustDomain: s.trustDomain }, "an API federation relationship is ignored: the config file defines one for the same trust domain");
        shadowWarned.add(s.trustDomain);
        continue;
      }
      out.set(s.trustDomain, fromStored(s));
    }
    return out;
  }

  async function reconcile(): Promise<void> {
    if (stopped) return;
    const want = await desired();
    for (const td of [...workers.keys()]) {
      const w = workers.get(td)!;
      const next = want.get(td);
      if (next === undefined) void stopWorker(td, "deleted");
      else if (!sameSettings(w.relationship, next)) void stopWorker(td, "updated");
    }
    for (const [td, r] of want) if (!workers.has(td)) startWorker(r);
  }

  function scheduleReconcile(): void {
    cancelReconcile = o.clock.setTimeout(() => {
      reconcile()
        .catch((err: unknown) => o.logger.warn({ err }, "could not re-read federation relationships; keeping the current ones"))
        .finally(() => !stopped && scheduleReconcile());
    }, timing.reconcileIntervalMs);
  }

  async function view(r: FederationRelationship): Promise<RelationshipView> {
    const w = workers.get(r.trustDomain);
    const rec = await ds.getFederatedBundle(r.trustDomain);
    const b = rec ? (await storedBundle(ds, r.trustDomain))?.bundle : undefined;
    return {
      relationship: r,
      status: { ...(w?.status ?? {}) },
      ...(rec && b
        ? {
            bundle: {
              ...(b.sequenceNumber !== undefined ? { sequence: b.sequenceNumber } : {}),
              ...(b.refreshHintSeconds !== undefined ? { refreshHintSeconds: b.refreshHintSeconds } : {}),
              x509Authorities: b.x509Authorities.length,
              jwtAuthorities: b.jwtAuthorities.size,
              updatedAt: rec.updatedAt,
            },
          }
        : {}),
    };
  }

  function notFromConfig(td: string, what: string): void {
    if (config.has(td)) {
      throw spindleError("ERR_FEDERATION_FROM_CONFIG", `the federation relationship with "${td}" comes from the server's config file (federation.federates_with); ${what} it there`, {
        details: { trustDomain: td },
      });
    }
  }

  /** https_spiffe needs a bundle to authenticate the endpoint with before the first fetch. */
  async function checkBootstrap(v: ValidatedRelationship, pendingDomains: ReadonlySet<string>): Promise<void> {
    const r = v.relationship;
    const etd = endpointTrustDomain(r);
    if (etd === undefined) return;
    if (etd === r.trustDomain && v.bootstrapBundle !== undefined) return;
    if ((etd !== r.trustDomain && (pendingDomains.has(etd) || workers.has(etd))) || (await ds.getFederatedBundle(etd)) !== undefined) return;
    throw spindleError(
      "ERR_FEDERATION_RELATIONSHIP_INVALID",
      etd === r.trustDomain
        ? `federation relationship "${r.trustDomain}" is invalid: trust_domain_bundle: the https_spiffe endpoint is self-serving and no bundle of "${etd}" is stored; give the bootstrap bundle (trust_domain_bundle_path)`
        : `federation relationship "${r.trustDomain}" is invalid: endpoint_spiffe_id: no bundle of "${etd}" is stored and no relationship with it exists to authenticate ${r.endpointSpiffeId}`,
      { details: { trustDomain: r.trustDomain } },
    );
  }

  function relationshipOf(td: string): FederationRelationship {
    const w = workers.get(td);
    if (w) return w.relationship;
    const c = config.get(td);
    if (c) return c.relationship;
    throw spindleError("ERR_NOT_FOUND", `no federation relationship with "${td}"`, { details: { trustDomain: td } });
  }

  return {
    async start() {
      for (const v of config.values()) {
        if (v.bootstrapBundle === undefined) continue;
        // Only where nothing is stored: a restart must not roll back a bundle fetched since.
        if (await ds.compareAndSetFederatedBundle(v.relationship.trustDomain, undefined, v.bootstrapBundle)) {
          o.logger.info({ trustDomain: v.relationship.trustDomain }, "federation bootstrap bundle stored");
        }
      }
      const configDomains = new Set(config.keys());
      for (const v of config.values()) await checkBootstrap(v, configDomains);
      await reconcile();
      scheduleReconcile();
    },
    stop() {
      stopped = true;
      cancelReconcile?.();
      for (const td of [...workers.keys()]) void stopWorker(td, "server stopping");
    },
    async list() {
      const want = await desired();
      return Promise.all([...want.values()].sort((a, b) => (a.trustDomain < b.trustDomain ? -1 : 1)).map(view));
    },
    async get(td) {
      const c = config.get(td);
      if (c) return view(c.relationship);
      const s = await ds.getFederationRelationship(td);
      if (!s) throw spindleError("ERR_NOT_FOUND", `no federation relationship with "${td}"`, { details: { trustDomain: td } });
      return view(fromStored(s));
    },
    async create(inputs) {
      const validated = inputs.map((i) => validateRelationship(i, o.ownTrustDomain, "api"));
      const seen = new Set<string>();
      for (const v of validated) {
        const td = v.relationship.trustDomain;
        if (seen.has(td)) throw spindleError("ERR_FEDERATION_RELATIONSHIP_INVALID", `trust domain "${td}" is given twice`, { details: { trustDomain: td } });
        seen.add(td);
        notFromConfig(td, "change");
      }
      for (const v of validated) await checkBootstrap(v, seen);
      const stored = await ds.createFederationRelationships(
        validated.map((v) => ({ relationship: v.relationship, ...(v.bootstrapBundle !== undefined ? { bootstrapBundle: v.bootstrapBundle } : {}) })),
      );
      await reconcile();
      return Promise.all(stored.map((s) => view(fromStored(s))));
    },
    async update(input) {
      notFromConfig(input.trustDomain, "change");
      const v = validateRelationship(input, o.ownTrustDomain, "api");
      await checkBootstrap(v, new Set());
      // A fetch from the old endpoint still in flight must not be stored after the update.
      await stopWorker(v.relationship.trustDomain, "updating");
      let s: StoredRelationship;
      try {
        s = await ds.updateFederationRelationship({ relationship: v.relationship, ...(v.bootstrapBundle !== undefined ? { bootstrapBundle: v.bootstrapBundle } : {}) });
      } finally {
        await reconcile();
      }
      return view(fromStored(s));
    },
    async delete(td) {
      notFromConfig(td, "remove");
      // Polling stops, and an attempt in flight finishes, before the bundle is deleted; on other
      // replicas the datastore refuses to store a first bundle once the relationship row is gone.
      await stopWorker(td, "deleting");
      let s: StoredRelationship;
      try {
        s = await ds.deleteFederationRelationship(td);
      } finally {
        await reconcile();
      }
      const r = fromStored(s);
      return { relationship: r, status: {} };
    },
    async refresh(td) {
      relationshipOf(td);
      const w = workers.get(td);
      if (!w) throw spindleError("ERR_NOT_FOUND", `no federation relationship with "${td}" is active`, { details: { trustDomain: td } });
      await attempt(w);
      return view(w.relationship);
    },
    reconcile,
  };
}
