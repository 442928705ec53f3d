import assert from "node:assert/strict";
import { connect } from "node:http2";
import { after, before, test } from "node:test";
import type { PeerCertificate } from "node:tls";
import { createFakeClock } from "../../../test/support/fake-clock.js";
import { createBundle, encodeSpiffeBundle, parseTrustDomain, validateX509Svid } from "../../spiffe/index.js";
import { createTestCa } from "../../../test/support/spiffe/index.js";
import * as joinToken from "../../agent/nodeattestors/join-token/index.js";
import { serverSpiffeId } from "../registration/entry.js";
import { authorizedEntries } from "./authorized.js";
import { createMemoryEntrySource } from "./memory-stores.js";
import { attest, decodeDelivered, makeCsr, SERVER_ID, startHarness, TD, type Harness } from "../../../test/support/agentapi-harness.js";

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(() => h.close());

async function agent(token: string) {
  await h.tokens.createJoinToken(token, h.clock.now() + 600_000);
  const r = await attest(h.client(), joinToken.createJoinTokenAgentAttestor({ token }));
  return { ...r, id: r.svid.svid!.spiffeId, client: h.client({ chainDer: r.svid.svid!.certChain, privateKey: r.privateKey }) };
}

test("authorizedEntries: nested parents, node aliases by selector subset, expired entries and cycles", async () => {
  const clock = createFakeClock(1_000_000);
  const src = createMemoryEntrySource(clock);
  const me = { spiffeId: `spiffe://${TD}/spindle/agent/x509pop/aa`, selectors: [{ type: "x509pop", value: "subject:cn:n1" }, { type: "x509pop", value: "san:dns:n1" }] };
  const a = src.put({ spiffeId: `spiffe://${TD}/a`, parentId: me.spiffeId, selectors: [{ type: "unix", value: "uid:1" }] });
  const b = src.put({ spiffeId: `spiffe://${TD}/b`, parentId: a.spiffeId, selectors: [{ type: "unix", value: "uid:2" }] });
  src.put({ spiffeId: a.spiffeId, parentId: b.spiffeId, selectors: [{ type: "unix", value: "uid:3" }] }); // cycle a -> b -> a
  src.put({ spiffeId: `spiffe://${TD}/old`, parentId: me.spiffeId, selectors: [{ type: "unix", value: "uid:4" }], expiresAt: 999_000 });
  const alias = src.put({ spiffeId: `spiffe://${TD}/group`, parentId: serverSpiffeId(TD), selectors: [{ type: "x509pop", value: "subject:cn:n1" }] });
  const wide = src.put({ spiffeId: `spiffe://${TD}/wide`, parentId: serverSpiffeId(TD), selectors: [{ type: "x509pop", value: "subject:cn:n1" }, { type: "x509pop", value: "san:dns:n2" }] });
  const viaAlias = src.put({ spiffeId: `spiffe://${TD}/c`, parentId: alias.spiffeId, selectors: [{ type: "unix", value: "uid:5" }] });
  src.put({ spiffeId: `spiffe://${TD}/d`, parentId: wide.spiffeId, selectors: [{ type: "unix", value: "uid:6" }] });
  const got = await authorizedEntries(src, TD, me, clock.now());
  const ids = got.map((e) => e.spiffeId).sort();
  assert.deepEqual(ids, [`spiffe://${TD}/a`, `spiffe://${TD}/a`, `spiffe://${TD}/b`, viaAlias.spiffeId].sort());
  assert.ok(got.every((e, i) => i === 0 || got[i - 1]!.id < e.id), "sorted by id");
  assert.deepEqual(await authorizedEntries(src, TD, { spiffeId: `spiffe://${TD}/spindle/agent/x509pop/bb`, selectors: [] }, clock.now()), []);
});

test("sync pages of 500 by id, bundles of federated domains on the last page, tainted authorities", async () => {
  const me = await agent("paging_token_0123456789abcdef");
  const partnerCa = createTestCa({ trustDomain: "partner.org", now: h.clock.now() });
  const partnerJson = encodeSpiffeBundle(createBundle({ trustDomain: parseTrustDomain("partner.org"), x509Authorities: [partnerCa.der] }));
  h.entries.setFederatedBundle("partner.org", partnerJson);
  h.entries.setFederatedBundle("unused.org", "{}");
  const ids = new Set<string>();
  for (let i = 0; i < 1203; i++) {
    const e = h.entries.put({ spiffeId: `spiffe://${TD}/w${i}`, parentId: me.id, selectors: [{ type: "unix", value: `uid:${i}` }], federatesWith: i === 7 ? ["partner.org"] : [] });
    ids.add(e.id);
  }
  const pages = [];
  let token = "";
  do {
    const page = await me.client.syncEntries({ pageToken: token });
    pages.push(page);
    token = page.nextPageToken;
  } while (token !== "");
  assert.deepEqual(pages.map((p) => p.revisions.length), [500, 500, 203]);
  assert.deepEqual(pages.map((p) => p.bundles.length), [0, 0, 2]);
  const all = pages.flatMap((p) => p.revisions.map((r) => r.id));
  assert.deepEqual(new Set(all), ids);
  assert.deepEqual([...all].sort(), all, "ordered by id across pages");
  const last = pages[2]!;
  assert.deepEqual(last.bundles.map((b) => b.trustDomain), [TD, "partner.org"]);
  assert.equal(last.bundles[1]!.spiffeBundle, partnerJson);
  assert.deepEqual(last.taintedAuthorities, []);

  // Taint the old authority after a rotation: the last page reports it.
  const first = h.ca.show().x509[0]!.id;
  const prepared = await h.ca.prepare("x509");
  await h.ca.activate("x509", prepared.id);
  await h.ca.taint("x509", first);
  const after = await me.client.syncEntries({ pageToken: pages[1]!.nextPageToken });
  assert.deepEqual(after.taintedAuthorities, [first]);
  for (const e of [...ids]) h.entries.remove(e);
});

test("the server re-mints its SVID when the CA changes, and speaks TLS 1.3 only", async () => {
  const before = h.server.currentChain()[0]!;
  const prepared = await h.ca.prepare("x509");
  await h.ca.activate("x509", prepared.id);
  const now = h.server.currentChain()[0]!;
  assert.ok(!now.equals(before), "new server SVID after activation");
  const me = await agent("tls13_token_0123456789abcdefg");
  validateX509Svid(h.server.currentChain(), decodeDelivered(me.svid), { now: h.clock.now() });

  const session = connect(`https://127.0.0.1:${h.server.address.port}`, {
    ca: h.bundlePem(),
    maxVersion: "TLSv1.2",
    checkServerIdentity: (_h: string, c: PeerCertificate) => (c.subjectaltname?.includes(SERVER_ID) ? undefined : new Error("wrong server")),
  });
  await new Promise<void>((resolve) => {
    session.on("error", () => resolve());
    session.on("connect", () => assert.fail("a TLS 1.2 client must not connect"));
  });
  session.destroy();
});

test("after a renewal the previous SVID still works until a newer renewal; older ones do not", async () => {
  const me = await agent("renewal_token_0123456789abcdef");
  const r1 = await makeCsr();
  const s1 = (await me.client.renewAgent({ csr: r1.der })).result!.svid!;
  await me.client.syncEntries({}); // previous SVID (the attested one) still accepted
  const c1 = h.client({ chainDer: s1.certChain, privateKey: r1.privateKey });
  const r2 = await makeCsr();
  await c1.renewAgent({ csr: r2.der });
  await c1.syncEntries({});
  await assert.rejects(me.client.syncEntries({}), /superseded/);
});
