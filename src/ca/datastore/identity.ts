// The datastore's identity row: which trust domain it holds and a random id for this datastore.
// Claimed once (the first replica to insert wins; the others read its row), never changed.
import { randomUUID } from "node:crypto";
import type { Kysely } from "kysely";
import type { DatabaseSchema } from "./schema.js";

export interface DatastoreIdentity {
  readonly datastoreId: string;
  readonly trustDomain: string;
  readonly createdAt: number;
}

const ROW = "self";

export async function readIdentity(db: Kysely<DatabaseSchema>): Promise<DatastoreIdentity | undefined> {
  const r = await db.selectFrom("datastore_identity").selectAll().where("singleton", "=", ROW).executeTakeFirst();
  return r === undefined ? undefined : { datastoreId: r.datastore_id, trustDomain: r.trust_domain, createdAt: Number(r.created_at) };
}

export async function claimIdentity(db: Kysely<DatabaseSchema>, trustDomain: string, now: number): Promise<DatastoreIdentity> {
  await db
    .insertInto("datastore_identity")
    .values({ singleton: ROW, datastore_id: randomUUID(), trust_domain: trustDomain, created_at: now })
    .onConflict((oc) => oc.column("singleton").doNothing())
    .execute();
  return (await readIdentity(db))!;
}

/** True when the datastore holds anything a trust domain leaves behind (authorities, entries, agents). */
export async function hasHistory(db: Kysely<DatabaseSchema>): Promise<boolean> {
  for (const table of ["authority_journals", "entries", "attested_agents"] as const) {
    const r = await db.selectFrom(table).select((eb) => eb.fn.countAll<number | string>().as("n")).executeTakeFirstOrThrow();
    if (Number(r.n) > 0) return true;
  }
  return false;
}
