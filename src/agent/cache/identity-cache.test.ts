// Entry changes as the sync loop applies them: removal, revision bumps, selector changes, tainted
// authorities, federated bundles and 1,000-entry batching, against the in-process CA.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { test } from "node:test";
import { createBundle } from "../../spiffe/bundle.js";
import { parseSelector } from "../../spiffe/selector.js";
import { createTestBundle, createTestCa } from "../../../test/support/spiffe/index.js";
import { createAgentHarness, type AgentHarness } from "../../../test/support/sync-harness.js";
import { createTestServer, type TestServer } from "../../../test/support/fake-agent-server.js";

const WEB = "spiffe://example.org/web";
const API = "spiffe://example.org/api";
const UID = [parseSelector("unix:uid:1000")];

async function running(server: TestServer): Promise<AgentHarness> {
  const h = createAgentHarness(server);
  h.loop.start();
  await h.settle();
  assert.ok(h.cache.ready);
  return h;
}

test("a removed entry drops its SVID and emits a change naming it", async (t) => {
  const server = await createTestServer();
  server.putEntry({ id: "web", spiffeId: WEB });
  server.putEntry({ id: "api", spiffeId: API });
  const h = await running(server);
  t.after(() => h.loop.stop());
  assert.deepEqual(h.cache.identitiesFor(UID).map((i) => i.spiffeId), [API, WEB]);
  const before = h.changes.length;
  server.removeEntry("web");
  await h.advance(5_000);
  assert.deepEqual(h.cache.identitiesFor(UID).map((i) => i.spiffeId), [API]);
  assert.equal(h.cache.svidOf("web"), undefined);
  const change = h.changes.slice(before).find((c) => c.entries.includes("web"));
  assert.ok(change, "change event for the removed entry");
  assert.ok(change.spiffeIds.includes(WEB) && change.entitlements);
  assert.deepEqual([...h.cache.knownRevisions().keys()], ["api"]);
  assert.ok(h.lines.some((l) => l.entryId === "web" && /entry removed/.test(l.msg)));
});

test("a revision bump re-issues the SVID at once, and an SVID of an old SPIFFE ID is never served", async (t) => {
  const server = await createTestServer();
  server.putEntry({ id: "web", spiffeId: WEB });
  const h = await running(server);
  t.after(() => h.loop.stop());
  const first = h.cache.svidOf("web")!;
  assert.equal(first.revision, 1);
  server.putEntry({ id: "web", spiffeId: WEB, dnsNames: ["web.internal"] });
  await h.advance(5_000);
  const second = h.cache.svidOf("web")!;
  assert.equal(second.revision, 2);
  assert.ok(second.notBefore - first.notBefore <= 6_000, "re-issued long before half-life");
  assert.equal(new X509Certificate(second.chainDer[0]!).subjectAltName, `URI:${WEB}, DNS:web.internal`);

  // A new SPIFFE ID: while the CSR is out, the old SVID must not appear under the new ID.
  server.putEntry({ id: "web", spiffeId: API });
  const result = await server.syncEntries(h.cache.knownRevisions());
  h.cache.applySync(result);
  assert.deepEqual(h.cache.identitiesFor(UID), [], "old-ID SVID withheld until re-issued");
  await h.cache.renewDue();
  const [identity] = h.cache.identitiesFor(UID);
  assert.equal(identity!.spiffeId, API);
  assert.equal(new X509Certificate(identity!.x509Svid.certChainDer[0]!).subjectAltName, `URI:${API}`);
});

test("an entry whose selectors change matches other workloads from the next sync on", async (t) => {
  const server = await createTestServer();
  server.putEntry({ id: "web", spiffeId: WEB, hint: "web" });
  const h = await running(server);
  t.after(() => h.loop.stop());
  const k8s = [parseSelector("k8s:ns:prod"), parseSelector("k8s:sa:web")];
  assert.equal(h.cache.identitiesFor(UID)[0]!.hint, "web");
  assert.deepEqual(h.cache.identitiesFor(k8s), []);
  const before = h.changes.length;
  server.putEntry({ id: "web", spiffeId: WEB, hint: "web", selectors: [parseSelector("k8s:ns:prod")] });
  await h.advance(5_000);
  assert.deepEqual(h.cache.identitiesFor(UID), []);
  assert.deepEqual(h.cache.identitiesFor(k8s).map((i) => [i.spiffeId, i.hint]), [[WEB, "web"]]);
  assert.ok(h.changes.slice(before).some((c) => c.entries.includes("web") && c.entitlements));
});

