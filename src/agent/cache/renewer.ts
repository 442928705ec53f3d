// Holds the X.509-SVIDs of the entries and keeps them current: renewal passes (serialised), the
// set of tainted authorities, per-entry failure streaks (logged once each), and a timer that
// announces an SVID's expiry when it could not be renewed in time (server down too long).
import type { Clock } from "../../common/clock.js";
import type { Logger } from "../../common/logger.js";
import type { AgentEntry, ServerClient } from "./server-client.js";
import { dueEntries, signEntries, type CachedSvid, type RenewalReason, type SignFailure } from "./svid-signer.js";
import type { WorkloadKeyType } from "./workload-key.js";

/** Retry delays for CSRs the server refused (not for an unreachable server: the sync loop backs off). */
export const REFUSED_RETRY_BASE_MS = 5_000;
export const REFUSED_RETRY_MAX_MS = 5 * 60_000;

export interface RenewSummary {
  readonly due: number;
  readonly signed: number;
  readonly failed: number;
  readonly byReason: Readonly<Partial<Record<RenewalReason, number>>>;
}

export interface RenewerOptions {
  client: ServerClient;
  clock: Clock;
  logger: Logger;
  random: () => number;
  keyType: WorkloadKeyType;
  batchSize?: number;
  entries(): Iterable<AgentEntry>;
  entry(id: string): AgentEntry | undefined;
  /** SVIDs of these entries (and SPIFFE IDs) were issued, replaced or expired. */
  onSvids(entryIds: readonly string[], spiffeIds: readonly string[]): void;
}

export interface Renewer {
  get(entryId: string): CachedSvid | undefined;
  /** notAfter of the entry's SVID when it expired unrenewed (until a new one is signed). */
  expiredAt(entryId: string): number | undefined;
  /** The server's code when it refused the entry's last CSR. */
  refusal(entryId: string): string | undefined;
  readonly size: number;
  /** Replaces the set of tainted authority ids (from the latest sync). */
  setTainted(ids: readonly string[]): void;
  /** Forgets an entry's SVID; true when there was one. */
  drop(entryId: string): boolean;
  renewDue(): Promise<RenewSummary>;
  close(): void;
}

