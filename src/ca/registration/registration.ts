// Entry and join-token operations with validation in front of the datastore: nothing invalid
// reaches it, and every problem of an input is reported at once.
import { randomBytes } from "node:crypto";
import type { Clock } from "../../common/clock.js";
import { spindleError, SpindleError } from "../../common/errors.js";
import type { Datastore, EntryFilter, EntryPage } from "../datastore/index.js";
import { selectorOf } from "../../spiffe/index.js";
import { ENTRY_FIELDS, serverSpiffeId, type EntryField, type EntryInput, type RegistrationEntry } from "./entry.js";
import { entryInvalid, validateEntryInput, type EntryLimits, type SelectorCheckOptions } from "./validate.js";
import { spiffeIdProblem, trustDomainOf } from "../../spiffe/spiffe-check.js";

export interface RegistrationOptions {
  datastore: Datastore;
  limits: EntryLimits;
  clock: Clock;
}

export type BatchResult = { ok: true; entry: RegistrationEntry } | { ok: false; error: SpindleError };

export interface JoinToken {
  token: string;
  expiresAt: number;
  /** With `spiffeId`: the node-alias entry for it (found, or created now). */
  alias?: { entry: RegistrationEntry; created: boolean };
}

/** Per-call entry options: whether selectors unknown to Spindle's attestors are accepted. */
export type EntryWriteOptions = Pick<SelectorCheckOptions, "allowUnknownSelectors">;

export const DEFAULT_JOIN_TOKEN_TTL = 600;
export const MAX_JOIN_TOKEN_TTL = 7 * 24 * 3600;

export interface Registration {
  createEntry(input: EntryInput, options?: EntryWriteOptions): Promise<RegistrationEntry>;
  /**
   * Replaces the listed fields (all fields when `fields` is empty) and re-validates the result.
   * Selectors are checked against the attestors' table only when selectors or the parent change.
   */
  updateEntry(id: string, input: Partial<EntryInput>, fields: readonly EntryField[], options?: EntryWriteOptions): Promise<RegistrationEntry>;
  deleteEntry(id: string): Promise<RegistrationEntry>;
  getEntry(id: string): Promise<RegistrationEntry>;
  listEntries(filter: EntryFilter, page?: { pageSize?: number; pageToken?: string }): Promise<EntryPage>;
  countEntries(filter: EntryFilter): Promise<number>;
  /** Each input is created (or rejected) on its own; results are in input order. */
  batchCreate(inputs: readonly EntryInput[], options?: EntryWriteOptions): Promise<BatchResult[]>;
  batchDelete(ids: readonly string[]): Promise<BatchResult[]>;
  /**
   * A single-use token. With `spiffeId`, its agent carries that ID as a node alias: the token
   * stores it, attestation turns it into the selector `join_token:spiffe_id:<ID>`, and the alias
   * entry (parent: the server's ID, that one selector) is created unless it exists.
   */
  generateJoinToken(ttlSeconds?: number, spiffeId?: string): Promise<JoinToken>;
  /**
   * Why `parentId` looks like a mistake, or undefined: it is the server's ID, an attested agent,
   * the agent ID of a generated join token, or the SPIFFE ID of an entry (a node alias or a
   * parent entry). Entries under an unknown parent are accepted (the agent may come later).
   */
  parentWarning(parentId: string): Promise<string | undefined>;
}

/** `/spindle/agent/join_token/<token id>` (see joinTokenAgentId in src/ca/nodeattestors). */
const JOIN_TOKEN_AGENT_RE = /^\/spindle\/agent\/join_token\/([0-9a-f]{32})$/;

