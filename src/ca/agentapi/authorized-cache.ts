// A short-lived snapshot of each agent's authorized entries. Computing them walks the parent graph
// in the datastore (authorized.ts); a 10,000-entry agent took ~200 ms per walk, and a full sync is
// 20 pages plus CSR batches right after. So: the first page of a sync always walks afresh and
// keeps the result; later pages of that sync use it (one consistent snapshot across pages), and a
// CSR batch shortly after the sync reuses it too, as if the agent had synced that moment earlier.
import type { Clock } from "../../common/clock.js";
import { selectorString, type RegistrationEntry } from "../registration/entry.js";
import { authorizedEntries, type AgentView } from "./authorized.js";
import type { EntrySource } from "./stores.js";

/** Later pages of one sync use its snapshot up to this age; older ones are walked again. */
export const SYNC_SNAPSHOT_MAX_AGE_MS = 30_000;
/** A CSR batch reuses a snapshot this fresh (a deleted entry stays signable at most this long). */
export const SIGN_SNAPSHOT_MAX_AGE_MS = 2_000;
const MAX_AGENTS = 4096;

export interface AuthorizedCache {
  /** A fresh walk, remembered for later calls (the first page of a sync). */
  refresh(agent: AgentView): Promise<RegistrationEntry[]>;
  /** The remembered snapshot if younger than `maxAgeMs`, else a fresh walk. */
  get(agent: AgentView, maxAgeMs: number): Promise<RegistrationEntry[]>;
}

export function createAuthorizedCache(o: { entries: EntrySource; trustDomain: string; clock: Clock }): AuthorizedCache {
  const snapshots = new Map<string, { at: number; list: Promise<RegistrationEntry[]> }>();
  // Node aliases depend on the agent's selectors: they are part of the key.
  const keyOf = (agent: AgentView) => [agent.spiffeId, ...agent.selectors.map(selectorString)].join("\u0000");

  function refresh(agent: AgentView): Promise<RegistrationEntry[]> {
    const now = o.clock.now();
    const list = authorizedEntries(o.entries, o.trustDomain, agent, now);
    const key = keyOf(agent);
    snapshots.delete(key);
    snapshots.set(key, { at: now, list });
    // A failed walk is not remembered.
    list.catch(() => snapshots.get(key)?.list === list && snapshots.delete(key));
    for (const [k, s] of snapshots) {
      if (snapshots.size <= MAX_AGENTS && now - s.at <= SYNC_SNAPSHOT_MAX_AGE_MS) break;
      snapshots.delete(k);
    }
    return list;
  }

  return {
    refresh,
    get(agent, maxAgeMs) {
      const s = snapshots.get(keyOf(agent));
      return s !== undefined && o.clock.now() - s.at <= maxAgeMs ? s.list : refresh(agent);
    },
  };
}
