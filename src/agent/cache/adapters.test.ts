// The identity cache behind the real Workload API service (temp Unix socket, official wire
// format) and behind SDS's SecretSource interface.
import assert from "node:assert/strict";
import { X509Certificate, createPrivateKey, createPublicKey } from "node:crypto";
import { test } from "node:test";
import type { SecretChange } from "../../sds/contracts.js";
import { createBundleSet } from "../../spiffe/bundle.js";
import { validateJwtSvid } from "../../spiffe/jwt-svid.js";
import { createTestBundle, createTestCa } from "../../../test/support/spiffe/index.js";
import { createAgentHarness } from "../../../test/support/sync-harness.js";
import { grpcCodeOf, startWorkloadApi } from "../../../test/support/workload-api-harness.js";
import { createFixedAttestor } from "../../../test/support/fake-identity-source.js";
import { createWorkloadApiClient } from "../../workload-client/index.js";
import { createSdsSecretSource } from "./sds-source.js";
import { createTestServer } from "../../../test/support/fake-agent-server.js";
import { createWorkloadApiIdentitySource } from "./workload-api-source.js";

const WEB = "spiffe://example.org/web";
const API = "spiffe://example.org/api";

test("Workload API over the identity cache: SVIDs with matching keys, bundles, JWT-SVIDs, rotation", async (t) => {
  const server = await createTestServer();
  server.putEntry({ id: "web", spiffeId: WEB, hint: "web" });
  server.putEntry({ id: "api", spiffeId: API, selectors: [{ type: "unix", value: "uid:1000" }, { type: "unix", value: "gid:1" }] });
  const h = createAgentHarness(server);
  const source = createWorkloadApiIdentitySource(h.cache);
  const api = await startWorkloadApi({ source, attestor: createFixedAttestor(["unix:uid:1000"]), clock: server.clock });
  const client = createWorkloadApiClient({ address: `unix://${api.socketPath}` });
  t.after(async () => {
    client.close();
    await api.close();
    await h.loop.stop();
  });
  await assert.rejects(client.fetchX509Context(), (e: unknown) => grpcCodeOf(e) === 14, "Unavailable before the first sync");
  assert.equal(source.ready, false);
  h.loop.start();
  await h.settle();
  assert.equal(source.ready, true);

  const ctx = await client.fetchX509Context();
  assert.deepEqual(ctx.svids.map((s) => [s.spiffeId, s.hint]), [[WEB, "web"]], "api needs gid:1 too");
  const svid = ctx.svids[0]!;
  const leaf = new X509Certificate(svid.chainDer[0]!);
  assert.ok(createPublicKey(createPrivateKey({ key: svid.privateKeyPkcs8Der, format: "der", type: "pkcs8" })).equals(leaf.publicKey));
  assert.deepEqual(svid.bundleDer, h.cache.bundles().own.x509Authorities.map((d) => Buffer.from(d)));

  const [jwt] = await client.fetchJwtSvids(["billing"]);
  await validateJwtSvid(jwt!.svid, createBundleSet([h.cache.bundles().own]), { audience: "billing", now: server.clock.now() });
  assert.equal(server.counts.jwt, 1);

  server.putEntry({ id: "web", spiffeId: WEB, hint: "web", dnsNames: ["web.local"] });
  await h.advance(5_000);
  const after = await client.fetchX509Context();
  assert.notDeepEqual(after.svids[0]!.chainDer[0], svid.chainDer[0], "the re-issued SVID is served");
  assert.match(new X509Certificate(after.svids[0]!.chainDer[0]!).subjectAltName ?? "", /DNS:web\.local/);
});

test("SDS SecretSource over the identity cache: stable objects, federated bundles by entry, change mapping", async (t) => {
  const server = await createTestServer();
  server.putEntry({ id: "web", spiffeId: WEB, federatesWith: ["partner.test"] });
  server.federated = [
    createTestBundle({ cas: [createTestCa({ trustDomain: "partner.test" })] }),
    createTestBundle({ cas: [createTestCa({ trustDomain: "other.test" })] }),
  ];
  const h = createAgentHarness(server);
  t.after(() => h.loop.stop());
  const sds = createSdsSecretSource(h.cache);
  const changes: SecretChange[] = [];
  sds.onChange((c) => changes.push(c));
  h.loop.start();
  await h.settle();
  const caller = { peer: { pid: 1, uid: 1000, gid: 1000 }, selectors: ["unix:uid:1000"] };
  const [first] = await sds.svidsFor(caller);
  assert.equal(first!.spiffeId, WEB);
  assert.equal((await sds.svidsFor(caller))[0], first, "unchanged material keeps its object identity");
  const bundles = await sds.bundlesFor(caller);
  assert.equal(bundles.own.trustDomain, "example.org");
  assert.deepEqual(bundles.federated.map((b) => b.trustDomain), ["partner.test"], "only bundles the entry federates with");
  assert.equal((await sds.bundlesFor(caller)).own, bundles.own);
  assert.deepEqual(await sds.svidsFor({ ...caller, selectors: ["unix:uid:2"] }), []);
  assert.ok(changes.some((c) => c.svids?.includes(WEB)));
  assert.ok(changes.some((c) => c.entitlements === true));

  changes.length = 0;
  server.putEntry({ id: "web", spiffeId: WEB, federatesWith: ["partner.test"], hint: "x" });
  await h.advance(5_000);
  assert.notEqual((await sds.svidsFor(caller))[0], first, "re-issued material is a new object");
  assert.ok(changes.some((c) => c.svids?.includes(WEB)));
});
