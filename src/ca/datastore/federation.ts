// Federation relationships created through the admin API, and the compare-and-set write the
// bundle refresher uses so HA replicas refreshing the same relationship never overwrite a newer
// bundle with an older one (docs/federation.md).
import { sql, type Kysely, type Transaction } from "kysely";
import { spindleError } from "../../common/errors.js";
import { isUniqueViolation } from "./open.js";
import type { DatabaseSchema, FederationRelationshipsTable } from "./schema.js";

type Db = Kysely<DatabaseSchema> | Transaction<DatabaseSchema>;

export type BundleEndpointProfile = "https_web" | "https_spiffe";

export interface StoredRelationship {
  trustDomain: string;
  bundleEndpointUrl: string;
  profile: BundleEndpointProfile;
  /** "" for https_web. */
  endpointSpiffeId: string;
  /** https_web only: PEM roots on the server; "" = the system roots. */
  caFile: string;
  createdAt: number;
  updatedAt: number;
}

/** A relationship to write, with the bootstrap bundle (SPIFFE JSON) to store beside it, if any. */
export interface RelationshipWrite {
  relationship: Omit<StoredRelationship, "createdAt" | "updatedAt">;
  bootstrapBundle?: string;
}

function fromRow(r: FederationRelationshipsTable): StoredRelationship {
  return {
    trustDomain: r.trust_domain,
    bundleEndpointUrl: r.bundle_endpoint_url,
    profile: r.bundle_endpoint_profile as BundleEndpointProfile,
    endpointSpiffeId: r.endpoint_spiffe_id,
    caFile: r.ca_file,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

async function storeBootstrap(tx: Db, td: string, bundle: string | undefined, now: number): Promise<void> {
  if (bundle === undefined) return;
  // SPIFFE Federation section 4.2: an operator-supplied bundle is the latest until the next refresh.
  await tx
    .insertInto("federated_bundles")
    .values({ trust_domain: td, bundle, updated_at: now })
    .onConflict((oc) => oc.column("trust_domain").doUpdateSet({ bundle, updated_at: now }))
    .execute();
}

/** Creates every relationship or none (ERR_ALREADY_EXISTS names the first duplicate). */
export async function insertRelationships(db: Kysely<DatabaseSchema>, writes: readonly RelationshipWrite[], now: number): Promise<StoredRelationship[]> {
  return db.transaction().execute(async (tx) => {
    const out: StoredRelationship[] = [];
    for (const { relationship: r, bootstrapBundle } of writes) {
      try {
        await tx
          .insertInto("federation_relationships")
          .values({
            trust_domain: r.trustDomain,
            bundle_endpoint_url: r.bundleEndpointUrl,
            bundle_endpoint_profile: r.profile,
            endpoint_spiffe_id: r.endpointSpiffeId,
            ca_file: r.caFile,
            created_at: now,
            updated_at: now,
          })
          .execute();
      } catch (err) {
        if (isUniqueViolation(err)) throw spindleError("ERR_ALREADY_EXISTS", `a federation relationship with "${r.trustDomain}" already exists`, { details: { trustDomain: r.trustDomain } });
        throw err;
      }
      await storeBootstrap(tx, r.trustDomain, bootstrapBundle, now);
      out.push({ ...r, createdAt: now, updatedAt: now });
    }
    return out;
  });
}

/** Replaces a relationship's settings (ERR_NOT_FOUND when there is none). */
export async function replaceRelationship(db: Kysely<DatabaseSchema>, w: RelationshipWrite, now: number): Promise<StoredRelationship> {
  return db.transaction().execute(async (tx) => {
    const r = w.relationship;
    const res = await tx
      .updateTable("federation_relationships")
      .set({ bundle_endpoint_url: r.bundleEndpointUrl, bundle_endpoint_profile: r.profile, endpoint_spiffe_id: r.endpointSpiffeId, ca_file: r.caFile, updated_at: now })
      .where("trust_domain", "=", r.trustDomain)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) === 0) throw spindleError("ERR_NOT_FOUND", `no federation relationship with "${r.trustDomain}"`, { details: { trustDomain: r.trustDomain } });
    await storeBootstrap(tx, r.trustDomain, w.bootstrapBundle, now);
    const row = await tx.selectFrom("federation_relationships").selectAll().where("trust_domain", "=", r.trustDomain).executeTakeFirstOrThrow();
    return fromRow(row);
  });
}

