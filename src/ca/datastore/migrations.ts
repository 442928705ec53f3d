// Schema migrations, run at every start (Kysely's Migrator takes a lock, so concurrent replicas
// on one PostgreSQL database migrate once). Append new migrations; never edit a shipped one.
import { Migrator, type Kysely, type Migration, type MigrationProvider } from "kysely";
import { spindleError } from "../../common/errors.js";

const MIGRATIONS: Record<string, Migration> = {
  "0001_initial": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("entries")
        .addColumn("id", "varchar(64)", (c) => c.primaryKey())
        .addColumn("entry_key", "varchar(64)", (c) => c.notNull().unique())
        .addColumn("spiffe_id", "text", (c) => c.notNull())
        .addColumn("parent_id", "text", (c) => c.notNull())
        .addColumn("selectors", "text", (c) => c.notNull())
        .addColumn("x509_svid_ttl", "integer", (c) => c.notNull())
        .addColumn("jwt_svid_ttl", "integer", (c) => c.notNull())
        .addColumn("dns_names", "text", (c) => c.notNull())
        .addColumn("hint", "text", (c) => c.notNull())
        .addColumn("federates_with", "text", (c) => c.notNull())
        .addColumn("admin", "integer", (c) => c.notNull())
        .addColumn("expires_at", "bigint", (c) => c.notNull())
        .addColumn("revision", "bigint", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("updated_at", "bigint", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("entries_spiffe_id").on("entries").column("spiffe_id").execute();
      await db.schema.createIndex("entries_parent_id").on("entries").column("parent_id").execute();
      await db.schema
        .createTable("federated_bundles")
        .addColumn("trust_domain", "varchar(255)", (c) => c.primaryKey())
        .addColumn("bundle", "text", (c) => c.notNull())
        .addColumn("updated_at", "bigint", (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("entry_selectors")
        .addColumn("entry_id", "varchar(64)", (c) => c.notNull().references("entries.id").onDelete("cascade"))
        .addColumn("selector", "text", (c) => c.notNull())
        .addPrimaryKeyConstraint("entry_selectors_pk", ["entry_id", "selector"])
        .execute();
      await db.schema.createIndex("entry_selectors_selector").on("entry_selectors").column("selector").execute();
      await db.schema
        .createTable("entry_federates")
        .addColumn("entry_id", "varchar(64)", (c) => c.notNull().references("entries.id").onDelete("cascade"))
        .addColumn("trust_domain", "varchar(255)", (c) => c.notNull().references("federated_bundles.trust_domain"))
        .addPrimaryKeyConstraint("entry_federates_pk", ["entry_id", "trust_domain"])
        .execute();
      await db.schema.createIndex("entry_federates_td").on("entry_federates").column("trust_domain").execute();
      await db.schema
        .createTable("join_tokens")
        .addColumn("token_hash", "varchar(64)", (c) => c.primaryKey())
        .addColumn("expires_at", "bigint", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("used_at", "bigint")
        .execute();
      await db.schema
        .createTable("authority_journals")
        .addColumn("server_id", "varchar(255)", (c) => c.primaryKey())
        .addColumn("journal", "text", (c) => c.notNull())
        .addColumn("updated_at", "bigint", (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("counters")
        .addColumn("name", "varchar(64)", (c) => c.primaryKey())
        .addColumn("value", "bigint", (c) => c.notNull())
        .execute();
    },
  },
  "0002_attested_agents": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("attested_agents")
        .addColumn("spiffe_id", "varchar(2048)", (c) => c.primaryKey())
        .addColumn("attestor", "varchar(64)", (c) => c.notNull())
        .addColumn("selectors", "text", (c) => c.notNull())
        .addColumn("serial", "varchar(128)", (c) => c.notNull())
        .addColumn("previous_serial", "varchar(128)", (c) => c.notNull())
        .addColumn("expires_at", "bigint", (c) => c.notNull())
        .addColumn("can_reattest", "integer", (c) => c.notNull())
        .addColumn("banned", "integer", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("updated_at", "bigint", (c) => c.notNull())
        .execute();
    },
  },
  // Which trust domain this datastore holds and a random id naming this datastore, so a server
  // whose data dir remembers another datastore (or none) can refuse it (src/ca/server/datastore-guard.ts).
  "0003_datastore_identity": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("datastore_identity")
        .addColumn("singleton", "varchar(16)", (c) => c.primaryKey())
        .addColumn("datastore_id", "varchar(64)", (c) => c.notNull())
        .addColumn("trust_domain", "varchar(255)", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .execute();
    },
  },
  "0004_join_token_alias": {
    async up(db: Kysely<unknown>) {
      // The node alias a token's agent carries (`spindle token generate --spiffe-id`); null = none.
      await db.schema.alterTable("join_tokens").addColumn("spiffe_id", "text").execute();
    },
  },
  "0005_federation_relationships": {
    async up(db: Kysely<unknown>) {
      // No foreign key to federated_bundles: a relationship exists before its first bundle.
      await db.schema
        .createTable("federation_relationships")
        .addColumn("trust_domain", "varchar(255)", (c) => c.primaryKey())
        .addColumn("bundle_endpoint_url", "text", (c) => c.notNull())
        .addColumn("bundle_endpoint_profile", "varchar(32)", (c) => c.notNull())
        .addColumn("endpoint_spiffe_id", "text", (c) => c.notNull())
        .addColumn("ca_file", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("updated_at", "bigint", (c) => c.notNull())
        .execute();
    },
  },
};

const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

/** Brings the schema up to date; throws ERR_DATASTORE naming the failed migration. */
export async function migrateToLatest(db: Kysely<unknown>): Promise<string[]> {
  const migrator = new Migrator({
    db,
    provider,
    migrationTableName: "spindle_migration",
    migrationLockTableName: "spindle_migration_lock",
  });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === "Error");
  if (error !== undefined || failed) {
    const which = failed ? ` (migration ${failed.migrationName})` : "";
    throw spindleError("ERR_DATASTORE", `datastore migration failed${which}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}
