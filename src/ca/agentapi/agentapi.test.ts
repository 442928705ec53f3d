import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import { validateJwtSvid, validateX509Svid } from "../../spiffe/index.js";
import * as joinToken from "../../agent/nodeattestors/join-token/index.js";
import * as x509pop from "../../agent/nodeattestors/x509pop/index.js";
import * as k8sPsat from "../../agent/nodeattestors/k8s-psat/index.js";
import { ConnectError } from "@connectrpc/connect";
import type { AgentSvid } from "../../gen/spindle/agent/v1/agent_pb.js";
import { serverSpiffeId } from "../registration/entry.js";
import { ERROR_CODE_HEADER } from "./errors.js";
import { attest, decodeDelivered, makeCsr, nodeCertificate, psat, startHarness, TD, type Harness } from "../../../test/support/agentapi-harness.js";

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(() => h.close());

const TOKEN = "flow_token_0123456789abcdefghij";

/**
 * What every agent does after attesting, whatever its attestor: renew its SVID, sync its entries
 * (full, unchanged, one changed), get a CSR batch signed and mint a JWT-SVID. Every SVID is
 * validated with src/spiffe against the bundle the server delivered. `label` keeps each caller's
 * entries apart in the shared harness.
 */
async function agentFlow(attested: AgentSvid, privateKey: KeyObject, label: string): Promise<void> {
  const agentId = attested.svid!.spiffeId;
  const bundles = decodeDelivered(attested);
  const now = h.clock.now();
  assert.equal(validateX509Svid(attested.svid!.certChain, bundles, { now }).spiffeId.toString(), agentId);
  assert.equal(validateX509Svid(h.server.currentChain(), bundles, { now }).spiffeId.toString(), serverSpiffeId(TD));

  // Renew with the attested SVID as client certificate; continue with the renewed one.
  const agentClient = h.client({ chainDer: attested.svid!.certChain, privateKey });
  const renewCsr = await makeCsr();
  const renewed = (await agentClient.renewAgent({ csr: renewCsr.der })).result!;
  assert.equal(renewed.svid!.spiffeId, agentId);
  assert.notDeepEqual(renewed.svid!.certChain[0], attested.svid!.certChain[0]);
  const renewedInfo = validateX509Svid(renewed.svid!.certChain, bundles, { now });
  assert.equal(renewedInfo.spiffeId.toString(), agentId);
  assert.ok(renewedInfo.leaf.publicKey.equals(createPublicKey(renewCsr.privateKey)), "the renewed SVID certifies the new key");
  const client = h.client({ chainDer: renewed.svid!.certChain, privateKey: renewCsr.privateKey });

  // Entries: one direct child, one nested under it, one for another agent.
  const web = h.entries.put({ spiffeId: `spiffe://${TD}/${label}/web`, parentId: agentId, selectors: [{ type: "unix", value: "uid:1000" }], dnsNames: [`web.${label}.example.org`] });
  const sidecar = h.entries.put({ spiffeId: `spiffe://${TD}/${label}/web/sidecar`, parentId: web.spiffeId, selectors: [{ type: "unix", value: "uid:1001" }] });
  const foreign = h.entries.put({ spiffeId: `spiffe://${TD}/${label}/db`, parentId: `spiffe://${TD}/spindle/agent/join_token/other-${label}`, selectors: [{ type: "unix", value: "uid:2000" }] });
  const sync = await client.syncEntries({});
  assert.deepEqual(sync.revisions.map((r) => r.id).sort(), [web.id, sidecar.id].sort());
  assert.deepEqual(sync.entries.map((e) => e.spiffeId).sort(), [web.spiffeId, sidecar.spiffeId].sort());
  assert.equal(sync.nextPageToken, "");
  assert.deepEqual(sync.bundles.map((b) => b.trustDomain), [TD]);
  const again = await client.syncEntries({ known: { [web.id]: 1n, [sidecar.id]: 1n } });
  assert.equal(again.entries.length, 0, "unchanged entries come back as id + revision only");
  h.entries.put({ id: web.id, spiffeId: web.spiffeId, parentId: agentId, selectors: web.selectors, dnsNames: web.dnsNames, hint: "changed" });
  const third = await client.syncEntries({ known: { [web.id]: 1n, [sidecar.id]: 1n } });
  assert.deepEqual(third.entries.map((e) => [e.id, e.revision, e.hint]), [[web.id, 2n, "changed"]]);

  // Sign a batch (EC and RSA keys, plus one CSR for another agent's entry that fails on its own).
  const a = await makeCsr({ uris: [web.spiffeId] });
  const b = await makeCsr({ uris: [sidecar.spiffeId], rsaBits: 2048 });
  const c = await makeCsr({ uris: [foreign.spiffeId] });
  const signed = await client.batchSignX509Svid({ requests: [{ entryId: web.id, csr: a.der }, { entryId: sidecar.id, csr: b.der }, { entryId: foreign.id, csr: c.der }] });
  assert.deepEqual(signed.results.map((r) => r.status?.code), ["", "", "ERR_ENTRY_NOT_AUTHORIZED"]);
  assert.equal(signed.results[2]!.svid, undefined);
  const info = validateX509Svid(signed.results[0]!.svid!.certChain, bundles, { now });
  assert.equal(info.spiffeId.toString(), web.spiffeId);
  assert.deepEqual(info.leaf.dnsNames, [`web.${label}.example.org`]);
  assert.ok(info.leaf.publicKey.equals(createPublicKey(a.privateKey)), "the SVID certifies the CSR's key");
  const sidecarInfo = validateX509Svid(signed.results[1]!.svid!.certChain, bundles, { now });
  assert.equal(sidecarInfo.spiffeId.toString(), sidecar.spiffeId);
  assert.ok(sidecarInfo.leaf.publicKey.equals(createPublicKey(b.privateKey)));
  assert.ok(signed.results[0]!.svid!.authorityId !== "");

  // JWT-SVID for an authorized entry.
  const jwt = await client.mintJwtSvid({ entryId: web.id, audience: ["payments"] });
  const claims = await validateJwtSvid(jwt.token, bundles, { audience: "payments", now });
  assert.equal(claims.spiffeId.toString(), web.spiffeId);
  assert.ok(jwt.expiresAt > jwt.issuedAt);
}

