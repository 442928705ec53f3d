import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { connect, type ClientHttp2Session } from "node:http2";
import { after, before, test } from "node:test";
import type { PeerCertificate } from "node:tls";
import { Code, ConnectError } from "@connectrpc/connect";
import { certsToPem } from "../../common/pem.js";
import { createTestCa, issueTestSvid } from "../../../test/support/spiffe/index.js";
import * as joinToken from "../../agent/nodeattestors/join-token/index.js";
import * as x509pop from "../../agent/nodeattestors/x509pop/index.js";
import type { ErrorCode } from "../../common/errors.js";
import { ERROR_CODE_HEADER } from "./errors.js";
import { attest, makeCsr, nodeCertificate, SERVER_ID, startHarness, TD, type Harness } from "../../../test/support/agentapi-harness.js";

let h: Harness;
before(async () => {
  h = await startHarness({ agentSvidTtlSeconds: 60 });
});
after(() => h.close());

/** Asserts a call failed with this gRPC status and Spindle code. */
async function refused(p: Promise<unknown>, status: Code, code: ErrorCode, message?: RegExp) {
  await assert.rejects(p, (err) => {
    const ce = ConnectError.from(err);
    assert.equal(ce.metadata.get(ERROR_CODE_HEADER), code, ce.message);
    assert.equal(ce.code, status, ce.message);
    if (message !== undefined) assert.match(ce.message, message);
    return true;
  });
}

let tokenSeq = 0;
async function joinTokenAgent() {
  const token = `sec_token_${String(++tokenSeq).padStart(4, "0")}_abcdefghijkl`;
  await h.tokens.createJoinToken(token, h.clock.now() + 600_000);
  const { svid, privateKey } = await attest(h.client(), joinToken.createJoinTokenAgentAttestor({ token }));
  return { id: svid.svid!.spiffeId, client: h.client({ chainDer: svid.svid!.certChain, privateKey }), chain: svid.svid!.certChain, privateKey };
}

test("a replayed join token and an expired one are refused", async () => {
  const token = "replay_token_0123456789abcdef";
  await h.tokens.createJoinToken(token, h.clock.now() + 600_000);
  const plugin = joinToken.createJoinTokenAgentAttestor({ token });
  await attest(h.client(), plugin);
  h.clock.advance(1000); // past the 1/s attestation limit of this agent ID
  await refused(attest(h.client(), plugin), Code.PermissionDenied, "ERR_NODE_ATTESTATION_FAILED");
  const expired = "expired_token_0123456789abcdef";
  await h.tokens.createJoinToken(expired, h.clock.now() + 1000);
  h.clock.advance(1000);
  await refused(attest(h.client(), joinToken.createJoinTokenAgentAttestor({ token: expired })), Code.PermissionDenied, "ERR_NODE_ATTESTATION_FAILED");
});

test("CSRs: another agent's entry, cA=true, a foreign SPIFFE ID, no SAN, garbage and weak keys fail one by one", async () => {
  const me = await joinTokenAgent();
  const other = await joinTokenAgent();
  const mine = h.entries.put({ spiffeId: `spiffe://${TD}/mine`, parentId: me.id, selectors: [{ type: "unix", value: "uid:1" }] });
  const theirs = h.entries.put({ spiffeId: `spiffe://${TD}/theirs`, parentId: other.id, selectors: [{ type: "unix", value: "uid:2" }] });
  const requests = [
    { entryId: mine.id, csr: (await makeCsr({ uris: [mine.spiffeId] })).der },
    { entryId: theirs.id, csr: (await makeCsr({ uris: [theirs.spiffeId] })).der },
    { entryId: mine.id, csr: (await makeCsr({ uris: [theirs.spiffeId] })).der },
    { entryId: mine.id, csr: (await makeCsr({ uris: [mine.spiffeId], ca: true })).der },
    { entryId: mine.id, csr: (await makeCsr()).der },
    { entryId: mine.id, csr: Buffer.from("garbage") },
    { entryId: mine.id, csr: (await makeCsr({ uris: [mine.spiffeId], rsaBits: 1024 })).der },
    { entryId: "no-such-entry", csr: (await makeCsr({ uris: [mine.spiffeId] })).der },
  ];
  const res = await me.client.batchSignX509Svid({ requests });
  assert.deepEqual(
    res.results.map((r) => r.status!.code),
    ["", "ERR_ENTRY_NOT_AUTHORIZED", "ERR_ENTRY_NOT_AUTHORIZED", "ERR_CSR_INVALID", "ERR_ENTRY_NOT_AUTHORIZED", "ERR_CSR_INVALID", "ERR_KEY_UNSUPPORTED", "ERR_ENTRY_NOT_AUTHORIZED"],
  );
  assert.deepEqual(res.results.map((r) => r.entryId), requests.map((r) => r.entryId));
  assert.equal(res.results.filter((r) => r.svid !== undefined).length, 1);
  await refused(me.client.mintJwtSvid({ entryId: theirs.id, audience: ["x"] }), Code.PermissionDenied, "ERR_ENTRY_NOT_AUTHORIZED");
  await refused(me.client.mintJwtSvid({ entryId: mine.id, audience: [] }), Code.InvalidArgument, "ERR_INVALID_ARGUMENT");
  const tooMany = Array.from({ length: 501 }, () => ({ entryId: mine.id, csr: Buffer.alloc(0) }));
  await refused(me.client.batchSignX509Svid({ requests: tooMany }), Code.InvalidArgument, "ERR_INVALID_ARGUMENT");
  // The agent SVID renewal refuses a CA request too.
  await refused(me.client.renewAgent({ csr: (await makeCsr({ ca: true })).der }), Code.InvalidArgument, "ERR_CSR_INVALID");
});

