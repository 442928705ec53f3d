// Registration entry storage. Every write runs in one transaction: the federated-bundle check,
// the duplicate check and the row + side-table writes all happen or none do.
import { createHash } from "node:crypto";
import { sql, type Kysely, type Selectable, type Transaction } from "kysely";
import { spindleError } from "../../common/errors.js";
import { REVISION_FIELDS, selectorString, type RegistrationEntry, type Selector } from "../registration/entry.js";
import { entryInvalid, type ValidEntry } from "../registration/validate.js";
import { isForeignKeyViolation, isUniqueViolation } from "./open.js";
import type { DatabaseSchema, EntriesTable } from "./schema.js";

type Db = Kysely<DatabaseSchema> | Transaction<DatabaseSchema>;

export type SelectorMatch = "superset" | "exact" | "subset" | "any";
export const SELECTOR_MATCHES: readonly SelectorMatch[] = ["superset", "exact", "subset", "any"];

export interface EntryFilter {
  spiffeId?: string;
  parentId?: string;
  /** Entries whose parent is any of these (one query for a whole level of the parent graph). */
  parentIds?: readonly string[];
  /** Entries whose selectors relate to these as `selectorMatch` says. */
  selectors?: readonly Selector[];
  /**
   * superset (default): the entry has every one of `selectors` (it may have more); exact: it has
   * exactly these; subset: every selector it has is among them; any: it has at least one.
   */
  selectorMatch?: SelectorMatch;
  /** Entries federating with every one of these trust domains. */
  federatesWith?: readonly string[];
}

export interface EntryPage {
  entries: RegistrationEntry[];
  /** Pass back to get the next page; "" when this is the last page. */
  nextPageToken: string;
}

export const MAX_PAGE_SIZE = 1000;

export function entryKey(e: Pick<ValidEntry, "spiffeId" | "parentId" | "selectors">): string {
  const canonical = [e.spiffeId, e.parentId, ...e.selectors.map(selectorString)].join("\u0000");
  return createHash("sha256").update(canonical).digest("hex");
}

