// The agent's copy of its registration entries, diffed by revision (docs/design/wire-facts.md,
// "Rotation and sync numbers"), with an index from selector to entries so that matching a workload
// costs O(its selectors) rather than a scan of every entry each time a stream re-reads its
// identities.
import type { Selector } from "../../spiffe/selector.js";
import type { AgentEntry } from "./server-client.js";

export interface EntryDiff {
  /** Entries that were not known before. */
  readonly added: readonly AgentEntry[];
  /** Entries whose revision changed: the new value and the one it replaced. */
  readonly updated: readonly { readonly entry: AgentEntry; readonly previous: AgentEntry }[];
  readonly removed: readonly AgentEntry[];
}

export interface EntryIndex {
  /** Applies a sync result; an entry re-sent with an unchanged revision is ignored. */
  apply(changed: readonly AgentEntry[], removed: readonly string[]): EntryDiff;
  /** entry id -> revision, what the next sync sends. */
  knownRevisions(): Map<string, number>;
  get(id: string): AgentEntry | undefined;
  all(): IterableIterator<AgentEntry>;
  readonly size: number;
  /**
   * The entries whose selectors are all among `selectors`, in a stable order: by SPIFFE ID, then
   * entry id. The first one is the workload's default identity. Entries without selectors match
   * nothing.
   */
  matching(selectors: readonly Selector[]): AgentEntry[];
  /** Entries granting `spiffeId`, in the same order. */
  withSpiffeId(spiffeId: string): AgentEntry[];
}

const keyOf = (s: Selector): string => `${s.type}:${s.value}`;

export function compareEntries(a: AgentEntry, b: AgentEntry): number {
  if (a.spiffeId !== b.spiffeId) return a.spiffeId < b.spiffeId ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export function createEntryIndex(): EntryIndex {
  const entries = new Map<string, AgentEntry>();
  /** Distinct selector keys per entry, so matching compares counts. */
  const required = new Map<string, number>();
  const bySelector = new Map<string, Set<string>>();

  function unindex(entry: AgentEntry): void {
    for (const key of new Set(entry.selectors.map(keyOf))) {
      const ids = bySelector.get(key);
      ids?.delete(entry.id);
      if (ids?.size === 0) bySelector.delete(key);
    }
    required.delete(entry.id);
  }

  function index(entry: AgentEntry): void {
    const keys = new Set(entry.selectors.map(keyOf));
    for (const key of keys) {
      let ids = bySelector.get(key);
      if (ids === undefined) bySelector.set(key, (ids = new Set()));
      ids.add(entry.id);
    }
    required.set(entry.id, keys.size);
  }

  return {
    apply(changed, removed) {
      const added: AgentEntry[] = [];
      const updated: { entry: AgentEntry; previous: AgentEntry }[] = [];
      const gone: AgentEntry[] = [];
      for (const id of removed) {
        const previous = entries.get(id);
        if (previous === undefined) continue;
        unindex(previous);
        entries.delete(id);
        gone.push(previous);
      }
      for (const entry of changed) {
        const previous = entries.get(entry.id);
        if (previous !== undefined && previous.revision === entry.revision) continue;
        const frozen = Object.freeze({ ...entry, selectors: Object.freeze([...entry.selectors]) });
        if (previous !== undefined) unindex(previous);
        entries.set(entry.id, frozen);
        index(frozen);
        if (previous === undefined) added.push(frozen);
        else updated.push({ entry: frozen, previous });
      }
      return { added, updated, removed: gone };
    },
    knownRevisions: () => new Map([...entries].map(([id, e]) => [id, e.revision])),
    get: (id) => entries.get(id),
    all: () => entries.values(),
    get size() {
      return entries.size;
    },
    matching(selectors) {
      const hits = new Map<string, number>();
      for (const key of new Set(selectors.map(keyOf))) {
        for (const id of bySelector.get(key) ?? []) hits.set(id, (hits.get(id) ?? 0) + 1);
      }
      const out: AgentEntry[] = [];
      for (const [id, n] of hits) {
        if (n === required.get(id)) out.push(entries.get(id)!);
      }
      return out.sort(compareEntries);
    },
    withSpiffeId(spiffeId) {
      return [...entries.values()].filter((e) => e.spiffeId === spiffeId).sort(compareEntries);
    },
  };
}
