// Refresh scheduling on a fake clock (short backoff until the first success, then the clamped
// refresh hint, failures after a success wait a full interval) and HA replicas writing the same
// trust domain concurrently (compare-and-set: the higher sequence always ends up stored).
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { decodeSpiffeBundle, parseTrustDomain } from "../../spiffe/index.js";
import { validateRelationship } from "./relationship.js";
import { createHarness, endpointSvid, json, remoteDomain, spiffeInput, startEndpoint, type Harness, type TestEndpoint } from "../../../test/support/federation-endpoint.js";

const TD = "b.test";
const ID = "spiffe://b.test/spindle/server";
const remote = remoteDomain(TD);
const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function endpoint(body: string): Promise<TestEndpoint> {
  const svid = endpointSvid(remote, ID);
  const ep = await startEndpoint(svid.chainPem, svid.privateKeyPem, json(body));
  cleanups.push(() => ep.close());
  return ep;
}

async function harness(): Promise<Harness> {
  const h = await createHarness();
  cleanups.push(() => h.close());
  return h;
}

async function waitFor<T>(fn: () => Promise<T | undefined>, what: string): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`timed out waiting for ${what}`);
}

test("until the first success the retry is a short backoff; then the hint (clamped) schedules polls, and a failure waits a full interval", async () => {
  const ep = await endpoint("");
  ep.handler = (_req, res) => {
    res.writeHead(500);
    res.end();
  };
  const h = await harness();
  const m = h.manager();
  await m.start();
  await m.create([spiffeInput(TD, ep.url, ID, remote.doc(1))]);
  const attemptAt = async (n: number) => {
    const s = (await m.get(TD)).status;
    return h.refusals.length + (s.lastSuccessAt !== undefined ? 1000 : 0) >= n && s.nextAttemptAt !== undefined && !(s.nextAttemptAt <= h.clock.now()) ? s : undefined;
  };
  h.clock.advance(0);
  let s = await waitFor(() => attemptAt(1), "first attempt");
  let wait = s.nextAttemptAt! - s.lastAttemptAt!;
  assert.ok(wait >= 800 && wait <= 1200, `first retry after ~1 s, got ${wait} ms`);
  h.clock.advance(wait);
  s = await waitFor(() => attemptAt(2), "second attempt");
  wait = s.nextAttemptAt! - s.lastAttemptAt!;
  assert.ok(wait >= 1600 && wait <= 2400, `backoff doubles, got ${wait} ms`);

  ep.handler = json(remote.doc(2, 120));
  h.clock.advance(wait);
  s = await waitFor(async () => ((await m.get(TD)).status.lastSuccessAt !== undefined ? (await m.get(TD)).status : undefined), "success");
  assert.equal(s.nextAttemptAt! - s.lastSuccessAt!, 120_000, "polls at the bundle's refresh hint");

  ep.handler = (_req, res) => {
    res.writeHead(503);
    res.end();
  };
  const refusals = h.refusals.length;
  h.clock.advance(120_000);
  s = await waitFor(async () => (h.refusals.length > refusals ? (await m.get(TD)).status : undefined), "failed poll");
  assert.equal(s.nextAttemptAt! - s.lastAttemptAt!, 120_000, "after a success, a failure retries at the next interval, not sooner");

  ep.handler = json(remote.doc(3, 1));
  assert.equal((await m.refresh(TD)).status.nextAttemptAt! - h.clock.now(), 30_000, "a 1 s hint is raised to the 30 s floor");
  ep.handler = json(remote.doc(4, 10 * 86400));
  assert.equal((await m.refresh(TD)).status.nextAttemptAt! - h.clock.now(), 3_600_000, "a 10 day hint is capped at 1 h");
  ep.handler = json(JSON.stringify({ keys: JSON.parse(remote.doc(5)).keys, spiffe_sequence: 5 }));
  assert.equal((await m.refresh(TD)).status.nextAttemptAt! - h.clock.now(), 300_000, "no hint: 5 minutes");
});

test("HA: two replicas refreshing concurrently from endpoints at different sequences never store the lower one", async () => {
  const newer = await endpoint(remote.doc(30));
  const older = await endpoint(remote.doc(20));
  const h = await harness();
  // Replica 1 has the API relationship; replica 2's config points at an older copy of the endpoint.
  const r1 = h.manager();
  await r1.start();
  await r1.create([spiffeInput(TD, newer.url, ID, remote.doc(1))]);
  const cfg = validateRelationship(spiffeInput(TD, older.url, ID), "a.test", "config");
  const r2 = h.manager([cfg]);
  await r2.start();
  for (let round = 0; round < 5; round++) {
    const results = await Promise.allSettled([r1.refresh(TD), r2.refresh(TD), r1.refresh(TD), r2.refresh(TD)]);
    for (const r of results) {
      if (r.status === "rejected") assert.equal((r.reason as { details: { reason: string } }).details.reason, "sequence_regressed");
    }
    const stored = await h.ds.getFederatedBundle(TD);
    assert.equal(decodeSpiffeBundle(parseTrustDomain(TD), stored!.bundle).sequenceNumber, 30, `round ${round}`);
  }
});

test("datastore compare-and-set: a writer holding a stale copy does not overwrite", async () => {
  const h = await harness();
  assert.equal(await h.ds.compareAndSetFederatedBundle(TD, undefined, remote.doc(1)), true);
  assert.equal(await h.ds.compareAndSetFederatedBundle(TD, undefined, remote.doc(2)), false, "insert only when absent");
  assert.equal(await h.ds.compareAndSetFederatedBundle(TD, remote.doc(1), remote.doc(3)), true);
  assert.equal(await h.ds.compareAndSetFederatedBundle(TD, remote.doc(1), remote.doc(2)), false, "stale expected value");
  assert.equal((await h.ds.getFederatedBundle(TD))?.bundle, remote.doc(3));
});

test("a refresh in flight when its relationship is deleted does not bring the deleted bundle back", async () => {
  const ep = await endpoint(remote.doc(2));
  const serve = ep.handler;
  let requests = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  ep.handler = (req, res) => {
    requests++;
    void gate.then(() => serve(req, res));
  };
  const h = await harness();
  const m = h.manager();
  await m.start();
  await m.create([spiffeInput(TD, ep.url, ID, remote.doc(1))]);
  const inFlight = m.refresh(TD).catch(() => undefined);
  await waitFor(async () => (requests > 0 ? true : undefined), "the refresh to reach the endpoint");
  const deleted = m.delete(TD);
  release();
  await deleted;
  await inFlight;
  assert.equal(await h.ds.getFederatedBundle(TD), undefined, "the bundle stays deleted");
  assert.deepEqual(await h.ds.listFederationRelationships(), []);
  m.stop();
});

test("datastore: a first bundle for a relationship is stored only while the relationship exists", async () => {
  const h = await harness();
  assert.equal(await h.ds.compareAndSetFederatedBundle(TD, undefined, remote.doc(1), true), false, "no relationship row: nothing stored");
  assert.equal(await h.ds.getFederatedBundle(TD), undefined);
  const m = h.manager();
  await m.start();
  const ep = await endpoint(remote.doc(1));
  await m.create([spiffeInput(TD, ep.url, ID, remote.doc(1))]);
  m.stop();
  await h.ds.deleteFederatedBundle(TD);
  assert.equal(await h.ds.compareAndSetFederatedBundle(TD, undefined, remote.doc(2), true), true, "relationship row present: stored");
  assert.equal((await h.ds.getFederatedBundle(TD))?.bundle, remote.doc(2));
});