export function createRenewer(options: RenewerOptions): Renewer {
  const { clock, logger } = options;
  const svids = new Map<string, CachedSvid>();
  /** entry id -> notAfter of its SVID that expired unrenewed; cleared by a new SVID or a drop. */
  const expired = new Map<string, number>();
  let tainted: ReadonlySet<string> = new Set();
  /** Entries the server refused to sign: retried with backoff until their revision changes. */
  const failing = new Map<string, { code: string; revision: number; attempts: number; retryAt: number }>();
  let queue: Promise<unknown> = Promise.resolve();
  let cancelExpiry: (() => void) | undefined;
  let expiryAt = Infinity;

  function scheduleExpiry(): void {
    let earliest = Infinity;
    for (const s of svids.values()) if (s.notAfter < earliest) earliest = s.notAfter;
    if (earliest === expiryAt) return;
    cancelExpiry?.();
    cancelExpiry = undefined;
    expiryAt = earliest;
    if (earliest === Infinity) return;
    cancelExpiry = clock.setTimeout(expire, Math.max(0, earliest - clock.now()));
  }

  function expire(): void {
    cancelExpiry = undefined;
    expiryAt = Infinity;
    const now = clock.now();
    const gone: CachedSvid[] = [];
    for (const s of svids.values()) if (s.notAfter <= now) gone.push(s);
    for (const s of gone) {
      svids.delete(s.entryId);
      expired.set(s.entryId, s.notAfter);
      logger.warn({ entryId: s.entryId, spiffeId: s.spiffeId, notAfter: new Date(s.notAfter).toISOString() }, "SVID expired before it could be renewed (server unreachable or refusing); no longer served");
    }
    if (gone.length > 0) options.onSvids(gone.map((s) => s.entryId), [...new Set(gone.map((s) => s.spiffeId))]);
    scheduleExpiry();
  }

  function store(signed: readonly CachedSvid[], failed: readonly SignFailure[]): void {
    const entryIds: string[] = [];
    const spiffeIds = new Set<string>();
    for (const svid of signed) {
      const entry = options.entry(svid.entryId);
      // The entry changed or went away while its CSR was out: the next pass handles it.
      if (entry === undefined || entry.revision !== svid.revision) continue;
      const previous = svids.get(svid.entryId);
      if (previous !== undefined) spiffeIds.add(previous.spiffeId);
      svids.set(svid.entryId, svid);
      expired.delete(svid.entryId);
      entryIds.push(svid.entryId);
      spiffeIds.add(svid.spiffeId);
      if (failing.delete(svid.entryId)) logger.info({ entryId: svid.entryId, spiffeId: svid.spiffeId }, "SVID signed again after earlier failures");
      logger.debug(
        { entryId: svid.entryId, spiffeId: svid.spiffeId, authorityId: svid.authorityId, notAfter: new Date(svid.notAfter).toISOString(), renewAt: new Date(svid.renewAt).toISOString() },
        "SVID cached",
      );
    }
    const now = clock.now();
    for (const f of failed) {
      const revision = options.entry(f.entryId)?.revision ?? -1;
      const previous = failing.get(f.entryId);
      const attempts = previous !== undefined && previous.revision === revision ? previous.attempts + 1 : 1;
      const retryInMs = Math.min(REFUSED_RETRY_BASE_MS * 2 ** (attempts - 1), REFUSED_RETRY_MAX_MS);
      failing.set(f.entryId, { code: f.code, revision, attempts, retryAt: now + retryInMs });
      const fields = { entryId: f.entryId, code: f.code, reason: f.message, attempts, retryInMs };
      if (attempts === 1) logger.warn(fields, "the server did not sign this entry's SVID; the current one (if any) is served until it expires");
      else logger.debug(fields, "SVID signing still failing");
    }
    scheduleExpiry();
    if (entryIds.length > 0) options.onSvids(entryIds, [...spiffeIds]);
  }

  async function pass(): Promise<RenewSummary> {
    const now = clock.now();
    // A refused entry waits for its retry time, unless it changed (the change may be the fix).
    const due = dueEntries(options.entries(), svids, tainted, now).filter(({ entry }) => {
      const f = failing.get(entry.id);
      return f === undefined || f.revision !== entry.revision || now >= f.retryAt;
    });
    const byReason: Partial<Record<RenewalReason, number>> = {};
    for (const d of due) byReason[d.reason] = (byReason[d.reason] ?? 0) + 1;
    if (due.length === 0) return { due: 0, signed: 0, failed: 0, byReason };
    logger.info({ due: due.length, byReason }, "renewing SVIDs");
    let signed = 0;
    let failed = 0;
    await signEntries(due, {
      client: options.client,
      keyType: options.keyType,
      batchSize: options.batchSize,
      now: () => clock.now(),
      random: options.random,
      onBatch(s, f) {
        signed += s.length;
        failed += f.length;
        store(s, f);
      },
    });
    logger.info({ due: due.length, signed, failed }, "SVID renewal pass done");
    return { due: due.length, signed, failed, byReason };
  }

  return {
    get: (entryId) => svids.get(entryId),
    expiredAt: (entryId) => expired.get(entryId),
    refusal: (entryId) => failing.get(entryId)?.code,
    get size() {
      return svids.size;
    },
    setTainted(ids) {
      const next = new Set(ids);
      for (const id of next) {
        if (tainted.has(id)) continue;
        const affected = [...svids.values()].filter((s) => s.authorityId === id).length;
        if (affected > 0) logger.warn({ authorityId: id, svids: affected }, "signing authority reported tainted: re-issuing every SVID it signed now");
      }
      tainted = next;
    },
    drop(entryId) {
      failing.delete(entryId);
      expired.delete(entryId);
      const had = svids.delete(entryId);
      if (had) scheduleExpiry();
      return had;
    },
    renewDue() {
      const run = queue.then(pass, pass);
      queue = run.catch(() => undefined);
      return run;
    },
    close() {
      cancelExpiry?.();
      cancelExpiry = undefined;
      expiryAt = Infinity;
    },
  };
}
