// Opens a Kysely instance on SQLite (better-sqlite3, the default: one file in the data dir) or
// PostgreSQL (pg pool, for HA replicas sharing one database).
import Database from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect, sql } from "kysely";
import pg from "pg";
import { spindleError } from "../../common/errors.js";
import type { DatabaseSchema } from "./schema.js";

export type DatastoreLocation = { kind: "sqlite"; path: string } | { kind: "postgres"; url: string };

/** `postgres://` / `postgresql://` URLs select PostgreSQL; `sqlite:<path>` or a plain path selects SQLite. */
export function parseDatastoreLocation(value: string): DatastoreLocation {
  if (/^postgres(ql)?:\/\//.test(value)) return { kind: "postgres", url: value };
  const path = value.startsWith("sqlite:") ? value.slice("sqlite:".length) : value;
  if (path === "") throw spindleError("ERR_INVALID_ARGUMENT", `datastore "${value}" names no SQLite file`);
  return { kind: "sqlite", path };
}

/** The location with any password removed, for logs and errors. */
export function describeLocation(loc: DatastoreLocation): string {
  if (loc.kind === "sqlite") return `sqlite:${loc.path}`;
  try {
    const u = new URL(loc.url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "postgres://(unparseable URL)";
  }
}

/**
 * `onIdleError` receives errors of idle pooled PostgreSQL connections (server restart, failover);
 * without a listener pg would crash the process. The next query simply opens a new connection.
 */
export async function openKysely(loc: DatastoreLocation, onIdleError: (err: Error) => void = () => undefined): Promise<Kysely<DatabaseSchema>> {
  const where = describeLocation(loc);
  try {
    if (loc.kind === "sqlite") {
      const database = new Database(loc.path);
      database.pragma("journal_mode = WAL");
      database.pragma("foreign_keys = ON");
      database.pragma("busy_timeout = 5000");
      database.pragma("synchronous = NORMAL");
      return new Kysely<DatabaseSchema>({ dialect: new SqliteDialect({ database }) });
    }
    const pool = new pg.Pool({ connectionString: loc.url, max: 10, connectionTimeoutMillis: 10_000 });
    pool.on("error", onIdleError);
    const db = new Kysely<DatabaseSchema>({ dialect: new PostgresDialect({ pool }) });
    try {
      await sql`select 1`.execute(db);
    } catch (err) {
      await db.destroy();
      throw err;
    }
    return db;
  } catch (err) {
    throw spindleError("ERR_DATASTORE", `cannot open datastore ${where}: ${(err as Error).message}`, { cause: err });
  }
}

/** True for a unique or primary key violation in either dialect. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === "23505" || code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY";
}

/** True for a foreign key violation in either dialect. */
export function isForeignKeyViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === "23503" || code === "SQLITE_CONSTRAINT_FOREIGNKEY";
}
