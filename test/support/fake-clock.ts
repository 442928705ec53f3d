// A clock for tests: time moves only when the test says so, and due timers fire in order.
import type { Clock } from "../../src/common/clock.js";

export interface FakeClock extends Clock {
  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void;
  /** Sets the absolute time (must not go backwards). */
  set(ms: number): void;
  /** Number of pending timers. */
  pending(): number;
}

export function createFakeClock(startMs = Date.UTC(2026, 0, 1)): FakeClock {
  let now = startMs;
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const fireDue = () => {
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of timers) {
        if (entry[1].at <= now && (next === undefined || entry[1].at < next[1].at)) next = entry;
      }
      if (next === undefined) return;
      timers.delete(next[0]);
      next[1].fn();
    }
  };
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const id = ++seq;
      timers.set(id, { at: now + Math.max(0, ms), fn });
      return () => {
        timers.delete(id);
      };
    },
    advance(ms) {
      if (ms < 0) throw new TypeError("FakeClock.advance: ms must be >= 0");
      const target = now + ms;
      // Step timer by timer so callbacks observe their own due time.
      for (;;) {
        let nextAt = Infinity;
        for (const t of timers.values()) if (t.at < nextAt) nextAt = t.at;
        if (nextAt > target) break;
        now = Math.max(now, nextAt);
        fireDue();
      }
      now = target;
    },
    set(ms) {
      if (ms < now) throw new TypeError("FakeClock.set: time must not go backwards");
      this.advance(ms - now);
    },
    pending: () => timers.size,
  };
}