test("client certificates: none, another trust domain, a workload SVID, a forged agent SVID are refused", async () => {
  await refused(h.client().syncEntries({}), Code.Unauthenticated, "ERR_AGENT_CLIENT_CERT_INVALID");
  const evilCa = createTestCa({ trustDomain: "evil.org", now: h.clock.now() });
  const evil = issueTestSvid(evilCa, { spiffeId: "spiffe://evil.org/spindle/agent/join_token/x", now: h.clock.now() });
  await refused(h.client({ chainDer: evil.chainDer, privateKey: evil.privateKey }).syncEntries({}), Code.Unauthenticated, "ERR_AGENT_CLIENT_CERT_INVALID");
  const me = await joinTokenAgent();
  // Same SPIFFE ID as a real agent, but signed by a CA of our trust domain's name that we never trusted.
  const forgerCa = createTestCa({ trustDomain: TD, now: h.clock.now() });
  const forged = issueTestSvid(forgerCa, { spiffeId: me.id, now: h.clock.now() });
  await refused(h.client({ chainDer: forged.chainDer, privateKey: forged.privateKey }).renewAgent({ csr: (await makeCsr()).der }), Code.Unauthenticated, "ERR_AGENT_CLIENT_CERT_INVALID");
  const key = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const workload = h.ca.mintX509Svid({ spiffeId: `spiffe://${TD}/web`, publicKey: key.publicKey });
  await refused(h.client({ chainDer: workload.chain, privateKey: key.privateKey }).syncEntries({}), Code.Unauthenticated, "ERR_AGENT_CLIENT_CERT_INVALID");
});

test("banned and evicted agents are refused; a banned node cannot attest again", async () => {
  const cert = nodeCertificate(h.nodeCa, "node-banned");
  const plugin = x509pop.createX509PopAgentAttestor({ certificateChainDer: [cert.der], privateKey: cert.privateKey });
  const { svid, privateKey } = await attest(h.client(), plugin);
  const id = svid.svid!.spiffeId;
  const client = h.client({ chainDer: svid.svid!.certChain, privateKey });
  await client.syncEntries({});
  await h.agents.setBanned(id, true, h.clock.now());
  await refused(client.syncEntries({}), Code.PermissionDenied, "ERR_AGENT_BANNED");
  await refused(client.renewAgent({ csr: (await makeCsr()).der }), Code.PermissionDenied, "ERR_AGENT_BANNED");
  h.clock.advance(1000);
  await refused(attest(h.client(), plugin), Code.PermissionDenied, "ERR_AGENT_BANNED");
  await h.agents.setBanned(id, false, h.clock.now());
  await client.syncEntries({});
  await h.agents.deleteAgent(id);
  await refused(client.syncEntries({}), Code.PermissionDenied, "ERR_AGENT_NOT_ATTESTED");
});

test("an expired agent SVID cannot renew; the agent must attest again", async () => {
  const me = await joinTokenAgent();
  h.clock.advance(61_000);
  await refused(me.client.renewAgent({ csr: (await makeCsr()).der }), Code.Unauthenticated, "ERR_AGENT_CLIENT_CERT_INVALID");
});

