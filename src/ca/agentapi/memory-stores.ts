// In-memory AgentStore, EntrySource and join-token store: real implementations on a cheap backend
// for tests and single-process use. The join-token store follows the datastore's rules (only the
// SHA-256 is kept, single use, expiry) so tests exercise the same behaviour.
import { createHash, randomUUID } from "node:crypto";
import type { Clock } from "../../common/clock.js";
import { spindleError } from "../../common/errors.js";
import type { EntryInput, RegistrationEntry } from "../registration/entry.js";
import type { AgentStore, AttestedAgent, EntrySource } from "./stores.js";

export function createMemoryAgentStore(): AgentStore {
  const agents = new Map<string, AttestedAgent>();
  const must = (id: string) => {
    const a = agents.get(id);
    if (a === undefined) throw spindleError("ERR_NOT_FOUND", `no attested agent ${id}`, { details: { spiffeId: id } });
    return a;
  };
  const put = (a: AttestedAgent) => (agents.set(a.spiffeId, Object.freeze(a)), a);
  return {
    getAgent: async (id) => agents.get(id),
    async recordAttestation(a, now) {
      const prev = agents.get(a.spiffeId);
      return put({ ...a, previousSerial: "", banned: prev?.banned ?? false, createdAt: prev?.createdAt ?? now, updatedAt: now });
    },
    async recordRenewal(id, expected, serial, expiresAt, now) {
      const prev = agents.get(id);
      if (prev === undefined || prev.serial !== expected) throw spindleError("ERR_AGENT_NOT_ATTESTED", `agent ${id} was evicted or renewed concurrently; attest again`);
      return put({ ...prev, previousSerial: prev.serial, serial, expiresAt, updatedAt: now });
    },
    setBanned: async (id, banned, now) => put({ ...must(id), banned, updatedAt: now }),
    async deleteAgent(id) {
      if (must(id).banned) throw spindleError("ERR_AGENT_EVICT_BANNED", `agent ${id} is banned; evicting it would delete the ban`);
      agents.delete(id);
    },
    listAgents: async () => [...agents.values()].sort((x, y) => (x.spiffeId < y.spiffeId ? -1 : 1)),
  };
}

export interface MemoryEntrySource extends EntrySource {
  /** Adds an entry (revision 1) or, with `id` of an existing one, replaces it with revision + 1. */
  put(input: EntryInput & { id?: string }): RegistrationEntry;
  remove(id: string): void;
  setFederatedBundle(trustDomain: string, bundleJson: string): void;
}

export function createMemoryEntrySource(clock: Clock): MemoryEntrySource {
  const entries = new Map<string, RegistrationEntry>();
  const bundles = new Map<string, string>();
  return {
    put(input) {
      const prev = input.id === undefined ? undefined : entries.get(input.id);
      const now = clock.now();
      const e: RegistrationEntry = Object.freeze({
        id: input.id ?? randomUUID(),
        spiffeId: input.spiffeId,
        parentId: input.parentId,
        selectors: [...input.selectors],
        x509SvidTtl: input.x509SvidTtl ?? 0,
        jwtSvidTtl: input.jwtSvidTtl ?? 0,
        dnsNames: [...(input.dnsNames ?? [])],
        hint: input.hint ?? "",
        federatesWith: [...(input.federatesWith ?? [])],
        admin: input.admin ?? false,
        expiresAt: input.expiresAt ?? 0,
        revision: (prev?.revision ?? 0) + 1,
        createdAt: prev?.createdAt ?? now,
        updatedAt: now,
      });
      entries.set(e.id, e);
      return e;
    },
    remove: (id) => void entries.delete(id),
    setFederatedBundle: (td, json) => void bundles.set(td, json),
    async listEntries(filter, page = {}) {
      const size = page.pageSize === undefined || page.pageSize === 0 ? 1000 : page.pageSize;
      const parents = new Set("parentIds" in filter ? filter.parentIds : [filter.parentId]);
      const all = [...entries.values()].filter((e) => parents.has(e.parentId) && e.id > (page.pageToken ?? "")).sort((a, b) => (a.id < b.id ? -1 : 1));
      const slice = all.slice(0, size);
      return { entries: slice, nextPageToken: all.length > size ? slice[slice.length - 1]!.id : "" };
    },
    async getFederatedBundle(td) {
      const b = bundles.get(td);
      return b === undefined ? undefined : { bundle: b };
    },
  };
}

export interface MemoryJoinTokens {
  createJoinToken(token: string, expiresAt: number, spiffeId?: string): Promise<void>;
  consumeJoinToken(token: string): Promise<{ spiffeId?: string }>;
}

export function createMemoryJoinTokens(clock: Clock): MemoryJoinTokens {
  const tokens = new Map<string, { expiresAt: number; used: boolean; spiffeId?: string }>();
  const hash = (t: string) => createHash("sha256").update(t).digest("hex");
  return {
    createJoinToken: async (token, expiresAt, spiffeId) => void tokens.set(hash(token), { expiresAt, used: false, ...(spiffeId === undefined ? {} : { spiffeId }) }),
    async consumeJoinToken(token) {
      const t = tokens.get(hash(token));
      const reason = t === undefined ? "unknown" : t.used ? "already used" : t.expiresAt <= clock.now() ? "expired" : undefined;
      if (reason !== undefined) throw spindleError("ERR_JOIN_TOKEN_INVALID", `join token is ${reason}`);
      t!.used = true;
      return t!.spiffeId === undefined ? {} : { spiffeId: t!.spiffeId };
    },
  };
}
