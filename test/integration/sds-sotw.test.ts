// StreamSecrets / FetchSecrets driven over a real temp Unix socket by a grpc-js client behaving as
// Envoy (one name per stream, node only on the first request), docs/design/wire-facts.md, "Envoy
// SDS".
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import type { Secret } from "../../src/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import type { DiscoveryRequest, DiscoveryResponse } from "../../src/gen/envoy/service/discovery/v3/discovery_pb.js";
import { SecretDiscoveryService } from "../../src/gen/envoy/service/secret/v3/sds_pb.js";
import { grpcServiceDefinition } from "../../src/transport/grpc-service.js";
import {
  FED_TD,
  FakeSecretSource,
  TD,
  ackSotw,
  createSdsClient,
  createTestPki,
  decodeSecret,
  envoyNode,
  eventually,
  openStream,
  sotwRequest,
  startTestAgent,
  subscribeSotw,
  uidSelector,
  type TestAgent,
} from "./sds-fixtures.js";
import { checkTlsSecret, fingerprint, validationContextDomains } from "./sds-secret-checks.js";

const WEB = `spiffe://${TD}/web`;
const API = `spiffe://${TD}/api`;
const DB = `spiffe://${TD}/db`;
const pki = createTestPki();
const source = new FakeSecretSource(pki);
source.grant(uidSelector(process.getuid!()), WEB, API);
source.grant("unix:uid:99999", DB);
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

/** A tls_certificate of `spiffeId` under `name`: leaf + intermediate, validating to the test root. */
const tlsSecret = (secret: Secret, name: string, spiffeId: string) => checkTlsSecret(secret, { name, spiffeId, roots: [pki.root.der], chainLength: 2 });
const fp = fingerprint;

test("initial fetch of default, a SPIFFE ID, ROOTCA, ALL and spiffe://<td>, each on its own stream", async () => {
  const names = ["default", API, "ROOTCA", "ALL", `spiffe://${FED_TD}`];
  const streams = names.map((n) => subscribeSotw(client, n));
  const responses = await Promise.all(streams.map((s) => s.next()));
  for (const [i, res] of responses.entries()) {
    assert.equal(res.typeUrl, "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret");
    assert.equal(res.resources.length, 1, "exactly one Secret per requested name");
    assert.equal(res.versionInfo, "1");
    assert.ok(res.nonce.length >= 16);
    assert.equal(res.resources[0]!.typeUrl, "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret");
    void i;
  }
  const [def, api, rootca, all, fed] = responses.map((r) => decodeSecret(r.resources[0]!)) as [Secret, Secret, Secret, Secret, Secret];
  tlsSecret(def, "default", WEB);
  tlsSecret(api, API, API);
  assert.deepEqual(validationContextDomains(rootca, "ROOTCA"), new Map([[TD, [fp(pki.root.der)]]]));
  assert.deepEqual(validationContextDomains(all, "ALL"), new Map([[TD, [fp(pki.root.der)]], [FED_TD, [fp(pki.fedRoot.der)]]]));
  assert.deepEqual(validationContextDomains(fed, `spiffe://${FED_TD}`), new Map([[FED_TD, [fp(pki.fedRoot.der)]]]));
  assert.equal(new Set(responses.map((r) => r.nonce)).size, responses.length, "nonces are unique");
  streams.forEach((s) => s.close());
});

test("ACK: no resend, ACK counted and the Envoy table shows the acked version", async () => {
  const node = envoyNode({ id: "ack-envoy" });
  const s = subscribeSotw(client, API, node);
  const first = await s.next();
  ackSotw(s, first, API);
  assert.ok(await s.quiet(150), "an ACK is not answered");
  const row = await eventually(() => agent.metrics.envoys().find((e) => e.nodeId === "ack-envoy" && e.resources[0]?.ackedVersion !== undefined));
  assert.equal(row.peer.pid, process.pid);
  assert.equal(row.resources.length, 1);
  assert.equal(row.resources[0]!.resource, API);
  assert.ok(row.resources[0]!.ackedVersion !== undefined && row.resources[0]!.ackedVersion === row.resources[0]!.sentVersion);
  const text = await agent.registry.metrics();
  assert.match(text, new RegExp(`spindle_xds_acks_total\\{service="sds",resource="${API}"\\} [1-9]`));
  assert.match(text, new RegExp(`spindle_xds_envoy_acked_version_info\\{service="sds",node_id="ack-envoy",resource="${API}",version="${row.resources[0]!.ackedVersion}"\\} 1`));
  assert.match(text, /spindle_xds_streams_open\{service="sds",mode="sotw"\} [1-9]/);
  s.close();
  await s.status;
  await eventually(() => agent.metrics.envoys().find((e) => e.nodeId === "ack-envoy") === undefined);
  assert.doesNotMatch(await agent.registry.metrics(), /node_id="ack-envoy"/, "a closed stream leaves the table and the gauge");
});