test("join_token agent: attest, renew, sync, sign a CSR batch and mint a JWT-SVID; every SVID validates", async () => {
  await h.tokens.createJoinToken(TOKEN, h.clock.now() + 600_000);
  const agentPlugin = joinToken.createJoinTokenAgentAttestor({ token: TOKEN });
  const { svid, privateKey, rounds } = await attest(h.client(), agentPlugin);
  assert.equal(rounds, 0);
  assert.equal(svid.svid!.spiffeId, `spiffe://${TD}/spindle/agent/join_token/${createHash("sha256").update(TOKEN).digest("hex").slice(0, 32)}`);
  assert.equal(svid.canReattest, false);
  await agentFlow(svid, privateKey, "jt");
});

test("x509pop agent: attest with a challenge round, renew, sync, sign a CSR batch and mint a JWT-SVID; every SVID validates", async () => {
  const cert = nodeCertificate(h.nodeCa, "node-flow");
  const plugin = x509pop.createX509PopAgentAttestor({ certificateChainDer: [cert.der], privateKey: cert.privateKey });
  const { svid, privateKey, rounds } = await attest(h.client(), plugin);
  assert.equal(rounds, 1);
  assert.equal(svid.svid!.spiffeId, `spiffe://${TD}/spindle/agent/x509pop/${createHash("sha256").update(cert.der).digest("hex")}`);
  assert.ok(svid.selectors.includes("x509pop:subject:cn:node-flow"), svid.selectors.join(" "));
  assert.equal(svid.canReattest, true);
  await agentFlow(svid, privateKey, "x509pop");
});

