// JWT-SVIDs fetched from the server, cached per (SPIFFE ID, audience set) and re-minted once past
// half of their lifetime (docs/design/wire-facts.md, "Rotation and sync numbers"), so workloads
// polling for tokens cost one signature per half-life and never get a token close to expiry. Tokens
// of a SPIFFE ID are dropped as soon as its entries change or go away: a revoked grant must not
// outlive its entry.
import type { Clock } from "../../common/clock.js";
import type { JwtSvidResult, ServerClient } from "./server-client.js";

export interface JwtCacheOptions {
  client: Pick<ServerClient, "mintJwtSvid">;
  clock: Clock;
  /** Upper bound of cached tokens; expired then oldest are dropped first. Default 4096. */
  maxEntries?: number;
}

export interface JwtCache {
  /** A token for `spiffeId` with exactly these audiences (order and duplicates ignored), minted through `entryId`. */
  get(entryId: string, spiffeId: string, audience: readonly string[]): Promise<JwtSvidResult>;
  /** Forgets every token of `spiffeId`. */
  drop(spiffeId: string): void;
  readonly size: number;
}

interface Slot {
  readonly spiffeId: string;
  readonly promise: Promise<JwtSvidResult>;
  value?: JwtSvidResult;
}

export function createJwtCache(options: JwtCacheOptions): JwtCache {
  const { client, clock } = options;
  const maxEntries = options.maxEntries ?? 4096;
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new TypeError("createJwtCache: maxEntries must be a positive integer");
  const slots = new Map<string, Slot>();
  const fresh = (v: JwtSvidResult): boolean => clock.now() < v.issuedAt + (v.expiresAt - v.issuedAt) / 2;

  function makeRoom(): void {
    if (slots.size < maxEntries) return;
    for (const [key, slot] of slots) if (slot.value !== undefined && !fresh(slot.value)) slots.delete(key);
    // Insertion order is mint order (every re-mint re-inserts), so this drops the oldest.
    for (const key of slots.keys()) {
      if (slots.size < maxEntries) break;
      slots.delete(key);
    }
  }

  return {
    get(entryId, spiffeId, audience) {
      const sorted = [...new Set(audience)].sort();
      const key = JSON.stringify([spiffeId, sorted]);
      const hit = slots.get(key);
      // A pending mint is shared by concurrent callers.
      if (hit !== undefined && (hit.value === undefined || fresh(hit.value))) return hit.promise;
      slots.delete(key);
      makeRoom();
      const promise = client.mintJwtSvid(entryId, sorted);
      const slot: Slot = { spiffeId, promise };
      slots.set(key, slot);
      promise.then(
        (value) => {
          slot.value = value;
        },
        () => {
          // Failures are not cached: the next call asks again.
          if (slots.get(key) === slot) slots.delete(key);
        },
      );
      return promise;
    },
    drop(spiffeId) {
      for (const [key, slot] of slots) if (slot.spiffeId === spiffeId) slots.delete(key);
    },
    get size() {
      return slots.size;
    },
  };
}
