// JWT-SVIDs handed to workloads are cached per (SPIFFE ID, audience set) and re-minted once past
// half of their lifetime (docs/design/wire-facts.md, "Rotation and sync numbers"), so a workload
// polling FetchJWTSVID does not cost a signature per call and never receives a token about to
// expire.
import type { Clock } from "../../common/clock.js";
import type { MintedJwtSvid } from "./contracts.js";

export interface JwtSvidCacheOptions {
  /** Signs a new token; called on a miss or when the cached token is past half-life. */
  mint(spiffeId: string, audience: readonly string[]): Promise<MintedJwtSvid>;
  clock: Clock;
  /** Upper bound of cached tokens; the oldest are dropped first. Default 4096. */
  maxEntries?: number;
}

export interface JwtSvidCache {
  /** A token for `spiffeId` and exactly these audiences (order and duplicates do not matter). */
  get(spiffeId: string, audience: readonly string[]): Promise<MintedJwtSvid>;
  readonly size: number;
}

interface Slot {
  /** Settled or pending; concurrent misses for one key share one signature. */
  readonly promise: Promise<MintedJwtSvid>;
  value?: MintedJwtSvid;
}

export function createJwtSvidCache(options: JwtSvidCacheOptions): JwtSvidCache {
  const { clock } = options;
  const maxEntries = options.maxEntries ?? 4096;
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new TypeError("createJwtSvidCache: maxEntries must be a positive integer");
  const slots = new Map<string, Slot>();

  const fresh = (v: MintedJwtSvid): boolean => clock.now() < v.issuedAt + (v.expiresAt - v.issuedAt) / 2;

  function evict(): void {
    if (slots.size < maxEntries) return;
    for (const [key, slot] of slots) {
      if (slot.value !== undefined && !fresh(slot.value)) slots.delete(key);
    }
    // Map iteration follows insertion order, and every (re-)mint re-inserts: oldest first.
    for (const key of slots.keys()) {
      if (slots.size < maxEntries) break;
      slots.delete(key);
    }
  }

  return {
    get(spiffeId, audience) {
      const sorted = [...new Set(audience)].sort();
      const key = JSON.stringify([spiffeId, sorted]);
      const hit = slots.get(key);
      if (hit !== undefined && (hit.value === undefined || fresh(hit.value))) return hit.promise;
      slots.delete(key);
      evict();
      const promise = options.mint(spiffeId, sorted);
      const slot: Slot = { promise };
      slots.set(key, slot);
      promise.then(
        (value) => {
          slot.value = value;
        },
        () => {
          // A failed signature is not cached: the next call tries again.
          if (slots.get(key) === slot) slots.delete(key);
        },
      );
      return promise;
    },
    get size() {
      return slots.size;
    },
  };
}