export async function listRelationships(db: Db): Promise<StoredRelationship[]> {
  return (await db.selectFrom("federation_relationships").selectAll().orderBy("trust_domain").execute()).map(fromRow);
}

export async function fetchRelationship(db: Db, trustDomain: string): Promise<StoredRelationship | undefined> {
  const r = await db.selectFrom("federation_relationships").selectAll().where("trust_domain", "=", trustDomain).executeTakeFirst();
  return r ? fromRow(r) : undefined;
}

/**
 * Deletes a relationship and its stored bundle (SPIFFE Federation section 6.3: terminating a
 * relationship deletes the local copy of the bundle). Refused (ERR_BUNDLE_IN_USE) while
 * registration entries federate with the trust domain, so no entry silently loses its bundle.
 */
export async function removeRelationship(db: Kysely<DatabaseSchema>, trustDomain: string): Promise<StoredRelationship> {
  return db.transaction().execute(async (tx) => {
    const existing = await fetchRelationship(tx, trustDomain);
    if (existing === undefined) throw spindleError("ERR_NOT_FOUND", `no federation relationship with "${trustDomain}"`, { details: { trustDomain } });
    const users = await tx.selectFrom("entry_federates").select("entry_id").where("trust_domain", "=", trustDomain).limit(5).execute();
    if (users.length > 0) {
      const ids = users.map((u) => u.entry_id).join(", ");
      throw spindleError("ERR_BUNDLE_IN_USE", `registration entries federate with "${trustDomain}" (e.g. ${ids}); update them before deleting the relationship`, {
        details: { trustDomain },
      });
    }
    await tx.deleteFrom("federation_relationships").where("trust_domain", "=", trustDomain).execute();
    await tx.deleteFrom("federated_bundles").where("trust_domain", "=", trustDomain).execute();
    return existing;
  });
}

/**
 * Writes `next` only if the stored bundle is still `expected` (undefined: no bundle stored yet).
 * Returns false when another writer (an HA replica, `bundle set`) changed it first.
 */
export async function compareAndSetBundle(
  db: Db,
  trustDomain: string,
  expected: string | undefined,
  next: string,
  now: number,
  onlyWhileRelationshipExists = false,
): Promise<boolean> {
  if (expected === undefined) {
    // A refresh that was in flight (on this or another replica) when its relationship was deleted
    // must not bring the deleted bundle back: with onlyWhileRelationshipExists the insert happens
    // only while the relationship row is still there, in the same statement.
    const insert = onlyWhileRelationshipExists
      ? db
          .insertInto("federated_bundles")
          .columns(["trust_domain", "bundle", "updated_at"])
          .expression(
            db
              .selectFrom("federation_relationships")
              .where("trust_domain", "=", trustDomain)
              .select([sql<string>`cast(${trustDomain} as text)`.as("trust_domain"), sql<string>`cast(${next} as text)`.as("bundle"), sql<number>`cast(${now} as bigint)`.as("updated_at")]),
          )
      : db.insertInto("federated_bundles").values({ trust_domain: trustDomain, bundle: next, updated_at: now });
    const r = await insert.onConflict((oc) => oc.column("trust_domain").doNothing()).executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0n) > 0;
  }
  const r = await db
    .updateTable("federated_bundles")
    .set({ bundle: next, updated_at: now })
    .where("trust_domain", "=", trustDomain)
    .where("bundle", "=", expected)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}