test("SVIDs signed by an authority reported tainted are re-issued at once by the new authority", async (t) => {
  const server = await createTestServer();
  server.putEntry({ id: "web", spiffeId: WEB });
  server.putEntry({ id: "api", spiffeId: API });
  const h = await running(server);
  t.after(() => h.loop.stop());
  const old = h.cache.svidOf("web")!.authorityId;
  const prepared = await server.ca.prepare("x509");
  await server.ca.activate("x509", prepared.id);
  await h.advance(5_000);
  assert.equal(h.cache.svidOf("web")!.authorityId, old, "activation alone does not re-issue");
  await server.ca.taint("x509", old);
  await h.advance(5_000);
  for (const id of ["web", "api"]) assert.equal(h.cache.svidOf(id)!.authorityId, prepared.id, `${id} re-issued`);
  assert.ok(h.lines.some((l) => l.level === "warn" && l.authorityId === old && l.svids === 2));
  const batches = server.batches.length;
  await h.advance(10_000);
  assert.equal(server.batches.length, batches, "no re-issue loop once replaced");
});

test("1,000 entries are signed in two batches of 500 and listed in a stable order", async (t) => {
  const server = await createTestServer();
  const ids = Array.from({ length: 1000 }, (_, i) => `e${String(i).padStart(4, "0")}`);
  for (const id of ids) server.putEntry({ id, spiffeId: `spiffe://example.org/w/${id}` });
  const h = await running(server);
  t.after(() => h.loop.stop());
  assert.deepEqual(server.batches, [500, 500]);
  const identities = h.cache.identitiesFor(UID);
  assert.equal(identities.length, 1000);
  assert.deepEqual(identities.map((i) => i.entryId), ids);
  assert.deepEqual(h.cache.identitiesFor(UID), identities, "same objects while nothing changed");
  assert.ok(h.lines.some((l) => l.msg === "renewing SVIDs" && l.due === 1000));
});

test("federated bundles follow the server: added, unchanged (no event), removed", async (t) => {
  const server = await createTestServer();
  server.putEntry({ id: "web", spiffeId: WEB, federatesWith: ["partner.test"] });
  const h = await running(server);
  t.after(() => h.loop.stop());
  const own = h.cache.bundles().own;
  assert.equal(h.cache.bundles().federated.size, 0);
  const partner = createTestBundle({ cas: [createTestCa({ trustDomain: "partner.test" })] });
  server.federated = [partner];
  let before = h.changes.length;
  await h.advance(5_000);
  assert.deepEqual(h.changes.slice(before).flatMap((c) => c.trustDomains), ["partner.test"]);
  assert.equal(h.cache.bundles().federated.get("partner.test"), partner);
  assert.equal(h.cache.bundles().own, own, "unchanged own bundle keeps its identity");
  before = h.changes.length;
  // An equal bundle in a new object (as a transport decodes it every sync) is not a change.
  server.federated = [createBundle({ trustDomain: partner.trustDomain, x509Authorities: partner.x509Authorities })];
  await h.advance(5_000);
  assert.deepEqual(h.changes.slice(before).flatMap((c) => c.trustDomains), [], "same content: no event");
  server.federated = [];
  await h.advance(5_000);
  assert.deepEqual(h.changes.slice(before).flatMap((c) => c.trustDomains), ["partner.test"]);
  assert.equal(h.cache.bundles().federated.size, 0);
});

test("a CSR the server refuses is retried with backoff, logged once, and does not hold up other entries", async (t) => {
  const server = await createTestServer();
  server.putEntry({ id: "web", spiffeId: WEB });
  // The CA signs only its own trust domain: this entry's CSR is refused every time.
  server.putEntry({ id: "bad", spiffeId: "spiffe://elsewhere.test/x" });
  const h = await running(server);
  t.after(() => h.loop.stop());
  assert.deepEqual(h.cache.identitiesFor(UID).map((i) => i.spiffeId), [WEB]);
  assert.equal(h.cache.svidOf("bad"), undefined);
  await h.advance(120_000);
  const attempts = server.batches.length;
  // Every 5 s would be 24 more attempts in 2 minutes; backoff 5, 10, 20, 40 s... allows about 5.
  assert.ok(attempts >= 4 && attempts <= 7, `${attempts} signing calls`);
  assert.equal(h.lines.filter((l) => l.level === "warn" && l.entryId === "bad").length, 1);
  assert.equal(h.lines.find((l) => l.level === "warn" && l.entryId === "bad")!.code, "ERR_CSR_INVALID");
  // Fixing the entry (a new revision) retries at once.
  server.putEntry({ id: "bad", spiffeId: "spiffe://example.org/fixed" });
  await h.advance(5_000);
  assert.equal(h.cache.svidOf("bad")!.spiffeId, "spiffe://example.org/fixed");
  assert.ok(h.lines.some((l) => l.entryId === "bad" && /signed again after earlier failures/.test(l.msg)));
});
