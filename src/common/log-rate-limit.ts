// Rate-limited log lines (docs/logging.md): a line that could repeat per call is written at most
// once per key and window; the lines dropped in between are counted and the count goes on the next
// line written for that key (`suppressed`). Memory is bounded: past `maxKeys` the least recently
// written key is forgotten (with its count).
import { systemClock, type Clock } from "./clock.js";
import type { Logger } from "./logger.js";

/** Default window of every rate-limited line, documented in docs/logging.md. */
export const LOG_WINDOW_MS = 60_000;
/** Default bound on the keys a limiter remembers. */
export const LOG_MAX_KEYS = 1024;

export interface LogRateLimiterOptions {
  windowMs?: number;
  maxKeys?: number;
  clock?: Clock;
}

export interface LogRateLimiter {
  /**
   * Whether a line for `key` may be written now. `undefined`: drop it (it is counted). A number:
   * write it, with that many lines dropped for the key since the last one written.
   */
  admit(key: string): number | undefined;
  /** Keys remembered (tests). */
  size(): number;
}

type Level = "debug" | "info" | "warn" | "error";

export function createLogRateLimiter(options: LogRateLimiterOptions = {}): LogRateLimiter {
  const windowMs = options.windowMs ?? LOG_WINDOW_MS;
  const maxKeys = options.maxKeys ?? LOG_MAX_KEYS;
  const clock = options.clock ?? systemClock;
  if (!(windowMs >= 0) || !Number.isSafeInteger(maxKeys) || maxKeys < 1) throw new TypeError("createLogRateLimiter: windowMs >= 0 and maxKeys >= 1 are required");
  // Insertion order = order of the last written line: the first key is the one to forget.
  const state = new Map<string, { writtenAt: number; suppressed: number }>();
  return {
    admit(key) {
      const now = clock.now();
      const s = state.get(key);
      if (s !== undefined && now - s.writtenAt < windowMs) {
        s.suppressed++;
        return undefined;
      }
      const suppressed = s?.suppressed ?? 0;
      state.delete(key);
      if (state.size >= maxKeys) state.delete(state.keys().next().value!);
      state.set(key, { writtenAt: now, suppressed: 0 });
      return suppressed;
    },
    size: () => state.size,
  };
}

/**
 * Writes `msg` at `level` unless the limiter drops it; a written line carries `suppressed` when
 * lines for the same key were dropped before it. Returns whether it was written.
 */
export function logLimited(limiter: LogRateLimiter, key: string, logger: Logger, level: Level, fields: Record<string, unknown>, msg: string): boolean {
  if (!logger.isLevelEnabled(level)) return false;
  const suppressed = limiter.admit(key);
  if (suppressed === undefined) return false;
  logger[level](suppressed > 0 ? { ...fields, suppressed } : fields, msg);
  return true;
}

/** A bounded set of keys seen at least once (a line written once per binary, per name...). */
export interface SeenOnce {
  /** True the first time `key` is given (and again after it was forgotten for room). */
  first(key: string): boolean;
  size(): number;
}

export function createSeenOnce(maxKeys = LOG_MAX_KEYS): SeenOnce {
  const seen = new Set<string>();
  return {
    first(key) {
      if (seen.has(key)) return false;
      if (seen.size >= maxKeys) seen.delete(seen.values().next().value!);
      seen.add(key);
      return true;
    },
    size: () => seen.size,
  };
}

/** The first `max` items and how many more: long lists (SPIFFE IDs, names) are counted, not listed. */
export function summarizeList(items: readonly string[], max = 3): { shown: string[]; total: number; more: number } {
  return { shown: items.slice(0, max), total: items.length, more: Math.max(0, items.length - max) };
}
