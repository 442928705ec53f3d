// PostgreSQL operations: replicas sharing one database (migrations race safely at start, entries
// written by one are seen by the other, a replica's bundle carries every replica's CA) and a
// database outage (readiness, errors, metrics).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createAdminClient } from "../../src/ca/admin/index.js";
import { createDatastore } from "../../src/ca/datastore/index.js";
import { systemClock } from "../../src/common/clock.js";
import { SpindleError } from "../../src/common/errors.js";
import { startPostgres, type TempPostgres } from "./helpers/postgres.js";
import { startTestServer, type TestServer } from "./helpers/server.js";

let pg: TempPostgres | undefined;
const servers: TestServer[] = [];
before(async () => {
  pg = await startPostgres();
});
after(async () => {
  for (const s of servers) await s.close();
  await pg?.stop();
});

test("replicas migrating one fresh database at the same time both succeed", async () => {
  const url = await pg!.createDatabase("race");
  const stores = await Promise.all([1, 2, 3].map(() => createDatastore({ location: { kind: "postgres", url }, clock: systemClock })));
  try {
    await stores[0]!.setFederatedBundle("x.org", '{"keys":[]}');
    for (const s of stores) assert.equal((await s.listFederatedBundles()).length, 1);
  } finally {
    for (const s of stores) await s.close();
  }
});

test("two replicas on one PostgreSQL database", async () => {
  const url = await pg!.createDatabase("ha");
  const a = await startTestServer({ serverId: "replica-a", datastore: { kind: "postgres", url } });
  servers.push(a);
  const b = await startTestServer({ serverId: "replica-b", datastore: { kind: "postgres", url } });
  servers.push(b);
  const ca = createAdminClient({ socketPath: a!.options.adminSocket });
  const cb = createAdminClient({ socketPath: b!.options.adminSocket });
  const e = await ca.createEntry({ entry: { spiffeId: "spiffe://example.org/ha", parentId: "spiffe://example.org/agent", selectors: [{ type: "unix", value: "uid:7" }] } });
  assert.equal((await cb.getEntry({ id: e.id })).spiffeId, "spiffe://example.org/ha");
  const dup = await cb.batchCreateEntry({ entries: [{ spiffeId: "spiffe://example.org/ha", parentId: "spiffe://example.org/agent", selectors: [{ type: "unix", value: "uid:7" }] }] });
  assert.equal(dup.results[0]?.status?.code, "ERR_ALREADY_EXISTS", "uniqueness holds across replicas");
  // B read A's journal at start; A sees B's at its next rotation check.
  assert.equal(((await cb.getBundle({})).pem.match(/BEGIN CERTIFICATE/g) ?? []).length, 2, "the bundle carries both replicas' CAs");
  const ids = new Set([...(await ca.showAuthorities({})).authorities, ...(await cb.showAuthorities({})).authorities].map((x) => x.serverId));
  assert.deepEqual([...ids].sort(), ["replica-a", "replica-b"], "each replica owns its own authorities");
});

test("a datastore outage: /ready says why, admin calls fail with ERR_DATASTORE, metrics count it", async () => {
  const own = await startPostgres();
  const srv = await startTestServer({ serverId: "outage", datastore: { kind: "postgres", url: own.url } });
  servers.push(srv);
  const base = `http://127.0.0.1:${srv.server.healthAddress()!.port}`;
  const client = createAdminClient({ socketPath: srv.options.adminSocket });
  assert.equal((await fetch(`${base}/ready`)).status, 200);
  await own.stop();
  const ready = await fetch(`${base}/ready`);
  assert.equal(ready.status, 503);
  assert.match(await ready.text(), /^not ready: datastore ping failed/);
  assert.equal((await fetch(`${base}/live`)).status, 200, "liveness does not depend on the datastore");
  await assert.rejects(client.countEntries({}), (e) => SpindleError.is(e, "ERR_DATASTORE"));
  const metrics = await fetch(`${base}/metrics`);
  assert.equal(metrics.status, 200, "metrics still answer");
  assert.match(await metrics.text(), /^spindle_server_datastore_errors_total\{operation="countEntries"\} [1-9]\d*$/m);
});
