// Propagation of a changed federated bundle through a REAL agent (createAgent against the agentapi
// harness, entry sync on a fake clock): SDS streams subscribed to spiffe://b.test and ALL (SotW and
// Delta), and the Workload API streams FetchX509SVID (federated_bundles), FetchX509Bundles and
// FetchJWTBundles, receive the new bundle on the stream they already hold, after one sync round,
// and nothing while nothing changed. Streams opened before the federating entry (or the federated
// bundle) reached the agent are served once both arrive, on the same stream. The refresher stores
// fetched bundles where `bundle set` does, and the agent API sends them on every sync
// (docs/federation.md "Propagation to workloads").
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { nodeCertificate, startHarness, type Harness } from "../support/agentapi-harness.js";
import { createAgent, type Agent } from "../../src/agent/agent.js";
import * as x509pop from "../../src/agent/nodeattestors/x509pop/index.js";
import { createSilentLogger } from "../../src/common/logger.js";
import { encodeSpiffeBundle } from "../../src/spiffe/index.js";
import { grpcServiceDefinition } from "../../src/transport/grpc-service.js";
import { splitConcatenatedDer } from "../../src/common/pem.js";
import {
  JWTBundlesRequestSchema,
  SpiffeWorkloadAPI,
  X509BundlesRequestSchema,
  X509SVIDRequestSchema,
  type JWTBundlesResponse,
  type X509BundlesResponse,
  type X509SVIDResponse,
} from "../../src/gen/workload_pb.js";
import { createTestBundle, createTestCa, createTestJwtAuthority } from "../support/spiffe/index.js";
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse } from "../../src/gen/envoy/service/discovery/v3/discovery_pb.js";
import { ackSotw, createSdsClient, decodeSecret, deltaRequest, envoyNode, openStream, subscribeSotw } from "./sds-fixtures.js";
import { fingerprint, validationContextDomains } from "./sds-secret-checks.js";

const FED = "b.test";
const uid = process.getuid!();
const dir = mkdtempSync(join(tmpdir(), "spindle-fed-prop-"));
chmodSync(dir, 0o755);
const socketPath = join(dir, "public", "api.sock");
let h: Harness;
let agent: Agent;
let sds: grpc.Client;
const ca1 = createTestCa({ trustDomain: FED });
const ca2 = createTestCa({ trustDomain: FED });

async function syncRound(): Promise<void> {
  h.clock.advance(1000);
  await new Promise((r) => setTimeout(r, 150));
}

before(async () => {
  h = await startHarness();
  h.entries.setFederatedBundle(FED, encodeSpiffeBundle(createTestBundle({ cas: [ca1], sequenceNumber: 1 })));
  const cert = nodeCertificate(h.nodeCa, "node-1");
  agent = createAgent({
    trustDomain: "example.org",
    serverAddresses: [`127.0.0.1:${h.server.address.port}`],
    socketPath,
    dataDir: join(dir, "agent"),
    nodeAttestor: x509pop.createX509PopAgentAttestor({ certificateChainDer: [cert.der], privateKey: cert.privateKey }),
    trustBundleDer: h.ca.bundleContents().x509Authorities,
    workloadAttestors: [{ name: "unix", attest: async () => [{ type: "unix", value: `uid:${uid}` }] }],
    syncIntervalMs: 1000,
    logger: createSilentLogger(),
    clock: h.clock,
  });
  await agent.start();
  await agent.whenReady();
  sds = createSdsClient(socketPath);
});

