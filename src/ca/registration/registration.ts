// Entry and join-token operations with validation in front of the datastore: nothing invalid
// reaches it, and every problem of an input is reported at once.
import { randomBytes } from "node:crypto";
import type { Clock } from "../../common/clock.js";
import { spindleError, SpindleError } from "../../common/errors.js";
import type { Datastore, EntryFilter, EntryPage } from "../datastore/index.js";
import { ENTRY_FIELDS, type EntryField, type EntryInput, type RegistrationEntry } from "./entry.js";
import { validateEntryInput, type EntryLimits } from "./validate.js";

export interface RegistrationOptions {
  datastore: Datastore;
  limits: EntryLimits;
  clock: Clock;
}

export type BatchResult = { ok: true; entry: RegistrationEntry } | { ok: false; error: SpindleError };

export interface JoinToken {
  token: string;
  expiresAt: number;
}

export const DEFAULT_JOIN_TOKEN_TTL = 600;
export const MAX_JOIN_TOKEN_TTL = 7 * 24 * 3600;

export interface Registration {
  createEntry(input: EntryInput): Promise<RegistrationEntry>;
  /** Replaces the listed fields (all fields when `fields` is empty) and re-validates the result. */
  updateEntry(id: string, input: Partial<EntryInput>, fields: readonly EntryField[]): Promise<RegistrationEntry>;
  deleteEntry(id: string): Promise<RegistrationEntry>;
  getEntry(id: string): Promise<RegistrationEntry>;
  listEntries(filter: EntryFilter, page?: { pageSize?: number; pageToken?: string }): Promise<EntryPage>;
  countEntries(filter: EntryFilter): Promise<number>;
  /** Each input is created (or rejected) on its own; results are in input order. */
  batchCreate(inputs: readonly EntryInput[]): Promise<BatchResult[]>;
  batchDelete(ids: readonly string[]): Promise<BatchResult[]>;
  generateJoinToken(ttlSeconds?: number): Promise<JoinToken>;
}

export function createRegistration(options: RegistrationOptions): Registration {
  const { datastore, limits, clock } = options;
  const settle = async (fn: () => Promise<RegistrationEntry>): Promise<BatchResult> => {
    try {
      return { ok: true, entry: await fn() };
    } catch (err) {
      return { ok: false, error: SpindleError.from(err) };
    }
  };
  const getEntry = async (id: string) => {
    if (id === "") throw spindleError("ERR_INVALID_ARGUMENT", "entry id is empty");
    const e = await datastore.getEntry(id);
    if (!e) throw spindleError("ERR_NOT_FOUND", `registration entry ${id} not found`, { details: { id } });
    return e;
  };
  const createEntry = async (input: EntryInput) => datastore.createEntry(validateEntryInput(input, limits));
  const deleteEntry = async (id: string) => {
    if (id === "") throw spindleError("ERR_INVALID_ARGUMENT", "entry id is empty");
    return datastore.deleteEntry(id);
  };

  return {
    createEntry,
    async updateEntry(id, input, fields) {
      const unknown = fields.filter((f) => !ENTRY_FIELDS.includes(f));
      if (unknown.length > 0) throw spindleError("ERR_INVALID_ARGUMENT", `unknown entry field(s) in update: ${unknown.join(", ")}`);
      const prev = await getEntry(id);
      const merged: EntryInput = { ...prev };
      const replace = fields.length === 0 ? ENTRY_FIELDS : fields;
      for (const f of replace) (merged as unknown as Record<string, unknown>)[f] = input[f];
      if (merged.spiffeId === undefined || merged.parentId === undefined || merged.selectors === undefined) {
        throw spindleError("ERR_INVALID_ARGUMENT", "an update must keep spiffeId, parentId and selectors set");
      }
      return datastore.updateEntry(id, validateEntryInput(merged, limits));
    },
    deleteEntry,
    getEntry,
    listEntries: (filter, page) => datastore.listEntries(filter, page),
    countEntries: (filter) => datastore.countEntries(filter),
    async batchCreate(inputs) {
      const out: BatchResult[] = [];
      for (const input of inputs) out.push(await settle(() => createEntry(input)));
      return out;
    },
    async batchDelete(ids) {
      const out: BatchResult[] = [];
      for (const id of ids) out.push(await settle(() => deleteEntry(id)));
      return out;
    },
    async generateJoinToken(ttlSeconds = DEFAULT_JOIN_TOKEN_TTL) {
      if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0 || ttlSeconds > MAX_JOIN_TOKEN_TTL) {
        throw spindleError("ERR_INVALID_ARGUMENT", `join token TTL must be 1..${MAX_JOIN_TOKEN_TTL} seconds, got ${ttlSeconds}`);
      }
      const token = randomBytes(24).toString("base64url");
      const expiresAt = clock.now() + ttlSeconds * 1000;
      await datastore.createJoinToken(token, expiresAt);
      return { token, expiresAt };
    },
  };
}