export function createRegistration(options: RegistrationOptions): Registration {
  const { datastore, limits, clock } = options;
  const serverId = serverSpiffeId(limits.trustDomain);
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
  const createEntry = async (input: EntryInput, options: EntryWriteOptions = {}) => datastore.createEntry(validateEntryInput(input, limits, options));
  const deleteEntry = async (id: string) => {
    if (id === "") throw spindleError("ERR_INVALID_ARGUMENT", "entry id is empty");
    return datastore.deleteEntry(id);
  };

  const registration: Registration = {
    createEntry,
    async updateEntry(id, input, fields, options = {}) {
      const unknown = fields.filter((f) => !ENTRY_FIELDS.includes(f));
      if (unknown.length > 0) throw spindleError("ERR_INVALID_ARGUMENT", `unknown entry field(s) in update: ${unknown.join(", ")}`);
      const prev = await getEntry(id);
      const merged: EntryInput = { ...prev };
      const replace = fields.length === 0 ? ENTRY_FIELDS : fields;
      for (const f of replace) (merged as unknown as Record<string, unknown>)[f] = input[f];
      if (merged.spiffeId === undefined || merged.parentId === undefined || merged.selectors === undefined) {
        throw spindleError("ERR_INVALID_ARGUMENT", "an update must keep spiffeId, parentId and selectors set");
      }
      // An entry stored earlier (with --allow-unknown-selectors, or before the table listed a key)
      // keeps working when only other fields change.
      const checkSelectors = replace.includes("selectors") || replace.includes("parentId");
      return datastore.updateEntry(id, validateEntryInput(merged, limits, { ...options, checkSelectors }));
    },
    deleteEntry,
    getEntry,
    listEntries: (filter, page) => datastore.listEntries(filter, page),
    countEntries: (filter) => datastore.countEntries(filter),
    async batchCreate(inputs, options = {}) {
      const out: BatchResult[] = [];
      for (const input of inputs) out.push(await settle(() => createEntry(input, options)));
      return out;
    },
    async batchDelete(ids) {
      const out: BatchResult[] = [];
      for (const id of ids) out.push(await settle(() => deleteEntry(id)));
      return out;
    },
    async generateJoinToken(ttlSeconds = DEFAULT_JOIN_TOKEN_TTL, spiffeId) {
      if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0 || ttlSeconds > MAX_JOIN_TOKEN_TTL) {
        throw spindleError("ERR_INVALID_ARGUMENT", `join token TTL must be 1..${MAX_JOIN_TOKEN_TTL} seconds, got ${ttlSeconds}`);
      }
      const alias = spiffeId === undefined ? undefined : await ensureAlias(spiffeId);
      const token = randomBytes(24).toString("base64url");
      const expiresAt = clock.now() + ttlSeconds * 1000;
      await datastore.createJoinToken(token, expiresAt, spiffeId);
      return { token, expiresAt, ...(alias === undefined ? {} : { alias }) };
    },
    async parentWarning(parentId) {
      if (parentId === serverId) return undefined;
      if ((await datastore.getAgent(parentId)) !== undefined) return undefined;
      const tokenId = JOIN_TOKEN_AGENT_RE.exec(parentId.slice(`spiffe://${limits.trustDomain}`.length))?.[1];
      if (tokenId !== undefined && (await datastore.joinTokenState(tokenId)) !== undefined) return undefined;
      if ((await datastore.listEntries({ spiffeId: parentId }, { pageSize: 1 })).entries.length > 0) return undefined;
      return `parent ID ${parentId} is not an attested agent, a generated join token's agent, or the SPIFFE ID of any entry (node alias); the entry matches nothing until one exists`;
    },
  };
  return registration;

  /** The node-alias entry a `--spiffe-id` join token's agent joins, found or created. */
  async function ensureAlias(spiffeId: string): Promise<{ entry: RegistrationEntry; created: boolean }> {
    const problem = spiffeIdProblem(spiffeId, true) ?? (trustDomainOf(spiffeId) !== limits.trustDomain ? `"${spiffeId}" is outside the trust domain "${limits.trustDomain}"` : undefined);
    if (problem !== undefined) throw entryInvalid([{ field: "spiffeId", message: problem }]);
    if (spiffeId === serverId || spiffeId.startsWith(`spiffe://${limits.trustDomain}/spindle/`)) {
      throw entryInvalid([{ field: "spiffeId", message: `"${spiffeId}" is in the reserved spiffe://${limits.trustDomain}/spindle/ namespace` }]);
    }
    const selector = selectorOf("join_token", "spiffe_id", spiffeId);
    const existing = await datastore.listEntries({ spiffeId, parentId: serverId, selectors: [selector] }, { pageSize: 100 });
    const exact = existing.entries.find((e) => e.selectors.length === 1);
    if (exact !== undefined) return { entry: exact, created: false };
    return { entry: await createEntry({ spiffeId, parentId: serverId, selectors: [selector] }), created: true };
  }
}
