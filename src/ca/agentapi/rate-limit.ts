// Per-caller token buckets (1 node attestation/s and 500 signings/s per caller,
// docs/design/wire-facts.md, "Rotation and sync numbers"). A request may take more tokens than
// remain if the bucket is full enough for the part it can cover; the deficit is paid back before
// the next request, so the average rate holds.
import type { Clock } from "../../common/clock.js";
import { spindleError } from "../../common/errors.js";

export interface RateLimiter {
  /** Takes `n` tokens for `key` or throws ERR_RESOURCE_EXHAUSTED with details.retryAfterSeconds. */
  take(key: string, n?: number): void;
}

export interface RateLimiterOptions {
  /** Sustained rate; also the bucket size (one second of burst). */
  perSecond: number;
  clock: Clock;
  /** What is limited, for the error message ("node attestations", "signings"). */
  what: string;
  /** Idle full buckets are dropped once this many keys are tracked. Default 10,000. */
  maxKeys?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const { perSecond, clock, what } = options;
  if (!Number.isFinite(perSecond) || perSecond <= 0) throw new TypeError(`createRateLimiter: perSecond must be > 0, got ${perSecond}`);
  const maxKeys = options.maxKeys ?? 10_000;
  const buckets = new Map<string, Bucket>();
  const refill = (b: Bucket, now: number) => {
    b.tokens = Math.min(perSecond, b.tokens + ((now - b.at) / 1000) * perSecond);
    b.at = now;
  };
  const prune = (now: number) => {
    for (const [k, b] of buckets) {
      refill(b, now);
      if (b.tokens >= perSecond) buckets.delete(k);
    }
  };
  return {
    take(key, n = 1) {
      const now = clock.now();
      let b = buckets.get(key);
      if (b === undefined) {
        if (buckets.size >= maxKeys) prune(now);
        b = { tokens: perSecond, at: now };
        buckets.set(key, b);
      } else {
        refill(b, now);
      }
      const needed = Math.min(n, perSecond);
      if (b.tokens + 1e-9 < needed) {
        const retryAfterSeconds = Math.max(1, Math.ceil((needed - b.tokens) / perSecond));
        throw spindleError("ERR_RESOURCE_EXHAUSTED", `too many ${what} for ${key} (limit ${perSecond}/s); retry in ${retryAfterSeconds} s`, {
          details: { retryAfterSeconds },
        });
      }
      b.tokens -= n;
    },
  };
}