test("attestation stream: unknown attestor, out-of-order messages and bad payloads are client errors", async () => {
  await refused(attest(h.client(), { name: "tpm", payload: async () => Buffer.from("{}"), answer: async () => Buffer.alloc(0) }), Code.InvalidArgument, "ERR_NODE_ATTESTOR_UNKNOWN");
  for (const name of ["join_token", "x509pop", "k8s_psat"]) {
    const p = attest(h.client(), { name, payload: async () => Buffer.from([0xff, 0x00, 0x13]), answer: async () => Buffer.alloc(0) });
    await refused(p, Code.InvalidArgument, "ERR_NODE_ATTESTATION_PROTOCOL");
  }
  const cert = nodeCertificate(h.nodeCa, "node-garbled");
  const plugin = x509pop.createX509PopAgentAttestor({ certificateChainDer: [cert.der], privateKey: cert.privateKey });
  await refused(attest(h.client(), { ...plugin, name: plugin.name, payload: plugin.payload, answer: async () => Buffer.from("\x00garbage") }), Code.InvalidArgument, "ERR_NODE_ATTESTATION_PROTOCOL");
  await refused(attest(h.client(), plugin, Buffer.from("not a csr")), Code.InvalidArgument, "ERR_CSR_INVALID");
  // An agent that never answers its challenge is cut off after the timeout.
  const silent = { ...plugin, name: plugin.name, payload: plugin.payload, answer: async () => {
      h.clock.advance(30_000);
      await new Promise((r) => setTimeout(r, 100));
      return Buffer.from("{}");
    },
  };
  // The timeout itself must be the reason (the late "{}" answer would be refused too, differently).
  await refused(attest(h.client(), silent), Code.InvalidArgument, "ERR_NODE_ATTESTATION_PROTOCOL", /no challenge response within 30 s/);
});

/** Sends raw bytes to an RPC over a real TLS + HTTP/2 connection; returns the grpc-status and code. */
async function rawCall(path: string, body: Buffer, identity?: { chain: readonly Uint8Array[]; key: string }): Promise<{ status: string; code: string | undefined }> {
  const session: ClientHttp2Session = connect(`https://127.0.0.1:${h.server.address.port}`, {
    ca: h.bundlePem(),
    checkServerIdentity: (_h: string, c: PeerCertificate) => (c.subjectaltname?.includes(SERVER_ID) ? undefined : new Error("wrong server")),
    ...(identity ? { cert: certsToPem(identity.chain), key: identity.key } : {}),
  });
  try {
    return await new Promise((resolve, reject) => {
      const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc+proto", te: "trailers" });
      let headers: Record<string, unknown> = {};
      req.on("response", (h) => (headers = h));
      req.on("trailers", (t) => resolve({ status: String(t["grpc-status"]), code: t[ERROR_CODE_HEADER] as string | undefined }));
      req.on("end", () => resolve({ status: String(headers["grpc-status"]), code: headers[ERROR_CODE_HEADER] as string | undefined }));
      req.on("data", () => {});
      req.on("error", reject);
      req.end(body);
    });
  } finally {
    session.close();
  }
}

test("garbage bytes on every RPC are answered with INVALID_ARGUMENT, never INTERNAL", async () => {
  const me = await joinTokenAgent();
  const identity = { chain: me.chain, key: me.privateKey.export({ type: "pkcs8", format: "pem" }) as string };
  const garbage = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x42, 0x99]);
  const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, garbage.length]), garbage]);
  for (const method of ["Attest", "RenewAgent", "SyncEntries", "BatchSignX509Svid", "MintJwtSvid"]) {
    for (const id of [undefined, identity]) {
      const r = await rawCall(`/spindle.agent.v1.AgentService/${method}`, framed, id);
      assert.equal(r.status, String(Code.InvalidArgument), `${method} ${id ? "with" : "without"} a client certificate: ${JSON.stringify(r)}`);
      assert.equal(r.code, "ERR_INVALID_ARGUMENT", method);
    }
    const unframed = await rawCall(`/spindle.agent.v1.AgentService/${method}`, Buffer.from("GET / HTTP/1.1\r\n"), identity);
    assert.notEqual(unframed.status, String(Code.Internal), `${method} unframed: ${JSON.stringify(unframed)}`);
    assert.notEqual(unframed.status, "0", method);
  }
});
