// change key -> streams depending on it. Rotation of one SVID touches only the streams that
// resolved a name to it (docs/design/wire-facts.md, "Envoy SDS"),
// without scanning every open stream.
import { sameKeys } from "./xds-stream-common.js";

export interface SubscriptionIndex<S> {
  /** Replaces the keys `stream` depends on. */
  set(stream: S, keys: ReadonlySet<string>): void;
  remove(stream: S): void;
  /** Streams depending on any of `keys`, each once. */
  affected(keys: Iterable<string>): Set<S>;
}

export function createSubscriptionIndex<S>(): SubscriptionIndex<S> {
  const byKey = new Map<string, Set<S>>();
  const byStream = new Map<S, ReadonlySet<string>>();

  function remove(stream: S): void {
    for (const key of byStream.get(stream) ?? []) {
      const set = byKey.get(key);
      set?.delete(stream);
      if (set?.size === 0) byKey.delete(key);
    }
    byStream.delete(stream);
  }

  return {
    set(stream, keys) {
      const previous = byStream.get(stream);
      if (previous !== undefined && sameKeys(previous, keys)) return;
      remove(stream);
      byStream.set(stream, keys);
      for (const key of keys) {
        let set = byKey.get(key);
        if (set === undefined) byKey.set(key, (set = new Set()));
        set.add(stream);
      }
    },
    remove,
    affected(keys) {
      const out = new Set<S>();
      for (const key of keys) for (const s of byKey.get(key) ?? []) out.add(s);
      return out;
    },
  };
}
