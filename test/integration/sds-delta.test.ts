// DeltaSecrets: subscribe, unsubscribe, initial_resource_versions, per-resource versions,
// rotation diffs, removed_resources and NACK handling, over a real temp Unix socket.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse } from "../../src/gen/envoy/service/discovery/v3/discovery_pb.js";
import {
  FakeSecretSource,
  TD,
  createSdsClient,
  createTestPki,
  decodeSecret,
  deltaRequest,
  envoyNode,
  eventually,
  openStream,
  startTestAgent,
  uidSelector,
  type DeltaStream,
  type TestAgent,
} from "./sds-fixtures.js";
import { checkTlsSecret, fingerprint, validationContextDomains } from "./sds-secret-checks.js";

const WEB = `spiffe://${TD}/web`;
const API = `spiffe://${TD}/api`;
const pki = createTestPki();
const source = new FakeSecretSource(pki);
const me = uidSelector(process.getuid!());
source.grant(me, WEB, API);
let agent: TestAgent;
let client: grpc.Client;

before(async () => {
  agent = await startTestAgent(source);
  client = createSdsClient(agent.socketPath);
});
after(async () => {
  client.close();
  await agent.close();
});

function openDelta(): DeltaStream {
  return openStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>(client, "deltaSecrets");
}

const ack = (s: DeltaStream, res: DeltaDiscoveryResponse, error?: string) =>
  s.send(deltaRequest({ responseNonce: res.nonce, ...(error === undefined ? {} : { errorDetail: { code: 3, message: error } }) }));

const versions = (res: DeltaDiscoveryResponse) => new Map(res.resources.map((r) => [r.name, r.version]));

/**
 * Checks every delivered resource: it decodes as a Secret named like the resource; SVIDs chain to
 * the test root with a key matching the leaf; ROOTCA is the SPIFFE validator config of the root.
 * Returns the resource names.
 */
function checkDelivered(res: DeltaDiscoveryResponse): string[] {
  for (const r of res.resources) {
    const secret = decodeSecret(r.resource!);
    if (r.name === "ROOTCA") assert.deepEqual(validationContextDomains(secret, "ROOTCA"), new Map([[TD, [fingerprint(pki.root.der)]]]));
    else checkTlsSecret(secret, { name: r.name, spiffeId: r.name, roots: [pki.root.der], chainLength: 2 });
  }
  return res.resources.map((r) => r.name).sort();
}

test("subscribe sends each resource with its version; unsubscribe and re-subscribe; rotation sends only the diff", async () => {
  const s = openDelta();
  s.send(deltaRequest({ node: envoyNode(), resourceNamesSubscribe: [WEB, "ROOTCA"] }));
  const first = await s.next();
  assert.equal(first.typeUrl, "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret");
  assert.deepEqual(checkDelivered(first), ["ROOTCA", WEB].sort());
  for (const r of first.resources) assert.ok(r.version.length > 0);
  ack(s, first);
  // Subscribing one more name sends only that one.
  s.send(deltaRequest({ resourceNamesSubscribe: [API] }));
  const second = await s.next();
  assert.deepEqual(checkDelivered(second), [API]);
  ack(s, second);
  await agent.sds.idle();
  // Rotation of WEB: only WEB, with a new version.
  source.rotate(WEB);
  const third = await s.next();
  assert.deepEqual(checkDelivered(third), [WEB]);
  assert.notDeepEqual(decodeSecret(third.resources[0]!.resource!).type.value, decodeSecret(first.resources.find((r) => r.name === WEB)!.resource!).type.value, "rotated material");
  assert.notEqual(versions(third).get(WEB), versions(first).get(WEB));
  assert.equal(third.removedResources.length, 0);
  ack(s, third);
  // Unsubscribe API: nothing to send; a rotation of API no longer reaches this stream.
  s.send(deltaRequest({ resourceNamesUnsubscribe: [API] }));
  assert.ok(await s.quiet(100));
  source.rotate(API);
  assert.ok(await s.quiet(150), "unsubscribed resource not pushed");
  // Re-subscribe: sent again (the client dropped it).
  s.send(deltaRequest({ resourceNamesSubscribe: [API] }));
  const fourth = await s.next();
  assert.deepEqual(checkDelivered(fourth), [API]);
  assert.notEqual(first.systemVersionInfo, fourth.systemVersionInfo);
  s.close();
});

