// Federated bundles (one SPIFFE bundle JSON per foreign trust domain) and named counters.
import type { Kysely, Transaction } from "kysely";
import { spindleError } from "../../common/errors.js";
import type { DatabaseSchema } from "./schema.js";

type Db = Kysely<DatabaseSchema> | Transaction<DatabaseSchema>;

export interface FederatedBundleRecord {
  trustDomain: string;
  /** SPIFFE bundle JSON. */
  bundle: string;
  updatedAt: number;
}

export async function upsertBundle(db: Db, trustDomain: string, bundle: string, now: number): Promise<FederatedBundleRecord> {
  await db
    .insertInto("federated_bundles")
    .values({ trust_domain: trustDomain, bundle, updated_at: now })
    .onConflict((oc) => oc.column("trust_domain").doUpdateSet({ bundle, updated_at: now }))
    .execute();
  return { trustDomain, bundle, updatedAt: now };
}

export async function listBundles(db: Db): Promise<FederatedBundleRecord[]> {
  const rows = await db.selectFrom("federated_bundles").selectAll().orderBy("trust_domain").execute();
  return rows.map((r) => ({ trustDomain: r.trust_domain, bundle: r.bundle, updatedAt: Number(r.updated_at) }));
}

export async function fetchBundle(db: Db, trustDomain: string): Promise<FederatedBundleRecord | undefined> {
  const r = await db.selectFrom("federated_bundles").selectAll().where("trust_domain", "=", trustDomain).executeTakeFirst();
  return r ? { trustDomain: r.trust_domain, bundle: r.bundle, updatedAt: Number(r.updated_at) } : undefined;
}

/** Deletes a federated bundle; refuses (ERR_BUNDLE_IN_USE) while entries federate with it. */
export async function removeBundle(db: Kysely<DatabaseSchema>, trustDomain: string): Promise<void> {
  await db.transaction().execute(async (tx) => {
    const users = await tx.selectFrom("entry_federates").select("entry_id").where("trust_domain", "=", trustDomain).limit(5).execute();
    if (users.length > 0) {
      const ids = users.map((u) => u.entry_id).join(", ");
      throw spindleError("ERR_BUNDLE_IN_USE", `registration entries federate with "${trustDomain}" (e.g. ${ids}); update them first`, {
        details: { trustDomain },
      });
    }
    const r = await tx.deleteFrom("federated_bundles").where("trust_domain", "=", trustDomain).executeTakeFirst();
    if (Number(r.numDeletedRows) === 0) throw spindleError("ERR_NOT_FOUND", `no federated bundle for trust domain "${trustDomain}"`);
  });
}

/** Atomically increments a named counter (starting at 1) and returns the new value. */
export async function incrementCounter(db: Kysely<DatabaseSchema>, name: string): Promise<number> {
  return db.transaction().execute(async (tx) => {
    await tx
      .insertInto("counters")
      .values({ name, value: 1 })
      .onConflict((oc) => oc.column("name").doUpdateSet((eb) => ({ value: eb("counters.value", "+", 1) })))
      .execute();
    const r = await tx.selectFrom("counters").select("value").where("name", "=", name).executeTakeFirstOrThrow();
    return Number(r.value);
  });
}

export async function readCounter(db: Db, name: string): Promise<number> {
  const r = await db.selectFrom("counters").select("value").where("name", "=", name).executeTakeFirst();
  return r ? Number(r.value) : 0;
}
