// Exponential backoff with full jitter, used for reconnects (agent -> server) and retries.

export interface BackoffOptions {
  /** First delay in ms (default 500). */
  initialMs?: number;
  /** Upper bound in ms (default 30 000). */
  maxMs?: number;
  /** Growth factor per attempt (default 2). */
  multiplier?: number;
  /** Fraction of the delay that is randomised, 0..1 (default 0.2: delay * [0.8, 1.2]). */
  jitter?: number;
  /** Random source in [0, 1); injectable for tests. */
  random?: () => number;
}

export interface Backoff {
  /** The delay before the next attempt; grows with every call. */
  next(): number;
  /** Call after a success. */
  reset(): void;
  readonly attempts: number;
}

export function createBackoff(options: BackoffOptions = {}): Backoff {
  const initial = options.initialMs ?? 500;
  const max = options.maxMs ?? 30_000;
  const mult = options.multiplier ?? 2;
  const jitter = options.jitter ?? 0.2;
  const random = options.random ?? Math.random;
  if (initial <= 0 || max < initial || mult < 1 || jitter < 0 || jitter > 1) {
    throw new TypeError("createBackoff: need initialMs > 0, maxMs >= initialMs, multiplier >= 1, 0 <= jitter <= 1");
  }
  let attempts = 0;
  return {
    next() {
      const base = Math.min(max, initial * mult ** attempts);
      attempts++;
      const spread = base * jitter;
      return Math.max(0, Math.round(base - spread + random() * 2 * spread));
    },
    reset() {
      attempts = 0;
    },
    get attempts() {
      return attempts;
    },
  };
}

/** A value in [base*(1-fraction), base*(1+fraction)], e.g. renew at half-life +-10%. */
export function jittered(base: number, fraction: number, random: () => number = Math.random): number {
  return base * (1 - fraction + random() * 2 * fraction);
}