test("NACK is logged with the caller, counted, and the same content is not resent; new content is", async () => {
  const node = envoyNode({ id: "nack-envoy" });
  const s = subscribeSotw(client, WEB, node);
  const first = await s.next();
  const rejected = source.svids.get(WEB)!;
  ackSotw(s, first, WEB, "bad certificate chain");
  assert.ok(await s.quiet(200), "no resend after a NACK");
  const warn = await eventually(() => agent.logLines.find((l) => l.nodeId === "nack-envoy" && String(l.msg).includes("NACK")));
  assert.equal(warn.error, "bad certificate chain");
  assert.deepEqual(warn.selectors, [uidSelector(process.getuid!()), `unix:gid:${process.getgid!()}`]);
  assert.equal(warn.pid, process.pid);
  assert.match(await agent.registry.metrics(), new RegExp(`spindle_xds_nacks_total\\{service="sds",resource="${WEB}"\\} 1`));
  assert.equal(agent.metrics.envoys().find((e) => e.nodeId === "nack-envoy")!.resources[0]!.lastNack!.message, "bad certificate chain");
  // The same names again with the NACKed nonce: still nothing.
  ackSotw(s, first, WEB, "bad certificate chain");
  assert.ok(await s.quiet(100));
  source.rotate(WEB);
  const second = await s.next();
  assert.equal(second.versionInfo, "2");
  assert.notEqual(decodeSecret(second.resources[0]!).type.value, undefined);
  ackSotw(s, second, WEB);
  // The content changes back to the rejected material: not pushed again.
  source.svids.set(WEB, rejected);
  source.emit({ svids: [WEB] });
  assert.ok(await s.quiet(150), "rejected content not pushed again");
  source.rotate(WEB);
  assert.equal((await s.next()).versionInfo, "3");
  s.close();
});

test("a request carrying a stale nonce is ignored; the current nonce is honoured", async () => {
  const s = subscribeSotw(client, API);
  const first = await s.next();
  s.send(sotwRequest({ versionInfo: "", responseNonce: "not-the-last-nonce", resourceNames: [WEB] }));
  assert.ok(await s.quiet(150), "stale request ignored, names not switched");
  // resource_names change with the right nonce: answered with the new name.
  s.send(sotwRequest({ versionInfo: first.versionInfo, responseNonce: first.nonce, resourceNames: [WEB] }));
  const second = await s.next();
  assert.equal(decodeSecret(second.resources[0]!).name, WEB);
  assert.equal(second.versionInfo, "2");
  s.close();
});

test("a reconnecting Envoy carrying an old stream's nonce on a new stream is answered", async () => {
  const s1 = subscribeSotw(client, API);
  const old = await s1.next();
  s1.close();
  const s2 = openStream<DiscoveryRequest, DiscoveryResponse>(client, "streamSecrets");
  s2.send(sotwRequest({ node: envoyNode(), versionInfo: old.versionInfo, responseNonce: old.nonce, resourceNames: [API] }));
  const res = await s2.next();
  assert.equal(decodeSecret(res.resources[0]!).name, API);
  assert.notEqual(res.nonce, old.nonce);
  s2.close();
});

test("rotation pushes a new version only to streams subscribed to the rotated SVID", async () => {
  const names = [WEB, "default", API, "ROOTCA"];
  const streams = names.map((n) => subscribeSotw(client, n));
  const firsts = await Promise.all(streams.map((s) => s.next()));
  firsts.forEach((r, i) => ackSotw(streams[i]!, r, names[i]!));
  await agent.sds.idle();
  const before = decodeSecret(firsts[0]!.resources[0]!);
  source.rotate(WEB);
  const [web, def] = await Promise.all([streams[0]!.next(), streams[1]!.next()]);
  const changed = agent.logLines.filter((l) => l.msg === "secrets changed").at(-1)!;
  // `svid:*` reaches only streams waiting for a caller's first SVID (none here).
  assert.deepEqual(changed.keys, [`svid:${WEB}`, "svid:*"]);
  assert.equal(changed.streams, 2, "only the WEB and default streams were re-resolved");
  assert.equal(web.versionInfo, "2");
  assert.equal(def.versionInfo, "2", "default resolves to the rotated SVID");
  const after = decodeSecret(web.resources[0]!);
  const leaf = tlsSecret(after, WEB, WEB);
  assert.notDeepEqual(after.type.value, before.type.value);
  assert.ok(leaf);
  assert.ok(await streams[2]!.quiet(150), "API stream untouched");
  assert.ok(await streams[3]!.quiet(0), "ROOTCA stream untouched");
  // A bundle change reaches ROOTCA streams only.
  source.own = { trustDomain: TD, x509AuthoritiesDer: [pki.root.der, pki.fedRoot.der] };
  source.emit({ trustDomains: [TD] });
  const rootca = await streams[3]!.next();
  assert.equal(validationContextDomains(decodeSecret(rootca.resources[0]!), "ROOTCA").get(TD)!.length, 2);
  assert.ok(await streams[2]!.quiet(100));
  source.own = { trustDomain: TD, x509AuthoritiesDer: [pki.root.der] };
  streams.forEach((s) => s.close());
});