test("initial_resource_versions: only resources whose version differs are sent on reconnect", async () => {
  const s1 = openDelta();
  s1.send(deltaRequest({ node: envoyNode(), resourceNamesSubscribe: [WEB, API] }));
  const held = versions(await s1.next());
  s1.close();
  source.rotate(API);
  const s2 = openDelta();
  s2.send(deltaRequest({ node: envoyNode(), resourceNamesSubscribe: [WEB, API], initialResourceVersions: Object.fromEntries(held) }));
  const res = await s2.next();
  assert.deepEqual(checkDelivered(res), [API], "WEB is current on the client and not resent");
  s2.close();
});

test("NACK: the rejected version is not resent; a later version is; removed_resources when an entitlement goes", async () => {
  const s = openDelta();
  s.send(deltaRequest({ node: envoyNode({ id: "delta-nack" }), resourceNamesSubscribe: [WEB] }));
  const first = await s.next();
  const rejected = source.svids.get(WEB)!;
  ack(s, first, "rejected");
  await agent.sds.idle();
  source.emit({ svids: [WEB] }); // same material: nothing new to send
  assert.ok(await s.quiet(150));
  await eventually(() => agent.logLines.some((l) => l.nodeId === "delta-nack" && l.error === "rejected"));
  source.rotate(WEB);
  const second = await s.next();
  assert.deepEqual(checkDelivered(second), [WEB]);
  ack(s, second);
  await agent.sds.idle();
  // Content changing back to the rejected version is not pushed again.
  source.svids.set(WEB, rejected);
  source.emit({ svids: [WEB] });
  assert.ok(await s.quiet(150), "rejected version not resent");
  // A stale nonce's NACK is ignored.
  s.send(deltaRequest({ responseNonce: first.nonce, errorDetail: { code: 3, message: "late" } }));
  await agent.sds.idle();
  assert.ok(!agent.logLines.some((l) => l.error === "late"));
  // The caller loses WEB: it is removed from the client, the stream stays.
  const grants = source.grants.get(me)!;
  source.grants.set(me, [API]);
  source.emit({ entitlements: true });
  const removed = await s.next();
  assert.deepEqual(removed.removedResources, [WEB]);
  assert.equal(removed.resources.length, 0);
  source.grants.set(me, grants);
  s.close();
});

test("a subscribed name that cannot be served is reported in removed_resources, the stream stays open, and it is sent when it appears", async () => {
  const late = `spiffe://${TD}/late`;
  const s = openDelta();
  s.send(deltaRequest({ node: envoyNode(), resourceNamesSubscribe: [late, "no-such-secret"] }));
  const first = await s.next();
  assert.deepEqual([...first.removedResources].sort(), [late, "no-such-secret"].sort(), "Envoy learns both do not exist for it now");
  assert.equal(first.resources.length, 0);
  ack(s, first);
  const line = await eventually(() => agent.logLines.find((l) => l.code === "ERR_XDS_RESOURCE_DENIED" && String(l.err).includes(late)));
  assert.deepEqual(line.selectors, [me, `unix:gid:${process.getgid!()}`], "logged with the caller's selectors");
  // Unrelated changes re-resolve the stream: nothing is sent again for names already reported.
  source.emit({ entitlements: true });
  assert.ok(await s.quiet(150), "no repeated removal");
  // The entry syncs a second after Envoy asked: the SVID is pushed on the same stream.
  const grants = source.grants.get(me)!;
  source.grant(me, late);
  source.emit({ entitlements: true });
  const pushed = await s.next();
  assert.deepEqual(pushed.resources.map((r) => r.name), [late]);
  assert.deepEqual(pushed.removedResources, []);
  checkTlsSecret(decodeSecret(pushed.resources[0]!.resource!), { name: late, spiffeId: late, roots: [pki.root.der], chainLength: 2 });
  assert.equal(agent.logLines.filter((l) => l.code === "ERR_XDS_RESOURCE_NOT_FOUND" && String(l.err).includes('"no-such-secret"')).length, 1, "logged once");
  source.grants.set(me, grants);
  s.close();
});