export function rowToEntry(r: Selectable<EntriesTable>): RegistrationEntry {
  return {
    id: r.id,
    spiffeId: r.spiffe_id,
    parentId: r.parent_id,
    selectors: JSON.parse(r.selectors) as Selector[],
    x509SvidTtl: Number(r.x509_svid_ttl),
    jwtSvidTtl: Number(r.jwt_svid_ttl),
    dnsNames: JSON.parse(r.dns_names) as string[],
    hint: r.hint,
    federatesWith: JSON.parse(r.federates_with) as string[],
    admin: Number(r.admin) === 1,
    expiresAt: Number(r.expires_at),
    revision: Number(r.revision),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

function entryColumns(e: ValidEntry) {
  return {
    entry_key: entryKey(e),
    spiffe_id: e.spiffeId,
    parent_id: e.parentId,
    selectors: JSON.stringify(e.selectors),
    x509_svid_ttl: e.x509SvidTtl,
    jwt_svid_ttl: e.jwtSvidTtl,
    dns_names: JSON.stringify(e.dnsNames),
    hint: e.hint,
    federates_with: JSON.stringify(e.federatesWith),
    admin: e.admin ? 1 : 0,
    expires_at: e.expiresAt,
  };
}

async function assertBundlesKnown(tx: Db, federatesWith: readonly string[]): Promise<void> {
  if (federatesWith.length === 0) return;
  const rows = await tx.selectFrom("federated_bundles").select("trust_domain").where("trust_domain", "in", [...federatesWith]).execute();
  const known = new Set(rows.map((r) => r.trust_domain));
  const problems = federatesWith
    .map((td, i) => ({ td, i }))
    .filter(({ td }) => !known.has(td))
    .map(({ td, i }) => ({ field: `federatesWith[${i}]`, message: `no bundle is known for trust domain "${td}" (set one with \`spindle bundle set\`)` }));
  if (problems.length > 0) throw entryInvalid(problems);
}

async function assertNoDuplicate(tx: Db, key: string, exceptId?: string): Promise<void> {
  const dup = await tx.selectFrom("entries").select("id").where("entry_key", "=", key).executeTakeFirst();
  if (dup && dup.id !== exceptId) {
    throw spindleError("ERR_ALREADY_EXISTS", `an entry with the same SPIFFE ID, parent ID and selectors already exists (id ${dup.id})`, {
      details: { existingId: dup.id },
    });
  }
}

async function writeSideRows(tx: Db, id: string, e: ValidEntry): Promise<void> {
  await tx.deleteFrom("entry_selectors").where("entry_id", "=", id).execute();
  await tx.deleteFrom("entry_federates").where("entry_id", "=", id).execute();
  await tx.insertInto("entry_selectors").values(e.selectors.map((s) => ({ entry_id: id, selector: selectorString(s) }))).execute();
  if (e.federatesWith.length > 0) {
    await tx.insertInto("entry_federates").values(e.federatesWith.map((td) => ({ entry_id: id, trust_domain: td }))).execute();
  }
}

function mapWriteError(err: unknown, e: ValidEntry): unknown {
  if (isUniqueViolation(err)) return spindleError("ERR_ALREADY_EXISTS", `an entry for ${e.spiffeId} with the same parent ID and selectors already exists`, { cause: err });
  if (isForeignKeyViolation(err)) return entryInvalid([{ field: "federatesWith", message: "a federated trust domain's bundle was deleted concurrently" }]);
  return err;
}

export async function insertEntry(db: Kysely<DatabaseSchema>, id: string, e: ValidEntry, now: number): Promise<RegistrationEntry> {
  try {
    return await db.transaction().execute(async (tx) => {
      await assertBundlesKnown(tx, e.federatesWith);
      const key = entryKey(e);
      await assertNoDuplicate(tx, key);
      const row = { id, ...entryColumns(e), revision: 1, created_at: now, updated_at: now };
      await tx.insertInto("entries").values(row).execute();
      await writeSideRows(tx, id, e);
      return rowToEntry(row);
    });
  } catch (err) {
    throw mapWriteError(err, e);
  }
}

function changedFields(prev: RegistrationEntry, next: ValidEntry): Set<string> {
  const changed = new Set<string>();
  for (const f of Object.keys(next) as (keyof ValidEntry)[]) {
    if (JSON.stringify(prev[f]) !== JSON.stringify(next[f])) changed.add(f);
  }
  return changed;
}

export async function replaceEntry(db: Kysely<DatabaseSchema>, id: string, e: ValidEntry, now: number): Promise<RegistrationEntry> {
  try {
    return await db.transaction().execute(async (tx) => {
      const row = await tx.selectFrom("entries").selectAll().where("id", "=", id).executeTakeFirst();
      if (!row) throw spindleError("ERR_NOT_FOUND", `registration entry ${id} not found`, { details: { id } });
      const prev = rowToEntry(row);
      const changed = changedFields(prev, e);
      if (changed.size === 0) return prev;
      await assertBundlesKnown(tx, e.federatesWith);
      const cols = entryColumns(e);
      await assertNoDuplicate(tx, cols.entry_key, id);
      const bump = REVISION_FIELDS.some((f) => changed.has(f));
      const revision = prev.revision + (bump ? 1 : 0);
      await tx.updateTable("entries").set({ ...cols, revision, updated_at: now }).where("id", "=", id).execute();
      if (changed.has("selectors") || changed.has("federatesWith")) await writeSideRows(tx, id, e);
      return { ...prev, ...e, revision, updatedAt: now };
    });
  } catch (err) {
    throw mapWriteError(err, e);
  }
}

export async function removeEntry(db: Kysely<DatabaseSchema>, id: string): Promise<RegistrationEntry> {
  return db.transaction().execute(async (tx) => {
    const row = await tx.selectFrom("entries").selectAll().where("id", "=", id).executeTakeFirst();
    if (!row) throw spindleError("ERR_NOT_FOUND", `registration entry ${id} not found`, { details: { id } });
    await tx.deleteFrom("entry_selectors").where("entry_id", "=", id).execute();
    await tx.deleteFrom("entry_federates").where("entry_id", "=", id).execute();
    await tx.deleteFrom("entries").where("id", "=", id).execute();
    return rowToEntry(row);
  });
}

export async function fetchEntry(db: Db, id: string): Promise<RegistrationEntry | undefined> {
  const row = await db.selectFrom("entries").selectAll().where("id", "=", id).executeTakeFirst();
  return row ? rowToEntry(row) : undefined;
}

function filtered(db: Db, f: EntryFilter) {
  let q = db.selectFrom("entries");
  if (f.spiffeId !== undefined) q = q.where("spiffe_id", "=", f.spiffeId);
  if (f.parentId !== undefined) q = q.where("parent_id", "=", f.parentId);
  if (f.parentIds !== undefined) q = f.parentIds.length === 0 ? q.where(sql<boolean>`1 = 0`) : q.where("parent_id", "in", [...f.parentIds]);
  const match = f.selectorMatch ?? "superset";
  const wanted = [...new Set((f.selectors ?? []).map(selectorString))];
  if (wanted.length > 0 && (match === "superset" || match === "exact")) {
    for (const s of wanted) {
      q = q.where(({ exists, selectFrom }) => exists(selectFrom("entry_selectors as es").select("es.entry_id").whereRef("es.entry_id", "=", "entries.id").where("es.selector", "=", s)));
    }
  }
  if (wanted.length > 0 && (match === "exact" || match === "subset")) {
    // No selector of the entry lies outside the given set.
    q = q.where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom("entry_selectors as es").select("es.entry_id").whereRef("es.entry_id", "=", "entries.id").where("es.selector", "not in", wanted))),
    );
  }
  if (wanted.length > 0 && match === "any") {
    q = q.where(({ exists, selectFrom }) => exists(selectFrom("entry_selectors as es").select("es.entry_id").whereRef("es.entry_id", "=", "entries.id").where("es.selector", "in", wanted)));
  }
  for (const td of f.federatesWith ?? []) {
    q = q.where(({ exists, selectFrom }) =>
      exists(selectFrom("entry_federates as ef").select("ef.entry_id").whereRef("ef.entry_id", "=", "entries.id").where("ef.trust_domain", "=", td)),
    );
  }
  return q;
}

export async function queryEntries(db: Db, f: EntryFilter, pageSize: number, pageToken: string): Promise<EntryPage> {
  let q = filtered(db, f).selectAll("entries").orderBy("entries.id").limit(pageSize + 1);
  if (pageToken !== "") q = q.where("entries.id", ">", pageToken);
  const rows = await q.execute();
  const page = rows.slice(0, pageSize).map(rowToEntry);
  return { entries: page, nextPageToken: rows.length > pageSize ? page[page.length - 1]!.id : "" };
}

export async function countEntries(db: Db, f: EntryFilter): Promise<number> {
  const r = await filtered(db, f).select((eb) => eb.fn.countAll().as("n")).executeTakeFirstOrThrow();
  return Number(r.n);
}