/** True when `stream` is still open (no status) after `ms`. */
const stillOpen = (stream: { status: Promise<grpc.StatusObject> }, ms = 300) =>
  Promise.race([stream.status.then(() => false), new Promise<boolean>((resolve) => setTimeout(() => resolve(true), ms))]);

test("unknown and unauthorized names keep the stream open, are logged once with the selectors and sent when they appear", async () => {
  const me = uidSelector(process.getuid!());
  const unknown = subscribeSotw(client, "no-such-secret");
  const denied = subscribeSotw(client, DB);
  const fed = subscribeSotw(client, "spiffe://unknown.org");
  const selectors = [me, `unix:gid:${process.getgid!()}`];
  const deniedLine = await eventually(() => agent.logLines.find((l) => l.code === "ERR_XDS_RESOURCE_DENIED" && String(l.err).includes(DB)));
  assert.deepEqual(deniedLine.selectors, selectors);
  const unknownLine = await eventually(() => agent.logLines.find((l) => l.code === "ERR_XDS_RESOURCE_NOT_FOUND" && String(l.err).includes('"no-such-secret"')));
  assert.deepEqual(unknownLine.selectors, selectors, "an unknown name is logged with the caller's selectors");
  assert.equal(unknownLine.pid, process.pid);
  assert.match(String(unknownLine.msg), /not available to this caller; the stream stays open/);
  await eventually(() => agent.logLines.find((l) => l.code === "ERR_XDS_RESOURCE_NOT_FOUND" && String(l.err).includes("unknown.org")));
  for (const s of [unknown, denied, fed]) assert.equal(await stillOpen(s), true, "the stream is not ended");
  assert.ok(await unknown.quiet(0) && (await denied.quiet(0)) && (await fed.quiet(0)), "nothing is sent for a name that does not resolve (an empty response would be a NACK)");
  const metrics = await agent.registry.metrics();
  assert.match(metrics, /spindle_xds_unavailable_resources_total\{service="sds",code="ERR_XDS_RESOURCE_NOT_FOUND"\} 2/);
  assert.match(metrics, /spindle_xds_unavailable_resources_total\{service="sds",code="ERR_XDS_RESOURCE_DENIED"\} 1/);

  // The entry for DB syncs a moment after Envoy asked: pushed on the same stream, no reconnect.
  const grants = source.grants.get(me)!;
  source.grants.set(me, [...grants, DB]);
  source.emit({ entitlements: true });
  const pushed = await denied.next();
  tlsSecret(decodeSecret(pushed.resources[0]!), DB, DB);
  ackSotw(denied, pushed, DB);
  // Re-resolving the still unknown names logs nothing new.
  source.emit({ entitlements: true });
  await agent.sds.idle();
  assert.equal(agent.logLines.filter((l) => l.code === "ERR_XDS_RESOURCE_NOT_FOUND" && String(l.err).includes('"no-such-secret"')).length, 1, "logged once");
  assert.ok(await unknown.quiet(100));
  source.grants.set(me, grants);
  [unknown, denied, fed].forEach((s) => s.close());
});

test("FetchSecrets answers every requested name at once", async () => {
  const method = grpcServiceDefinition(SecretDiscoveryService).fetchSecrets!;
  const fetch = (names: string[]) =>
    new Promise<DiscoveryResponse>((resolve, reject) =>
      client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, sotwRequest({ node: envoyNode(), resourceNames: names }), (err, res) =>
        err ? reject(err) : resolve(res as DiscoveryResponse),
      ),
    );
  const res = await fetch([API, "default", "ROOTCA", "ALL"]);
  const [api, def, rootca, all] = res.resources.map((r) => decodeSecret(r)) as [Secret, Secret, Secret, Secret];
  assert.equal(res.resources.length, 4);
  tlsSecret(api, API, API);
  tlsSecret(def, "default", WEB);
  assert.deepEqual(validationContextDomains(rootca, "ROOTCA"), new Map([[TD, [fp(pki.root.der)]]]));
  assert.deepEqual(validationContextDomains(all, "ALL"), new Map([[TD, [fp(pki.root.der)]], [FED_TD, [fp(pki.fedRoot.der)]]]));
  await assert.rejects(fetch(["nope"]), (err: grpc.ServiceError) => err.code === grpc.status.NOT_FOUND && err.details.includes('"nope"'));
});