after(async () => {
  sds?.close();
  await agent?.stop();
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

const selectors = [{ type: "unix", value: `uid:${uid}` }];

test("SotW and Delta: streams opened before the federating entry synced are served once the entry and the bundle arrive", async () => {
  // No entry yet: the caller has no SVID, so no bundle is served (docs/sds.md).
  const sotw = subscribeSotw(sds, `spiffe://${FED}`);
  const all = subscribeSotw(sds, "ALL");
  const delta = openStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>(sds, "deltaSecrets");
  delta.send(deltaRequest({ node: envoyNode(), resourceNamesSubscribe: [`spiffe://${FED}`] }));
  // Delta says the name cannot be served now (removed_resources); SotW sends nothing.
  const deltaNone = await delta.next(10_000);
  assert.deepEqual([deltaNone.resources.length, deltaNone.removedResources], [0, [`spiffe://${FED}`]]);
  delta.send(deltaRequest({ responseNonce: deltaNone.nonce }));
  for (let i = 0; i < 2; i++) await syncRound();
  assert.equal(await sotw.quiet(300), true, "SotW: nothing before the entry");
  assert.equal(await all.quiet(0), true, "ALL: nothing before the entry");
  assert.equal(await delta.quiet(0), true, "Delta: nothing more before the entry");

  h.entries.put({ spiffeId: "spiffe://example.org/web", parentId: agent.status().agentId!, selectors, federatesWith: [FED] });
  for (let i = 0; i < 50 && agent.status().entries === 0; i++) await syncRound();
  const first = await sotw.next(10_000);
  assert.deepEqual(validationContextDomains(decodeSecret(first.resources[0]!), `spiffe://${FED}`).get(FED), [fingerprint(ca1.der)], "SotW spiffe://b.test");
  const allNow = await all.next(10_000);
  assert.deepEqual(validationContextDomains(decodeSecret(allNow.resources[0]!), "ALL").get(FED), [fingerprint(ca1.der)], "ALL");
  const deltaFirst = await delta.next(10_000);
  assert.deepEqual(deltaFirst.resources.map((r) => r.name), [`spiffe://${FED}`]);
  assert.deepEqual(validationContextDomains(decodeSecret(deltaFirst.resources[0]!.resource!), `spiffe://${FED}`).get(FED), [fingerprint(ca1.der)], "Delta");

  // An entry that federates with a trust domain whose bundle the server does not hold yet: the
  // stream for it waits, and is served when the bundle arrives (a first successful refresh).
  const c = createTestCa({ trustDomain: "c.test" });
  const cStream = openStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>(sds, "deltaSecrets");
  cStream.send(deltaRequest({ node: envoyNode(), resourceNamesSubscribe: ["spiffe://c.test"] }));
  const extra = h.entries.put({ spiffeId: "spiffe://example.org/web-c", parentId: agent.status().agentId!, selectors, federatesWith: ["c.test"] });
  const cNone = await cStream.next(10_000);
  assert.deepEqual([cNone.resources.length, cNone.removedResources], [0, ["spiffe://c.test"]]);
  cStream.send(deltaRequest({ responseNonce: cNone.nonce }));
  for (let i = 0; i < 3; i++) await syncRound();
  assert.equal(cStream.received.some((r) => r.resources.length > 0), false, "no c.test bundle is served before the server holds one");
  h.entries.setFederatedBundle("c.test", encodeSpiffeBundle(createTestBundle({ cas: [c], sequenceNumber: 1 })));
  await syncRound();
  let served: DeltaDiscoveryResponse | undefined;
  for (let i = 0; i < 20 && served === undefined; i++) {
    const r = await cStream.next(10_000);
    if (r.resources.length > 0) served = r;
  }
  assert.deepEqual(validationContextDomains(decodeSecret(served!.resources[0]!.resource!), "spiffe://c.test").get("c.test"), [fingerprint(c.der)], "Delta spiffe://c.test");
  // Leave the state the next tests expect: one entry, federating with b.test only.
  h.entries.remove(extra.id);
  for (let i = 0; i < 3; i++) await syncRound();
  for (const s of [sotw, all, delta, cStream]) s.close();
});

test("SotW and Delta: a changed federated bundle is pushed after one sync, only when it changed, on the open streams", async () => {
  // Wait for the entry (and with it the federated bundle) to reach the agent.
  for (let i = 0; i < 50 && agent.status().entries === 0; i++) await syncRound();
  await syncRound();
  const sotw = subscribeSotw(sds, `spiffe://${FED}`);
  const first = await sotw.next(5000);
  assert.equal(first.resources.length, 1, "the federated bundle is served");
  assert.deepEqual(validationContextDomains(decodeSecret(first.resources[0]!), `spiffe://${FED}`).get(FED), [fingerprint(ca1.der)]);
  ackSotw(sotw, first, `spiffe://${FED}`);
  const all = subscribeSotw(sds, "ALL");
  const allFirst = await all.next();
  assert.deepEqual(validationContextDomains(decodeSecret(allFirst.resources[0]!), "ALL").get(FED), [fingerprint(ca1.der)]);
  ackSotw(all, allFirst, "ALL");
  const delta = openStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>(sds, "deltaSecrets");
  delta.send(deltaRequest({ node: envoyNode(), resourceNamesSubscribe: [`spiffe://${FED}`] }));
  const deltaFirst = await delta.next();
  delta.send(deltaRequest({ responseNonce: deltaFirst.nonce }));

  // Nothing changed: sync rounds push nothing.
  for (let i = 0; i < 3; i++) await syncRound();
  assert.equal(await sotw.quiet(300), true, "SotW: no push while nothing changed");
  assert.equal(await all.quiet(0), true, "ALL: no push while nothing changed");
  assert.equal(await delta.quiet(0), true, "Delta: no push while nothing changed");

  // The stored bundle changes (a refresh stored the peer's rotated CA): one sync round later every
  // open stream holds it.
  h.entries.setFederatedBundle(FED, encodeSpiffeBundle(createTestBundle({ cas: [ca1, ca2], sequenceNumber: 2 })));
  await syncRound();
  const pushed = await sotw.next(5000);
  assert.notEqual(pushed.versionInfo, first.versionInfo);
  const want = [fingerprint(ca1.der), fingerprint(ca2.der)].sort();
  assert.deepEqual(validationContextDomains(decodeSecret(pushed.resources[0]!), `spiffe://${FED}`).get(FED)?.sort(), want);
  const allPushed = await all.next(5000);
  assert.deepEqual(validationContextDomains(decodeSecret(allPushed.resources[0]!), "ALL").get(FED)?.sort(), want);
  const deltaPushed = await delta.next(5000);
  assert.deepEqual(deltaPushed.resources.map((r) => r.name), [`spiffe://${FED}`]);
  assert.notEqual(deltaPushed.resources[0]!.version, deltaFirst.resources[0]!.version);
  assert.deepEqual(validationContextDomains(decodeSecret(deltaPushed.resources[0]!.resource!), `spiffe://${FED}`).get(FED)?.sort(), want);
  for (const s of [sotw, all, delta]) s.close();
});

/** One server-streaming Workload API call with an inbox; `ended` says whether the stream closed. */
function watch<Res>(client: grpc.Client, method: string, request: unknown) {
  const md = new grpc.Metadata();
  md.set("workload.spiffe.io", "true");
  const call = (client as unknown as Record<string, (req: unknown, md: grpc.Metadata) => grpc.ClientReadableStream<Res>>)[method]!.call(client, request, md);
  const inbox: Res[] = [];
  let ended = false;
  call.on("data", (r: Res) => inbox.push(r));
  call.on("status", () => (ended = true));
  call.on("error", () => {});
  return {
    async next(timeoutMs = 5000): Promise<Res> {
      const deadline = Date.now() + timeoutMs;
      while (inbox.length === 0) {
        if (Date.now() > deadline) throw new Error(`${method}: no message within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return inbox.shift()!;
    },
    pending: () => inbox.length,
    ended: () => ended,
    close: () => call.cancel(),
  };
}

const FED_ID = `spiffe://${FED}`;
const prints = (der: Uint8Array | undefined) => (der === undefined ? [] : splitConcatenatedDer(der).map(fingerprint).sort());
const kids = (jwks: Uint8Array | undefined) => (jwks === undefined ? [] : (JSON.parse(Buffer.from(jwks).toString()) as { keys: { kid: string }[] }).keys.map((k) => k.kid).sort());

test("Workload API: FetchX509SVID, FetchX509Bundles and FetchJWTBundles streams get a changed federated bundle on the open stream, only when it changed", async () => {
  const Client = grpc.makeGenericClientConstructor(grpcServiceDefinition(SpiffeWorkloadAPI), "SpiffeWorkloadAPI");
  const client = new Client(`unix:${socketPath}`, grpc.credentials.createInsecure());
  try {
    const svid = watch<X509SVIDResponse>(client, "fetchX509SVID", create(X509SVIDRequestSchema));
    const x509 = watch<X509BundlesResponse>(client, "fetchX509Bundles", create(X509BundlesRequestSchema));
    const jwt = watch<JWTBundlesResponse>(client, "fetchJWTBundles", create(JWTBundlesRequestSchema));
    // The state the previous test left: b.test with ca1 and ca2, no JWT keys.
    const was = [fingerprint(ca1.der), fingerprint(ca2.der)].sort();
    assert.deepEqual(prints((await svid.next()).federatedBundles[FED_ID]), was);
    assert.deepEqual(prints((await x509.next()).bundles[FED_ID]), was);
    assert.deepEqual(kids((await jwt.next()).bundles[FED_ID]), []);

    // Nothing changed: sync rounds push nothing.
    for (let i = 0; i < 3; i++) await syncRound();
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual([svid.pending(), x509.pending(), jwt.pending()], [0, 0, 0], "no push while nothing changed");

    // The peer rotated: ca1 removed, a JWT key added. One sync round later each open stream has it.
    const jwtKey = createTestJwtAuthority({ kid: "b-key-2", alg: "ES256" });
    h.entries.setFederatedBundle(FED, encodeSpiffeBundle(createTestBundle({ cas: [ca2], jwtAuthorities: [jwtKey], sequenceNumber: 3 })));
    await syncRound();
    assert.deepEqual(prints((await svid.next()).federatedBundles[FED_ID]), [fingerprint(ca2.der)], "FetchX509SVID federated_bundles");
    assert.deepEqual(prints((await x509.next()).bundles[FED_ID]), [fingerprint(ca2.der)], "FetchX509Bundles");
    assert.deepEqual(kids((await jwt.next()).bundles[FED_ID]), ["b-key-2"], "FetchJWTBundles");
    assert.deepEqual([svid.ended(), x509.ended(), jwt.ended()], [false, false, false], "the same streams stay open");
    for (const s of [svid, x509, jwt]) s.close();
  } finally {
    client.close();
  }
});