test("k8s_psat agent: attest with a projected token, renew, sync, sign a CSR batch and mint a JWT-SVID; every SVID validates", async () => {
  const token = await psat(h.psatKey, { node: "worker-flow", now: h.clock.now() });
  const plugin = k8sPsat.createK8sPsatAgentAttestor({ cluster: "prod", tokenPath: "/t", readToken: async () => token });
  const { svid, privateKey, rounds } = await attest(h.client(), plugin);
  assert.equal(rounds, 0);
  assert.equal(svid.svid!.spiffeId, `spiffe://${TD}/spindle/agent/k8s_psat/prod/uid-worker-flow`);
  assert.ok(svid.selectors.includes("k8s_psat:agent_node_name:worker-flow"), svid.selectors.join(" "));
  assert.equal(svid.canReattest, true);
  await agentFlow(svid, privateKey, "psat");
});

test("x509pop agent: node aliases authorize entries", async () => {
  const cert = nodeCertificate(h.nodeCa, "node-7");
  const plugin = x509pop.createX509PopAgentAttestor({ certificateChainDer: [cert.der], privateKey: cert.privateKey });
  const { svid, privateKey, rounds } = await attest(h.client(), plugin);
  assert.equal(rounds, 1);
  assert.match(svid.svid!.spiffeId, /^spiffe:\/\/example\.org\/spindle\/agent\/x509pop\/[0-9a-f]{64}$/);
  assert.ok(svid.selectors.includes("x509pop:subject:cn:node-7"));
  validateX509Svid(svid.svid!.certChain, decodeDelivered(svid), { now: h.clock.now() });

  const alias = h.entries.put({ spiffeId: `spiffe://${TD}/nodes/cn-node-7`, parentId: serverSpiffeId(TD), selectors: [{ type: "x509pop", value: "subject:cn:node-7" }] });
  const viaAlias = h.entries.put({ spiffeId: `spiffe://${TD}/node-agent-workload`, parentId: alias.spiffeId, selectors: [{ type: "unix", value: "uid:0" }] });
  h.entries.put({ spiffeId: `spiffe://${TD}/nodes/other`, parentId: serverSpiffeId(TD), selectors: [{ type: "x509pop", value: "subject:cn:node-8" }] });
  const client = h.client({ chainDer: svid.svid!.certChain, privateKey });
  const sync = await client.syncEntries({});
  assert.deepEqual(sync.revisions.map((r) => r.id), [viaAlias.id]);
  const csr = await makeCsr({ uris: [viaAlias.spiffeId] });
  const signed = await client.batchSignX509Svid({ requests: [{ entryId: viaAlias.id, csr: csr.der }] });
  assert.equal(signed.results[0]!.status!.code, "");
});

test("k8s_psat agent: re-attestation supersedes the previous SVID", async () => {
  const token = await psat(h.psatKey, { node: "worker-9", now: h.clock.now() });
  const plugin = k8sPsat.createK8sPsatAgentAttestor({ cluster: "prod", tokenPath: "/t", readToken: async () => token });
  const { svid, privateKey: firstKey } = await attest(h.client(), plugin);
  const first = svid;
  assert.equal(svid.svid!.spiffeId, `spiffe://${TD}/spindle/agent/k8s_psat/prod/uid-worker-9`);
  assert.ok(svid.selectors.includes("k8s_psat:agent_node_name:worker-9"));
  assert.equal(svid.canReattest, true);
  validateX509Svid(svid.svid!.certChain, decodeDelivered(svid), { now: h.clock.now() });
  // Re-attestation (after the 1/s limit) supersedes the previous SVID.
  h.clock.advance(1000);
  const again = await attest(h.client(), plugin);
  assert.notDeepEqual(again.svid.svid!.certChain[0], first.svid!.certChain[0]);
  await h.client({ chainDer: again.svid.svid!.certChain, privateKey: again.privateKey }).syncEntries({});
  const stale = h.client({ chainDer: first.svid!.certChain, privateKey: firstKey });
  await assert.rejects(stale.syncEntries({}), (err) => ConnectError.from(err).metadata.get(ERROR_CODE_HEADER) === "ERR_AGENT_NOT_ATTESTED");
});
