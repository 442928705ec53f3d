// The server's datastore: opens SQLite or PostgreSQL, migrates at start, and exposes the typed
// operations the registration, admin and CA code use. Driver failures become ERR_DATASTORE (the
// cause is kept for the log) and are reported to `onError` for the datastore-errors metric.
import { randomUUID } from "node:crypto";
import { sql, type Kysely } from "kysely";
import type { Clock } from "../../common/clock.js";
import { SpindleError, spindleError } from "../../common/errors.js";
import type { AuthorityJournalStore } from "../contracts.js";
import type { RegistrationEntry } from "../registration/entry.js";
import type { ValidEntry } from "../registration/validate.js";
import type { AgentStore } from "../agentapi/stores.js";
import { fetchAgent, listAllAgents, removeAgent, updateBanned, updateRenewal, upsertAttestation } from "./agents.js";
import { fetchBundle, incrementCounter, listBundles, readCounter, removeBundle, upsertBundle, type FederatedBundleRecord } from "./bundles.js";
import { countEntries, fetchEntry, insertEntry, MAX_PAGE_SIZE, queryEntries, removeEntry, replaceEntry, type EntryFilter, type EntryPage } from "./entries.js";
import { claimIdentity, hasHistory, readIdentity, type DatastoreIdentity } from "./identity.js";
import { createJournalStore } from "./journal.js";
import {
  compareAndSetBundle,
  fetchRelationship,
  insertRelationships,
  listRelationships,
  removeRelationship,
  replaceRelationship,
  type RelationshipWrite,
  type StoredRelationship,
} from "./federation.js";
import { migrateToLatest } from "./migrations.js";
import { describeLocation, openKysely, type DatastoreLocation } from "./open.js";
import type { DatabaseSchema } from "./schema.js";
import { consumeToken, insertToken, pruneTokens, tokenStateById, type ConsumedJoinToken, type JoinTokenState } from "./tokens.js";

export interface DatastoreOptions {
  location: DatastoreLocation;
  clock: Clock;
  /** Called with the operation name for every driver failure (not for validation errors). */
  onError?: (operation: string, err: SpindleError) => void;
  /**
   * Runs before any migration; `empty` is true when no Spindle schema exists yet. Throwing
   * leaves the datastore unmigrated (a refused empty datastore gets no tables).
   */
  beforeMigrate?: (info: { empty: boolean }) => void | Promise<void>;
}

