// An in-memory AuthorityJournalStore for tests and single-process setups; the datastore provides
// the persistent one. Journals are deep-copied in and out, as a database would, so a caller
// mutating its copy cannot change what a "restarted" CA loads.
import type { AuthorityJournal, AuthorityJournalStore } from "../contracts.js";

export interface MemoryJournalStore extends AuthorityJournalStore {
  /** Number of save() calls so far (persistence is observable in tests). */
  readonly saves: number;
}

export function createMemoryJournalStore(): MemoryJournalStore {
  const journals = new Map<string, AuthorityJournal>();
  let saves = 0;
  return {
    get saves() {
      return saves;
    },
    async load(serverId) {
      const j = journals.get(serverId);
      return j === undefined ? undefined : structuredClone(j);
    },
    async save(serverId, journal) {
      journals.set(serverId, structuredClone(journal));
      saves++;
    },
    async loadAll() {
      return [...journals.values()].map((j) => structuredClone(j));
    },
  };
}