test("trusted_ca fallback for node metadata opt-out and Envoy older than 1.18; SPIFFE validator otherwise", async () => {
  const trustedCa = async (node: ReturnType<typeof envoyNode>) => {
    const s = subscribeSotw(client, "ALL", node);
    const secret = decodeSecret((await s.next()).resources[0]!);
    s.close();
    assert.equal(secret.type.case, "validationContext");
    return secret.type.value;
  };
  const optOut = await trustedCa(envoyNode({ metadata: { disable_spiffe_cert_validation: true } }));
  assert.equal(optOut.customValidatorConfig, undefined);
  const pem = Buffer.from(optOut.trustedCa!.specifier.value as Uint8Array).toString();
  assert.equal(new X509Certificate(pem).fingerprint256, fp(pki.root.der), "own trust domain only");
  const old = await trustedCa(envoyNode({ userAgentVersionType: { case: "userAgentBuildVersion", value: { version: { majorNumber: 1, minorNumber: 17, patch: 4 } } } }));
  assert.ok(old.trustedCa !== undefined && old.customValidatorConfig === undefined);
  const current = await trustedCa(envoyNode({ userAgentVersionType: { case: "userAgentBuildVersion", value: { version: { majorNumber: 1, minorNumber: 18, patch: 0 } } } }));
  assert.ok(current.trustedCa === undefined && current.customValidatorConfig !== undefined);
});

test("global opt-out of the SPIFFE validator", async (t) => {
  const other = await startTestAgent(source, { spiffeValidator: false, level: "silent" });
  t.after(() => other.close());
  const c = createSdsClient(other.socketPath);
  t.after(() => c.close());
  const s = subscribeSotw(c, "ROOTCA");
  const secret = decodeSecret((await s.next()).resources[0]!);
  s.close();
  assert.ok(secret.type.case === "validationContext" && secret.type.value.trustedCa !== undefined);
});

test("a wrong type_url is refused with INVALID_ARGUMENT", async () => {
  const s = openStream<DiscoveryRequest, DiscoveryResponse>(client, "streamSecrets");
  s.send(sotwRequest({ node: envoyNode(), typeUrl: "type.googleapis.com/envoy.config.cluster.v3.Cluster", resourceNames: [API] }));
  const st = await s.status;
  assert.equal(st.code, grpc.status.INVALID_ARGUMENT);
});

test("a failing SecretSource ends the stream with INTERNAL without leaking the cause; it is logged", async (t) => {
  const broken = new FakeSecretSource(pki);
  broken.svidsFor = () => {
    throw new Error("cache exploded at /var/lib/secret-path");
  };
  const other = await startTestAgent(broken);
  t.after(() => other.close());
  const c = createSdsClient(other.socketPath);
  t.after(() => c.close());
  const st = await subscribeSotw(c, "default").status;
  assert.equal(st.code, grpc.status.INTERNAL);
  assert.ok(!st.details.includes("exploded"));
  await eventually(() => other.logLines.some((l) => l.code === "ERR_INTERNAL" && String(l.err).includes("exploded")));
});

test("a caller without a registration entry gets no bundle either, until its entry syncs", async () => {
  const me = uidSelector(process.getuid!());
  const grants = source.grants.get(me)!;
  source.grants.set(me, []);
  const root = subscribeSotw(client, "ROOTCA");
  const all = subscribeSotw(client, "ALL");
  await eventually(() => agent.logLines.find((l) => l.code === "ERR_XDS_RESOURCE_DENIED" && String(l.err).includes('secret "ROOTCA": the caller has no registration entry')));
  await eventually(() => agent.logLines.find((l) => l.code === "ERR_XDS_RESOURCE_DENIED" && String(l.err).includes('secret "ALL": the caller has no registration entry')));
  assert.ok((await root.quiet(200)) && (await all.quiet(0)), "no bundle for an unregistered caller");
  assert.equal(await stillOpen(root, 10), true);
  source.grants.set(me, grants);
  source.emit({ entitlements: true });
  const [r, a] = await Promise.all([root.next(), all.next()]);
  assert.deepEqual(validationContextDomains(decodeSecret(r.resources[0]!), "ROOTCA"), new Map([[TD, [fp(pki.root.der)]]]));
  assert.equal(validationContextDomains(decodeSecret(a.resources[0]!), "ALL").size, 2);
  root.close();
  all.close();
});
