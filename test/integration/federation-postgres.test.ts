// HA replicas on one PostgreSQL database: the federation migration applies, and two replicas (two
// datastores, two refreshers) refreshing one trust domain concurrently from endpoints at different
// sequences never leave the lower sequence stored (compare-and-set on the stored document).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createFakeClock } from "../support/fake-clock.js";
import { createSilentLogger } from "../../src/common/logger.js";
import { createDatastore, type Datastore } from "../../src/ca/datastore/index.js";
import { createFederationManager, validateRelationship } from "../../src/ca/federation/index.js";
import { endpointSvid, json, remoteDomain, spiffeInput, startEndpoint, type TestEndpoint } from "../support/federation-endpoint.js";
import { decodeSpiffeBundle, parseTrustDomain } from "../../src/spiffe/index.js";
import { startPostgres, type TempPostgres } from "./helpers/postgres.js";

const TD = "b.test";
const ID = "spiffe://b.test/spindle/server";
const remote = remoteDomain(TD);
let pgc: TempPostgres;
let ds1: Datastore;
let ds2: Datastore;
const eps: TestEndpoint[] = [];

before(async () => {
  pgc = await startPostgres();
  const clock = createFakeClock(Date.now());
  ds1 = await createDatastore({ location: { kind: "postgres", url: pgc.url }, clock });
  ds2 = await createDatastore({ location: { kind: "postgres", url: pgc.url }, clock });
});
after(async () => {
  for (const e of eps) await e.close();
  await ds1?.close();
  await ds2?.close();
  await pgc?.stop();
});

test("postgres: two replicas refreshing concurrently keep the highest sequence; relationships are shared", async () => {
  const svid = endpointSvid(remote, ID);
  const newer = await startEndpoint(svid.chainPem, svid.privateKeyPem, json(remote.doc(30)));
  const older = await startEndpoint(svid.chainPem, svid.privateKeyPem, json(remote.doc(20)));
  eps.push(newer, older);
  const clock = createFakeClock(Date.now());
  const logger = createSilentLogger();
  const r1 = createFederationManager({ ownTrustDomain: "a.test", configRelationships: [], datastore: ds1, clock, logger });
  const r2 = createFederationManager({ ownTrustDomain: "a.test", configRelationships: [validateRelationship(spiffeInput(TD, older.url, ID), "a.test", "config")], datastore: ds2, clock, logger });
  await r1.start();
  await r1.create([spiffeInput(TD, newer.url, ID, remote.doc(1))]);
  await r2.start();
  try {
    assert.equal((await ds2.listFederationRelationships()).length, 1, "replica 2 sees the relationship replica 1 created");
    for (let round = 0; round < 5; round++) {
      const results = await Promise.allSettled([r1.refresh(TD), r2.refresh(TD), r1.refresh(TD), r2.refresh(TD)]);
      for (const r of results) if (r.status === "rejected") assert.equal((r.reason as { details: { reason: string } }).details.reason, "sequence_regressed");
      const stored = await ds1.getFederatedBundle(TD);
      assert.equal(decodeSpiffeBundle(parseTrustDomain(TD), stored!.bundle).sequenceNumber, 30, `round ${round}`);
    }
    assert.equal(await ds1.compareAndSetFederatedBundle(TD, remote.doc(1), remote.doc(2)), false, "stale expected value refused on PostgreSQL");
    assert.equal(await ds1.compareAndSetFederatedBundle("z.test", undefined, remote.doc(1), true), false, "no relationship row: no first bundle stored on PostgreSQL");
    assert.equal(await ds1.getFederatedBundle("z.test"), undefined);
    r1.stop();
    r2.stop();
    await ds1.deleteFederatedBundle(TD);
    assert.equal(await ds1.compareAndSetFederatedBundle(TD, undefined, remote.doc(5), true), true, "relationship row present: first bundle stored on PostgreSQL");
    assert.equal((await ds2.getFederatedBundle(TD))?.bundle, remote.doc(5));
  } finally {
    r1.stop();
    r2.stop();
  }
});