/** Also the agent API's AgentStore (attested agents, renewals, bans). */
export interface Datastore extends AgentStore {
  readonly kind: DatastoreLocation["kind"];
  /** The location without secrets, for logs. */
  readonly description: string;
  createEntry(entry: ValidEntry): Promise<RegistrationEntry>;
  updateEntry(id: string, entry: ValidEntry): Promise<RegistrationEntry>;
  deleteEntry(id: string): Promise<RegistrationEntry>;
  getEntry(id: string): Promise<RegistrationEntry | undefined>;
  listEntries(filter: EntryFilter, page?: { pageSize?: number; pageToken?: string }): Promise<EntryPage>;
  countEntries(filter: EntryFilter): Promise<number>;
  setFederatedBundle(trustDomain: string, bundleJson: string): Promise<FederatedBundleRecord>;
  getFederatedBundle(trustDomain: string): Promise<FederatedBundleRecord | undefined>;
  listFederatedBundles(): Promise<FederatedBundleRecord[]>;
  deleteFederatedBundle(trustDomain: string): Promise<void>;
  /** `spiffeId`: the node alias the token's agent carries (a `join_token:spiffe_id:` selector). */
  createJoinToken(token: string, expiresAt: number, spiffeId?: string): Promise<void>;
  consumeJoinToken(token: string): Promise<ConsumedJoinToken>;
  /** The state of a token by its public id (its agent ID's last segment); undefined if unknown. */
  joinTokenState(tokenId: string): Promise<JoinTokenState | undefined>;
  /**
   * Writes `next` only if the stored bundle is still `expected`; false when it changed meanwhile.
   * `onlyWhileRelationshipExists`: a first bundle is stored only while the trust domain's
   * (API) federation relationship row exists, so a refresh racing a delete stores nothing.
   */
  compareAndSetFederatedBundle(trustDomain: string, expected: string | undefined, next: string, onlyWhileRelationshipExists?: boolean): Promise<boolean>;
  /** All or nothing. */
  createFederationRelationships(writes: readonly RelationshipWrite[]): Promise<StoredRelationship[]>;
  updateFederationRelationship(write: RelationshipWrite): Promise<StoredRelationship>;
  /** Also deletes the trust domain's stored bundle; ERR_BUNDLE_IN_USE while entries federate with it. */
  deleteFederationRelationship(trustDomain: string): Promise<StoredRelationship>;
  getFederationRelationship(trustDomain: string): Promise<StoredRelationship | undefined>;
  listFederationRelationships(): Promise<StoredRelationship[]>;
  pruneJoinTokens(): Promise<number>;
  incrementCounter(name: string): Promise<number>;
  readCounter(name: string): Promise<number>;
  /** Persists the CA's authority journals. */
  readonly journal: AuthorityJournalStore;
  /** The identity row; undefined on a datastore no server has claimed yet. */
  identity(): Promise<DatastoreIdentity | undefined>;
  /** Writes the identity row unless one exists; returns the row that is there now. */
  claimIdentity(trustDomain: string): Promise<DatastoreIdentity>;
  /** True when authorities, entries or agents are stored. */
  hasHistory(): Promise<boolean>;
  /** Throws ERR_DATASTORE when the database cannot answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export async function createDatastore(options: DatastoreOptions): Promise<Datastore> {
  const { clock } = options;
  const description = describeLocation(options.location);
  const db: Kysely<DatabaseSchema> = await openKysely(options.location, (err) =>
    options.onError?.("idleConnection", spindleError("ERR_DATASTORE", `idle connection to ${description} failed: ${err.message}`, { cause: err })),
  );
  try {
    if (options.beforeMigrate !== undefined) {
      const tables = await db.introspection.getTables({ withInternalKyselyTables: true });
      await options.beforeMigrate({ empty: !tables.some((t) => t.name === "spindle_migration") });
    }
    await migrateToLatest(db as Kysely<unknown>);
  } catch (err) {
    await db.destroy();
    throw err;
  }

  const run = async <T>(operation: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof SpindleError) throw err;
      const wrapped = spindleError("ERR_DATASTORE", `datastore ${operation} failed on ${description}: ${(err as Error).message}`, { cause: err });
      options.onError?.(operation, wrapped);
      throw wrapped;
    }
  };
  const journal = createJournalStore(db, clock.now);
  const pageSizeOf = (n: number | undefined) => {
    if (n === undefined || n === 0) return MAX_PAGE_SIZE;
    if (!Number.isSafeInteger(n) || n < 0) throw spindleError("ERR_INVALID_ARGUMENT", `page size must be a positive integer, got ${n}`);
    return Math.min(n, MAX_PAGE_SIZE);
  };

  return {
    kind: options.location.kind,
    description,
    createEntry: (e) => run("createEntry", () => insertEntry(db, randomUUID(), e, clock.now())),
    updateEntry: (id, e) => run("updateEntry", () => replaceEntry(db, id, e, clock.now())),
    deleteEntry: (id) => run("deleteEntry", () => removeEntry(db, id)),
    getEntry: (id) => run("getEntry", () => fetchEntry(db, id)),
    listEntries: (f, page = {}) => run("listEntries", () => queryEntries(db, f, pageSizeOf(page.pageSize), page.pageToken ?? "")),
    countEntries: (f) => run("countEntries", () => countEntries(db, f)),
    setFederatedBundle: (td, json) => run("setFederatedBundle", () => upsertBundle(db, td, json, clock.now())),
    getFederatedBundle: (td) => run("getFederatedBundle", () => fetchBundle(db, td)),
    listFederatedBundles: () => run("listFederatedBundles", () => listBundles(db)),
    deleteFederatedBundle: (td) => run("deleteFederatedBundle", () => removeBundle(db, td)),
    createJoinToken: (token, expiresAt, spiffeId) => run("createJoinToken", () => insertToken(db, token, expiresAt, clock.now(), spiffeId)),
    joinTokenState: (tokenId) => run("joinTokenState", () => tokenStateById(db, tokenId, clock.now())),
    compareAndSetFederatedBundle: (td, expected, next, onlyWhileRelationshipExists) =>
      run("compareAndSetFederatedBundle", () => compareAndSetBundle(db, td, expected, next, clock.now(), onlyWhileRelationshipExists)),
    createFederationRelationships: (w) => run("createFederationRelationships", () => insertRelationships(db, w, clock.now())),
    updateFederationRelationship: (w) => run("updateFederationRelationship", () => replaceRelationship(db, w, clock.now())),
    deleteFederationRelationship: (td) => run("deleteFederationRelationship", () => removeRelationship(db, td)),
    getFederationRelationship: (td) => run("getFederationRelationship", () => fetchRelationship(db, td)),
    listFederationRelationships: () => run("listFederationRelationships", () => listRelationships(db)),
    consumeJoinToken: (token) => run("consumeJoinToken", () => consumeToken(db, token, clock.now())),
    pruneJoinTokens: () => run("pruneJoinTokens", () => pruneTokens(db, clock.now())),
    getAgent: (id) => run("getAgent", () => fetchAgent(db, id)),
    recordAttestation: (a, now) => run("recordAttestation", () => upsertAttestation(db, a, now)),
    recordRenewal: (id, expected, serial, expiresAt, now) => run("recordRenewal", () => updateRenewal(db, id, expected, serial, expiresAt, now)),
    setBanned: (id, banned, now) => run("setBanned", () => updateBanned(db, id, banned, now)),
    deleteAgent: (id) => run("deleteAgent", () => removeAgent(db, id)),
    listAgents: () => run("listAgents", () => listAllAgents(db)),
    incrementCounter: (name) => run("incrementCounter", () => incrementCounter(db, name)),
    readCounter: (name) => run("readCounter", () => readCounter(db, name)),
    journal: {
      load: (id) => run("loadJournal", () => journal.load(id)),
      save: (id, j) => run("saveJournal", () => journal.save(id, j)),
      loadAll: () => run("loadAllJournals", () => journal.loadAll()),
    },
    identity: () => run("readIdentity", () => readIdentity(db)),
    claimIdentity: (td) => run("claimIdentity", () => claimIdentity(db, td, clock.now())),
    hasHistory: () => run("hasHistory", () => hasHistory(db)),
    ping: () => run("ping", async () => void (await sql`select 1`.execute(db))),
    close: () => db.destroy(),
  };
}
