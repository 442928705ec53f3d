// The data dir's record of its datastore: a fresh start claims one; an empty (0-byte) or foreign
// datastore, or CA keys without a datastore, is refused with ERR_DATASTORE_MISMATCH unless
// --allow-new-datastore; another trust domain never; a truncated SQLite file is ERR_DATASTORE_CORRUPT
// and left byte for byte as it was.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { systemClock } from "../../common/clock.js";
import { SpindleError } from "../../common/errors.js";
import { createLogger } from "../../common/logger.js";
import { createDatastore, type Datastore } from "../datastore/index.js";
import { guardDatastore, MARKER_FILE } from "./datastore-guard.js";

const root = mkdtempSync(join(tmpdir(), "spindle-ds-guard-"));
after(() => rmSync(root, { recursive: true, force: true }));
const lines: { msg: string; level: string }[] = [];
const logger = createLogger({ level: "info", destination: { write: (s: string) => void lines.push(JSON.parse(s) as { msg: string; level: string }) } });
let n = 0;

async function open(path: string): Promise<Datastore> {
  return createDatastore({ location: { kind: "sqlite", path }, clock: systemClock });
}

async function guard(dataDir: string, ds: Datastore, o: { td?: string; allow?: boolean } = {}) {
  try {
    return await guardDatastore({ dataDir, trustDomain: o.td ?? "example.org", datastore: ds, allowNewDatastore: o.allow === true, logger, now: Date.now });
  } finally {
    await ds.close();
  }
}

async function refusal(p: Promise<unknown>): Promise<SpindleError> {
  try {
    await p;
  } catch (err) {
    return SpindleError.from(err);
  }
  assert.fail("expected a refusal");
}

function fresh(): { dataDir: string; dsPath: string } {
  const d = join(root, `case-${++n}`);
  mkdirSync(join(d, "data"), { recursive: true });
  return { dataDir: join(d, "data"), dsPath: join(d, "ds.sqlite3") };
}

test("a first start claims the datastore and records it; restarts on it pass", async () => {
  const { dataDir, dsPath } = fresh();
  const first = await guard(dataDir, await open(dsPath));
  const marker = JSON.parse(readFileSync(join(dataDir, MARKER_FILE), "utf8")) as Record<string, string>;
  assert.equal(marker["trust_domain"], "example.org");
  assert.equal(marker["datastore_id"], first.datastoreId);
  assert.equal(statSync(join(dataDir, MARKER_FILE)).mode & 0o777, 0o600);
  assert.equal((await guard(dataDir, await open(dsPath))).datastoreId, first.datastoreId);
  // A second HA replica (its own fresh data dir) joins the claimed datastore.
  const replica = fresh().dataDir;
  assert.equal((await guard(replica, await open(dsPath))).datastoreId, first.datastoreId);
});

test("a 0-byte datastore under a data dir that held a trust domain is refused unless --allow-new-datastore", async () => {
  const { dataDir, dsPath } = fresh();
  const first = await guard(dataDir, await open(dsPath));
  rmSync(`${dsPath}-wal`, { force: true });
  rmSync(`${dsPath}-shm`, { force: true });
  writeFileSync(dsPath, "");
  const e = await refusal(guard(dataDir, await open(dsPath)));
  assert.equal(e.code, "ERR_DATASTORE_MISMATCH");
  assert.match(e.message, /has held trust domain "example.org".*is empty: refusing to start a new trust domain.*--allow-new-datastore/);
  const second = await guard(dataDir, await open(dsPath), { allow: true });
  assert.notEqual(second.datastoreId, first.datastoreId);
  assert.ok(lines.some((l) => l.level === "warn" && /--allow-new-datastore: starting a new trust domain/.test(l.msg)), "the override is logged as a warning");
  assert.equal((JSON.parse(readFileSync(join(dataDir, MARKER_FILE), "utf8")) as Record<string, string>)["datastore_id"], second.datastoreId, "the record follows");
  await guard(dataDir, await open(dsPath));
});

test("a foreign datastore of the same trust domain is refused unless allowed; another trust domain never", async () => {
  const a = fresh();
  const b = fresh();
  await guard(a.dataDir, await open(a.dsPath));
  await guard(b.dataDir, await open(b.dsPath));
  const e = await refusal(guard(a.dataDir, await open(b.dsPath)));
  assert.equal(e.code, "ERR_DATASTORE_MISMATCH");
  assert.match(e.message, /refusing a foreign datastore/);
  await guard(a.dataDir, await open(b.dsPath), { allow: true });
  const other = fresh();
  await guard(other.dataDir, await open(other.dsPath), { td: "other.org" });
  const td = await refusal(guard(fresh().dataDir, await open(other.dsPath), { allow: true }));
  assert.equal(td.code, "ERR_DATASTORE_MISMATCH");
  assert.match(td.message, /holds trust domain "other.org", but this server is configured for "example.org"/);
});

test("CA keys in the data dir without any record also refuse an empty datastore", async () => {
  const { dataDir, dsPath } = fresh();
  mkdirSync(join(dataDir, "keys"));
  writeFileSync(join(dataDir, "keys", "x509-abc.pem"), "key");
  const e = await refusal(guard(dataDir, await open(dsPath)));
  assert.equal(e.code, "ERR_DATASTORE_MISMATCH");
  assert.match(e.message, /has held CA keys in/);
});

test("a datastore with history but no identity (written before identities existed) is adopted", async () => {
  const { dataDir, dsPath } = fresh();
  const ds = await open(dsPath);
  await ds.journal.save("srv-1", { x509: [], jwt: [] } as never);
  await ds.close();
  const id = await guard(dataDir, await open(dsPath));
  assert.ok(id.datastoreId);
});

test("a truncated SQLite file is ERR_DATASTORE_CORRUPT and left untouched", async () => {
  const { dataDir, dsPath } = fresh();
  const ds = await open(dsPath);
  await guard(dataDir, ds);
  const size = statSync(dsPath).size;
  assert.ok(size > 8192, `datastore is ${size} bytes`);
  truncateSync(dsPath, Math.floor(size / 2));
  const before = readFileSync(dsPath);
  const e = await refusal(open(dsPath));
  assert.equal(e.code, "ERR_DATASTORE_CORRUPT");
  assert.match(e.message, /is truncated or damaged.*left untouched/);
  assert.ok(readFileSync(dsPath).equals(before), "the file is not modified");
  writeFileSync(dsPath, Buffer.from("this is not a database at all, just some bytes".repeat(200)));
  assert.equal((await refusal(open(dsPath))).code, "ERR_DATASTORE_CORRUPT");
});
