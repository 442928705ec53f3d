// Registration entries, federated bundles, join tokens and journals on SQLite and PostgreSQL.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { createFakeClock } from "../support/fake-clock.js";
import { createDatastore } from "../../src/ca/datastore/index.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { registrationSuite } from "./helpers/registration-suite.js";
import { startPostgres, type TempPostgres } from "./helpers/postgres.js";

const dir = mkdtempSync(join(tmpdir(), "spindle-ds-"));
let n = 0;
after(() => rmSync(dir, { recursive: true, force: true }));
registrationSuite("sqlite", async () => ({ kind: "sqlite", path: join(dir, `db-${++n}.sqlite3`) }));

let pgServer: TempPostgres | undefined;
before(async () => {
  pgServer = await startPostgres();
});
after(async () => pgServer?.stop());
registrationSuite("postgres", async () => ({ kind: "postgres", url: await pgServer!.createDatabase(`t${++n}`) }));

test("postgres: terminated connections are reported, do not crash, and the next query reconnects", async () => {
  const url = await pgServer!.createDatabase(`t${++n}`);
  const errors: string[] = [];
  const ds = await createDatastore({ location: { kind: "postgres", url }, clock: createFakeClock(), onError: (op) => errors.push(op) });
  try {
    await ds.countEntries({});
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
    await admin.end();
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(errors.includes("idleConnection"), `idle connection errors are reported: ${errors.join(", ")}`);
    assert.equal(await ds.countEntries({}), 0, "the datastore keeps working");
  } finally {
    await ds.close();
  }
});
