// Opens a Kysely instance on SQLite (better-sqlite3, the default: one file in the data dir) or
// PostgreSQL (pg pool, for HA replicas sharing one database).
import Database from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect, sql } from "kysely";
import pg from "pg";
import { SpindleError, spindleError } from "../../common/errors.js";
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
      checkSqliteIntegrity(database, loc.path);
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
    if (err instanceof SpindleError) throw err;
    throw spindleError("ERR_DATASTORE", `cannot open datastore ${where}: ${(err as Error).message}`, { cause: err });
  }
}

const CORRUPT_CODES = new Set(["SQLITE_NOTADB", "SQLITE_CORRUPT", "SQLITE_CORRUPT_VTAB", "SQLITE_CORRUPT_INDEX"]);

/**
 * A truncated or damaged SQLite file is refused with ERR_DATASTORE_CORRUPT: nothing is written to
 * it (no migration could "repair" it into an empty trust domain). A 0-byte or missing file is a
 * valid empty database; whether the server may start on it is the data dir's call
 * (src/ca/server/datastore-guard.ts).
 */
function checkSqliteIntegrity(database: Database.Database, path: string): void {
  const refuse = (why: string, cause?: unknown) => {
    database.close();
    return spindleError(
      "ERR_DATASTORE_CORRUPT",
      `SQLite datastore ${path} is truncated or damaged (${why}); it is left untouched: restore it from a backup, or move it away and start with --allow-new-datastore to begin a new trust domain`,
      { cause },
    );
  };
  let result: unknown;
  try {
    result = database.pragma("quick_check", { simple: true });
  } catch (err) {
    const code = (err as { code?: string }).code ?? "";
    if (CORRUPT_CODES.has(code)) throw refuse(`${code}: ${(err as Error).message}`, err);
    throw err;
  }
  if (result !== "ok") throw refuse(`integrity check: ${String(result)}`);
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
