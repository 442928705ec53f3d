// Truncated, emptied and foreign datastores under a server data dir that has held a trust domain,
// with real `spindle server run` processes: each is refused with its own error code and the
// datastore is left as it was; `--allow-new-datastore` is the only way to start a new trust domain
// there. The same for PostgreSQL pointed at an empty database.
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { runCli, startServerProcess, type ServerProcess } from "../helpers/cli-process.js";
import { startPostgres, type TempPostgres } from "../helpers/postgres.js";
import pgClient from "pg";
import { reportTiming } from "./harness.js";

const dir = mkdtempSync(join(tmpdir(), "spindle-fault-ds-"));
let pg: TempPostgres | undefined;
const running: ServerProcess[] = [];
after(async () => {
  for (const s of running) await s.stop("SIGKILL");
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function config(name: string, datastore: string): { file: string; admin: string; dataDir: string } {
  const base = join(dir, name);
  mkdirSync(join(base, "private"), { recursive: true, mode: 0o700 });
  const file = join(base, "server.yaml");
  const admin = join(base, "private", "admin.sock");
  const dataDir = join(base, "data");
  // Port 0: these servers never serve agents.
  writeFileSync(file, ["trust_domain: example.org", `data_dir: ${dataDir}`, "bind_address: 127.0.0.1:0", `admin_socket: ${admin}`, "health_address: 127.0.0.1:0", `datastore: ${datastore}`].join("\n"));
  return { file, admin, dataDir };
}

async function startAndStop(file: string, admin: string, extra: readonly string[] = []): Promise<void> {
  const s = await startServerProcess(["--config", file, ...extra]);
  running.push(s);
  const e = await runCli(["entry", "create", "--spiffe-id", "spiffe://example.org/kept", "--parent-id", "spiffe://example.org/agent", "--selector", "unix:uid:7", "--admin-socket", admin]);
  assert.equal(e.status, 0, e.stderr);
  assert.equal(await s.stop("SIGTERM"), 0);
}

/** What an operator does to swap a SQLite file: the stopped server's -wal/-shm go with it. */
function replaceDatastore(path: string, content: string | Buffer): void {
  rmSync(`${path}-wal`, { force: true });
  rmSync(`${path}-shm`, { force: true });
  writeFileSync(path, content);
}

async function refusedWith(file: string, code: RegExp): Promise<{ stderr: string; ms: number }> {
  const t0 = Date.now();
  const r = await runCli(["server", "run", "--config", file]);
  assert.equal(r.status, 1, `the server must refuse to start:\n${r.stderr.slice(-2000)}`);
  assert.match(r.stderr, code);
  assert.doesNotMatch(r.stderr, /spindle server: ready/);
  return { stderr: r.stderr, ms: Date.now() - t0 };
}

test("SQLite: truncated is ERR_DATASTORE_CORRUPT and untouched; 0-byte and foreign are ERR_DATASTORE_MISMATCH; --allow-new-datastore starts", { timeout: 120_000 }, async () => {
  const dsPath = join(dir, "a.sqlite3");
  const a = config("a", `sqlite:${dsPath}`);
  await startAndStop(a.file, a.admin);
  const size = statSync(dsPath).size;
  copyFileSync(dsPath, join(dir, "a.backup"));

  truncateSync(dsPath, Math.floor(size / 2));
  const truncated = readFileSync(dsPath);
  const corrupt = await refusedWith(a.file, /error \[ERR_DATASTORE_CORRUPT\]: SQLite datastore .* is truncated or damaged/);
  assert.ok(readFileSync(dsPath).equals(truncated), "the truncated file is left byte for byte");

  replaceDatastore(dsPath, "");
  const empty = await refusedWith(a.file, /error \[ERR_DATASTORE_MISMATCH\]: data dir .* has held trust domain "example.org" on datastore sqlite:.*is empty: refusing to start a new trust domain/);
  assert.ok(statSync(dsPath).size <= 4096, "no schema was written to the empty file (at most SQLite's header)");

  // Another server's datastore of the same trust domain.
  const otherPath = join(dir, "b.sqlite3");
  const b = config("b", `sqlite:${otherPath}`);
  await startAndStop(b.file, b.admin);
  const foreign = config("a-on-b", `sqlite:${otherPath}`);
  rmSync(foreign.dataDir, { recursive: true, force: true });
  mkdirSync(foreign.dataDir, { recursive: true, mode: 0o700 });
  copyFileSync(join(a.dataDir, "datastore-identity.json"), join(foreign.dataDir, "datastore-identity.json"));
  await refusedWith(foreign.file, /error \[ERR_DATASTORE_MISMATCH\]: .*refusing a foreign datastore/);

  // Restoring the backup recovers without any flag; the entry is there.
  replaceDatastore(dsPath, readFileSync(join(dir, "a.backup")));
  const restored = await startServerProcess(["--config", a.file]);
  running.push(restored);
  const list = await runCli(["entry", "show", "--output", "json", "--admin-socket", a.admin]);
  assert.equal(list.status, 0, list.stderr);
  assert.match(list.stdout, /spiffe:\/\/example\.org\/kept/, "the restored datastore has its entry");
  assert.equal(await restored.stop("SIGTERM"), 0);
  replaceDatastore(dsPath, "");
  await startAndStop(a.file, a.admin, ["--allow-new-datastore"]);
  reportTiming("datastore-refusal", { truncatedRefusedMs: corrupt.ms, emptyRefusedMs: empty.ms });
});

test("PostgreSQL: an empty database under a data dir that held the trust domain is refused", { timeout: 120_000 }, async () => {
  pg = await startPostgres();
  const c = config("pg", pg.url);
  await startAndStop(c.file, c.admin);
  const emptyUrl = await pg.createDatabase("empty");
  writeFileSync(c.file, readFileSync(c.file, "utf8").replace(pg.url, emptyUrl));
  await refusedWith(c.file, /error \[ERR_DATASTORE_MISMATCH\]: data dir .* has held trust domain "example.org" on datastore postgres:.*is empty/);
  const probe = new pgClient.Client({ connectionString: emptyUrl });
  await probe.connect();
  const tables = await probe.query("select count(*)::int as n from information_schema.tables where table_schema = 'public'");
  await probe.end();
  assert.equal(tables.rows[0].n, 0, "the refused database got no tables");
});
