// PostgreSQL operations: replicas sharing one database (migrations race safely at start, entries
// written by one are seen by the other, a replica's bundle carries every replica's CA within the
// peer refresh interval, also after a rotation) and a database outage (readiness, errors, metrics).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createAdminClient } from "../../src/ca/admin/index.js";
import { createDatastore } from "../../src/ca/datastore/index.js";
import { systemClock } from "../../src/common/clock.js";
import { SpindleError } from "../../src/common/errors.js";
import { startPostgres, type TempPostgres } from "./helpers/postgres.js";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { createJoinTokenAgentAttestor } from "../../src/agent/nodeattestors/join-token/index.js";
import { agentClient, attest } from "../support/agentapi-harness.js";
import { pemToDers } from "../../src/common/pem.js";
import { createBundle, createBundleSet, parseTrustDomain, validateX509Svid } from "../../src/spiffe/index.js";

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

const PEER_REFRESH_S = 1;

/** Polls `check` until it holds; fails when it does not within `ms`. */
async function within(ms: number, what: string, check: () => Promise<boolean>): Promise<void> {
  const start = Date.now();
  for (;;) {
    if (await check()) return;
    if (Date.now() - start > ms) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const pemCount = (pem: string) => (pem.match(/BEGIN CERTIFICATE/g) ?? []).length;

test("two replicas on one PostgreSQL database", async () => {
  const url = await pg!.createDatabase("ha");
  const a = await startTestServer({ serverId: "replica-a", datastore: { kind: "postgres", url }, peerRefreshIntervalSeconds: PEER_REFRESH_S });
  servers.push(a);
  const b = await startTestServer({ serverId: "replica-b", datastore: { kind: "postgres", url }, peerRefreshIntervalSeconds: PEER_REFRESH_S });
  servers.push(b);
  const ca = createAdminClient({ socketPath: a!.options.adminSocket });
  const cb = createAdminClient({ socketPath: b!.options.adminSocket });
  const e = await ca.createEntry({ entry: { spiffeId: "spiffe://example.org/ha", parentId: "spiffe://example.org/agent", selectors: [{ type: "unix", value: "uid:7" }] } });
  assert.equal((await cb.getEntry({ id: e.id })).spiffeId, "spiffe://example.org/ha");
  const dup = await cb.batchCreateEntry({ entries: [{ spiffeId: "spiffe://example.org/ha", parentId: "spiffe://example.org/agent", selectors: [{ type: "unix", value: "uid:7" }] }] });
  assert.equal(dup.results[0]?.status?.code, "ERR_ALREADY_EXISTS", "uniqueness holds across replicas");
  // B read A's journal at start; A sees B's within the peer refresh interval.
  assert.equal(pemCount((await cb.getBundle({})).pem), 2, "B's bundle carries both replicas' CAs");
  await within(PEER_REFRESH_S * 1000 + 2000, "A's bundle carries B's CA", async () => pemCount((await ca.getBundle({})).pem) === 2);
  const ids = new Set([...(await ca.showAuthorities({})).authorities, ...(await cb.showAuthorities({})).authorities].map((x) => x.serverId));
  assert.deepEqual([...ids].sort(), ["replica-a", "replica-b"], "each replica owns its own authorities");

  // B rotates by hand; A publishes B's new CA within the interval (its rotation check is 30 s away).
  const prepared = (await cb.prepareAuthority({ kind: "x509" })).authority!;
  const preparedJwt = (await cb.prepareAuthority({ kind: "jwt" })).authority!;
  await within(PEER_REFRESH_S * 1000 + 2000, "A's bundle carries B's prepared CA", async () => pemCount((await ca.getBundle({})).pem) === 3);
  const jwks = JSON.parse((await ca.getBundle({})).spiffeBundle) as { keys: { kid?: string }[] };
  assert.ok(jwks.keys.some((k) => k.kid === preparedJwt.id), "and B's prepared JWT key");
  await cb.activateAuthority({ kind: "x509" });

  // An agent attested on B after the rotation holds an SVID of B's new CA; A's agent API accepts it.
  const { token } = await cb.generateJoinToken({});
  const bundlePem = (await cb.getBundle({})).pem;
  const attested = await attest(agentClient(b.server.agentApiAddress()!.port, bundlePem), createJoinTokenAgentAttestor({ token }));
  const signer = validateX509Svid(attested.svid.svid!.certChain, createBundleSet([createBundle({ trustDomain: parseTrustDomain("example.org"), x509Authorities: pemToDers(bundlePem, "CERTIFICATE") })]), { now: Date.now() });
  assert.equal(attested.svid.svid!.authorityId, prepared.id, "B signs with the activated CA");
  assert.ok(signer.spiffeId.toString().startsWith("spiffe://example.org/spindle/agent/join_token/"));
  await within(PEER_REFRESH_S * 1000 + 2000, "A's agent API accepts the agent SVID of B's new CA", async () => {
    const onA = agentClient(a.server.agentApiAddress()!.port, bundlePem, { chainDer: attested.svid.svid!.certChain, privateKey: attested.privateKey });
    return onA.syncEntries({}).then(
      () => true,
      () => false,
    );
  });
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
