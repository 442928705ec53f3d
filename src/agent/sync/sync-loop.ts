// The agent's sync loop (docs/design/wire-facts.md, "Rotation and sync numbers"): every 5 s send
// the known {entry id: revision}, apply what changed, then sign whatever SVIDs are due. When the
// server cannot be reached the loop backs off exponentially with jitter, logs the failure once per
// streak with its reason, and the cache keeps serving the SVIDs it has until they expire. The first
// successful round makes the cache ready.
import { createBackoff, type BackoffOptions } from "../../common/backoff.js";
import type { Clock } from "../../common/clock.js";
import { SpindleError } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import type { IdentityCache } from "../cache/identity-cache.js";
import type { ServerClient } from "../cache/server-client.js";
import type { AgentSvidManager } from "./agent-svid.js";

export const DEFAULT_SYNC_INTERVAL_MS = 5_000;

export interface SyncLoopOptions {
  client: Pick<ServerClient, "syncEntries">;
  cache: Pick<IdentityCache, "knownRevisions" | "applySync" | "renewDue" | "markReady">;
  /** Told the tainted authorities of every sync, so the agent's own SVID is renewed at once too. */
  agentSvid?: Pick<AgentSvidManager, "setTainted">;
  clock: Clock;
  logger: Logger;
  /** Between successful rounds; default 5 s. */
  intervalMs?: number;
  /** Retry delays while failing; defaults: 1 s doubling to 60 s, +-20% jitter. */
  backoff?: Omit<BackoffOptions, "random">;
  /** Random source in [0, 1) for the backoff jitter. */
  random?: () => number;
}

export interface SyncStatus {
  /** Consecutive failed rounds (0 when the last one succeeded). */
  readonly failures: number;
  /** Epoch ms of the last successful round. */
  readonly lastSuccessAt?: number;
  /** Code and message of the last failure of the current streak. */
  readonly lastError?: { readonly code: string; readonly message: string };
  /** Epoch ms of the first failed round of the current streak (absent when the last round succeeded). */
  readonly failingSince?: number;
}

export interface SyncLoop {
  /** Runs a round now, then keeps going on the clock until stop(). */
  start(): void;
  /** Stops scheduling and waits for a round in progress. */
  stop(): Promise<void>;
  /** Runs one round now (or joins the one in progress); never rejects, the outcome is in status(). */
  syncNow(): Promise<void>;
  status(): SyncStatus;
  /**
   * While failing, retries now instead of at the backoff's next slot, at most once per
   * NUDGE_MIN_GAP_MS: a workload refused because its SVID expired during an outage asks for
   * this, so the server's return is noticed within a second, not after up to 60 s of backoff.
   * No effect while rounds succeed (the regular interval applies) or one is in progress.
   */
  nudge(): void;
}

export const NUDGE_MIN_GAP_MS = 1_000;

export function createSyncLoop(options: SyncLoopOptions): SyncLoop {
  const { client, cache, clock } = options;
  const logger = options.logger.child({ component: "sync" });
  const intervalMs = options.intervalMs ?? DEFAULT_SYNC_INTERVAL_MS;
  if (!Number.isSafeInteger(intervalMs) || intervalMs < 1) throw new TypeError("createSyncLoop: intervalMs must be a positive integer");
  const backoff = createBackoff({ initialMs: 1_000, maxMs: 60_000, jitter: 0.2, ...options.backoff, random: options.random ?? Math.random });
  let running = false;
  let inFlight: Promise<void> | undefined;
  let cancelTimer: (() => void) | undefined;
  let failures = 0;
  let streakStart = 0;
  let lastSuccessAt: number | undefined;
  let lastError: { code: string; message: string } | undefined;
  let ready = false;
  let lastAttemptAt = -Infinity;

  async function round(): Promise<void> {
    const known = cache.knownRevisions();
    const result = await client.syncEntries(known);
    cache.applySync(result);
    options.agentSvid?.setTainted(result.taintedAuthorities);
    if (result.changed.length + result.removed.length > 0) {
      logger.info({ known: known.size, changed: result.changed.length, removed: result.removed.length }, "entries synced");
    }
    await cache.renewDue();
  }

  function succeeded(): void {
    const now = clock.now();
    if (failures > 0) {
      logger.info({ failures, downForMs: now - streakStart }, "server reachable again: sync resumed");
    }
    failures = 0;
    lastError = undefined;
    lastSuccessAt = now;
    backoff.reset();
    if (!ready) {
      ready = true;
      cache.markReady();
    }
  }

  function failed(err: unknown): number {
    const e = SpindleError.from(err);
    const cause = e.cause instanceof Error ? e.cause.message : undefined;
    const newReason = lastError?.code !== e.code;
    lastError = { code: e.code, message: e.message };
    const delay = backoff.next();
    if (failures === 0) streakStart = clock.now();
    if (failures === 0 || newReason) {
      // Once per streak (and when the reason changes): repeating it every retry adds nothing.
      logger.warn(
        { code: e.code, reason: e.message, cause, retryInMs: delay },
        "sync with the server failed; backing off with jitter and serving cached SVIDs until they expire",
      );
    } else {
      logger.debug({ code: e.code, reason: e.message, failures: failures + 1, retryInMs: delay }, "sync still failing");
    }
    failures++;
    return delay;
  }

  function schedule(delayMs: number): void {
    cancelTimer?.();
    cancelTimer = undefined;
    if (!running) return;
    cancelTimer = clock.setTimeout(() => {
      cancelTimer = undefined;
      void syncNow();
    }, delayMs);
  }

  function syncNow(): Promise<void> {
    if (inFlight !== undefined) return inFlight;
    lastAttemptAt = clock.now();
    inFlight = round().then(
      () => {
        succeeded();
        return intervalMs;
      },
      (err: unknown) => failed(err),
    ).then((delay) => {
      inFlight = undefined;
      schedule(delay);
    });
    return inFlight;
  }

  return {
    start() {
      if (running) return;
      running = true;
      logger.info({ intervalMs }, "sync loop started");
      void syncNow();
    },
    async stop() {
      running = false;
      cancelTimer?.();
      cancelTimer = undefined;
      await inFlight;
    },
    syncNow,
    status: () => ({ failures, lastSuccessAt, lastError, ...(failures > 0 ? { failingSince: streakStart } : {}) }),
    nudge() {
      if (!running || failures === 0 || inFlight !== undefined || clock.now() - lastAttemptAt < NUDGE_MIN_GAP_MS) return;
      logger.debug({ failures }, "a workload is waiting for an SVID: retrying the server now instead of after the backoff");
      void syncNow();
    },
  };
}
