// The admin API's agent RPCs over an in-memory transport, on the real datastore (SQLite in a temp
// dir) that the agent API (real TLS on 127.0.0.1) also uses: what an operator does with
// list/get/ban/unban/evict is what an agent-like client sees on its next call.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, test } from "node:test";
import { createClient, createRouterTransport, ConnectError, type Client } from "@connectrpc/connect";
import { createLogger } from "../../common/index.js";
import { createFakeClock } from "../../../test/support/fake-clock.js";
import { SpindleError, type ErrorCode } from "../../common/errors.js";
import { certsToPem } from "../../common/pem.js";
import { AdminService } from "../../gen/spindle/admin/v1/admin_pb.js";
import { parseTrustDomain } from "../../spiffe/index.js";
import { createTestCa } from "../../../test/support/spiffe/index.js";
import * as joinToken from "../../agent/nodeattestors/join-token/index.js";
import * as x509pop from "../../agent/nodeattestors/x509pop/index.js";
import { createCertificateAuthority, type ManagedCertificateAuthority } from "../authority/index.js";
import { createDatastore, type Datastore } from "../datastore/index.js";
import { createMemoryKeyManager } from "../keys/index.js";
import { createJoinTokenAttestor, createX509PopAttestor, type NodeAttestorPlugin } from "../nodeattestors/index.js";
import { createRegistration } from "../registration/index.js";
import { ERROR_CODE_HEADER as AGENT_API_CODE, startAgentApiServer, type AgentApiServer } from "../agentapi/index.js";
import { agentClient, attest, makeCsr, nodeCertificate } from "../../../test/support/agentapi-harness.js";
import { errorMappingInterceptor, fromConnectError } from "./errors.js";
import { createAdminServiceImpl } from "./service.js";

const TD = "example.org";
const dir = mkdtempSync(join(tmpdir(), "spindle-admin-agents-"));
const clock = createFakeClock(Date.now());
const logs: Record<string, unknown>[] = [];
const logger = createLogger({
  level: "info",
  destination: new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split("\n")) if (line.trim() !== "") logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  }),
});
const nodeCa = createTestCa({ trustDomain: "nodes.example", now: clock.now(), subject: "CN=Node CA" });
let ds: Datastore;
let ca: ManagedCertificateAuthority;
let server: AgentApiServer;
let admin: Client<typeof AdminService>;

before(async () => {
  ds = await createDatastore({ location: { kind: "sqlite", path: join(dir, "ds.sqlite3") }, clock });
  ca = await createCertificateAuthority({ trustDomain: TD, serverId: "s1", keyManager: createMemoryKeyManager(), journalStore: ds.journal, clock, logger });
  const td = parseTrustDomain(TD);
  const attestors = new Map<string, NodeAttestorPlugin>([
    ["join_token", createJoinTokenAttestor({ trustDomain: td, tokens: ds })],
    ["x509pop", createX509PopAttestor({ trustDomain: td, caCertificates: [nodeCa.der], clock })],
  ]);
  server = await startAgentApiServer({ trustDomain: TD, ca, attestors, agents: ds, entries: ds, clock, logger, host: "127.0.0.1", port: 0 });
  const registration = createRegistration({ datastore: ds, clock, limits: { trustDomain: TD, maxX509SvidTtl: 14400, maxJwtSvidTtl: 14400 } });
  const impl = createAdminServiceImpl({
    trustDomain: TD,
    serverId: "s1",
    version: "test",
    registration,
    datastore: ds,
    ca,
    ownBundle: () => Promise.reject(new Error("not used by the agent RPCs")),
    authorities: {
      list: () => Promise.reject(new Error("not used")),
      prepare: () => Promise.reject(new Error("not used")),
      activate: () => Promise.reject(new Error("not used")),
      taint: () => Promise.reject(new Error("not used")),
      revoke: () => Promise.reject(new Error("not used")),
    },
    onIssued: () => undefined,
    isReady: () => true,
    limits: { maxX509SvidTtl: 14400, maxJwtSvidTtl: 14400 },
    clock,
    logger,
  });
  const transport = createRouterTransport((r) => r.service(AdminService, impl), { router: { interceptors: [errorMappingInterceptor(logger)] } });
  admin = createClient(AdminService, transport);
});

after(async () => {
  await server?.close();
  await ds?.close();
  rmSync(dir, { recursive: true, force: true });
});

const bundlePem = () => certsToPem(ca.bundleContents().x509Authorities);

/** Asserts an admin call failed with this Spindle code (decoded as the real admin client does). */
async function adminRejects(p: Promise<unknown>, code: ErrorCode, pattern?: RegExp): Promise<void> {
  await assert.rejects(p, (err) => {
    const e = fromConnectError(err, "in-memory");
    assert.ok(e instanceof SpindleError);
    assert.equal(e.code, code, e.message);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

/** Asserts an agent API call failed with this Spindle code. */
async function agentRejects(p: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(p, (err) => {
    const ce = ConnectError.from(err);
    assert.equal(ce.metadata.get(AGENT_API_CODE), code, ce.message);
    return true;
  });
}

async function joinTokenAgent() {
  const { token, agentId } = await admin.generateJoinToken({});
  const { svid, privateKey } = await attest(agentClient(server.address.port, bundlePem()), joinToken.createJoinTokenAgentAttestor({ token }));
  // The admin API tells the operator the agent ID up front, so entries can be parented before the agent runs.
  assert.equal(svid.svid!.spiffeId, agentId);
  return { id: svid.svid!.spiffeId, svid, client: agentClient(server.address.port, bundlePem(), { chainDer: svid.svid!.certChain, privateKey }) };
}

async function x509popAgent(cn: string) {
  const cert = nodeCertificate(nodeCa, cn);
  const plugin = x509pop.createX509PopAgentAttestor({ certificateChainDer: [cert.der], privateKey: cert.privateKey });
  const run = async () => {
    const { svid, privateKey } = await attest(agentClient(server.address.port, bundlePem()), plugin);
    return { id: svid.svid!.spiffeId, svid, client: agentClient(server.address.port, bundlePem(), { chainDer: svid.svid!.certChain, privateKey }) };
  };
  return { plugin, run };
}

const serialOf = (der: Uint8Array) => new X509Certificate(der).serialNumber.toLowerCase();

test("list (with filters) and get show what the agent API recorded", async () => {
  const jt = await joinTokenAgent();
  const pop = await (await x509popAgent("node-list")).run();
  const all = await admin.listAgents({});
  const mine = all.agents.filter((a) => a.spiffeId === jt.id || a.spiffeId === pop.id);
  assert.equal(mine.length, 2);
  assert.deepEqual(all.agents.map((a) => a.spiffeId), [...all.agents.map((a) => a.spiffeId)].sort(), "ordered by SPIFFE ID");

  const got = await admin.getAgent({ spiffeId: pop.id });
  assert.equal(got.attestor, "x509pop");
  assert.equal(got.serial.toLowerCase(), serialOf(pop.svid.svid!.certChain[0]!));
  assert.equal(got.expiresAt, pop.svid.svid!.expiresAt);
  assert.equal(got.banned, false);
  assert.equal(got.canReattest, true);
  assert.ok(got.selectors.some((s) => s.type === "x509pop" && s.value === "subject:cn:node-list"));
  assert.ok(got.createdAt > 0n && got.updatedAt >= got.createdAt);
  const jtGot = await admin.getAgent({ spiffeId: jt.id });
  assert.deepEqual([jtGot.attestor, jtGot.canReattest, jtGot.selectors.length], ["join_token", false, 0]);

  const byAttestor = await admin.listAgents({ filter: { attestor: "join_token" } });
  assert.ok(byAttestor.agents.every((a) => a.attestor === "join_token"));
  assert.ok(byAttestor.agents.some((a) => a.spiffeId === jt.id));
  const bySelector = await admin.listAgents({ filter: { selectors: [{ type: "x509pop", value: "subject:cn:node-list" }] } });
  assert.deepEqual(bySelector.agents.map((a) => a.spiffeId), [pop.id]);
  assert.deepEqual((await admin.listAgents({ filter: { banned: true } })).agents.filter((a) => a.spiffeId === pop.id), []);
  assert.ok((await admin.listAgents({ filter: { banned: false } })).agents.some((a) => a.spiffeId === pop.id));
  await adminRejects(admin.listAgents({ filter: { selectors: [{ type: "x509pop", value: "" }] } }), "ERR_SELECTOR_INVALID");
});

test("unknown agents are NotFound; invalid or foreign IDs are InvalidArgument; nothing changes", async () => {
  const before = (await admin.listAgents({})).agents.length;
  const unknown = `spiffe://${TD}/spindle/agent/join_token/nobody`;
  for (const call of [admin.getAgent, admin.evictAgent, admin.banAgent, admin.unbanAgent]) {
    await adminRejects(call({ spiffeId: unknown }), "ERR_NOT_FOUND", /no attested agent spiffe:\/\/example\.org\/spindle\/agent\/join_token\/nobody/);
    await adminRejects(call({ spiffeId: "" }), "ERR_INVALID_ARGUMENT", /spiffe_id: .*required/);
    await adminRejects(call({ spiffeId: "spiffe://Example.org/x" }), "ERR_INVALID_ARGUMENT", /^spiffe_id: /);
    await adminRejects(call({ spiffeId: "spiffe://other.org/spindle/agent/join_token/x" }), "ERR_INVALID_ARGUMENT", /outside the trust domain/);
    await adminRejects(call({ spiffeId: `spiffe://${TD}/web` }), "ERR_INVALID_ARGUMENT", /not an agent SPIFFE ID/);
  }
  assert.equal((await admin.listAgents({})).agents.length, before);
});

test("ban refuses the agent's calls and its attestation; evicting it is refused; unban lets it back", async () => {
  const node = await x509popAgent("node-ban");
  const a = await node.run();
  await a.client.syncEntries({});
  const banned = await admin.banAgent({ spiffeId: a.id });
  assert.equal(banned.banned, true);
  assert.ok(logs.some((l) => l["audit"] === "agent_banned" && l["spiffeId"] === a.id && l["requester"] === "admin-socket"));
  assert.deepEqual((await admin.listAgents({ filter: { banned: true } })).agents.map((x) => x.spiffeId), [a.id]);
  await agentRejects(a.client.syncEntries({}), "ERR_AGENT_BANNED");
  await agentRejects(a.client.batchSignX509Svid({ requests: [] }), "ERR_AGENT_BANNED");
  await agentRejects(a.client.renewAgent({ csr: (await makeCsr()).der }), "ERR_AGENT_BANNED");
  await agentRejects(a.client.mintJwtSvid({ entryId: "any", audience: ["db"] }), "ERR_AGENT_BANNED");
  clock.advance(1000); // past the 1/s attestation limit of this agent ID
  await agentRejects(node.run(), "ERR_AGENT_BANNED");

  await adminRejects(admin.evictAgent({ spiffeId: a.id }), "ERR_AGENT_EVICT_BANNED", /unban it first/);
  assert.equal((await admin.getAgent({ spiffeId: a.id })).banned, true, "the ban is still recorded");

  assert.equal((await admin.unbanAgent({ spiffeId: a.id })).banned, false);
  await a.client.syncEntries({});
  clock.advance(1000);
  const again = await node.run();
  assert.equal(again.id, a.id);
  await again.client.syncEntries({});
});

test("evict deletes the record: the old SVID is refused everywhere and the agent attests again", async () => {
  const node = await x509popAgent("node-evict");
  const a = await node.run();
  const entry = await admin.createEntry({ entry: { spiffeId: `spiffe://${TD}/evict-web`, parentId: a.id, selectors: [{ type: "unix", value: "uid:7" }] } });
  assert.equal((await a.client.syncEntries({})).revisions.length, 1);

  const evicted = await admin.evictAgent({ spiffeId: a.id });
  assert.equal(evicted.spiffeId, a.id, "returns the record as it was");
  assert.ok(logs.some((l) => l["audit"] === "agent_evicted" && l["spiffeId"] === a.id));
  await adminRejects(admin.getAgent({ spiffeId: a.id }), "ERR_NOT_FOUND");
  await agentRejects(a.client.syncEntries({}), "ERR_AGENT_NOT_ATTESTED");
  const csr = await makeCsr({ uris: [`spiffe://${TD}/evict-web`] });
  await agentRejects(a.client.batchSignX509Svid({ requests: [{ entryId: entry.id, csr: csr.der }] }), "ERR_AGENT_NOT_ATTESTED");
  await agentRejects(a.client.renewAgent({ csr: (await makeCsr()).der }), "ERR_AGENT_NOT_ATTESTED");
  await agentRejects(a.client.mintJwtSvid({ entryId: entry.id, audience: ["db"] }), "ERR_AGENT_NOT_ATTESTED");

  clock.advance(1000);
  const back = await node.run();
  assert.equal(back.id, a.id);
  assert.notEqual((await admin.getAgent({ spiffeId: a.id })).serial, evicted.serial, "a new SVID was recorded");
  assert.equal((await back.client.syncEntries({})).revisions.length, 1);
  const signed = await back.client.batchSignX509Svid({ requests: [{ entryId: entry.id, csr: csr.der }] });
  assert.equal(signed.results[0]?.status?.code, "", signed.results[0]?.status?.message);
  await agentRejects(a.client.syncEntries({}), "ERR_AGENT_NOT_ATTESTED");
});

test("an evicted join-token agent cannot come back with its used token", async () => {
  const token = (await admin.generateJoinToken({})).token;
  const plugin = joinToken.createJoinTokenAgentAttestor({ token });
  const { svid } = await attest(agentClient(server.address.port, bundlePem()), plugin);
  await admin.evictAgent({ spiffeId: svid.svid!.spiffeId });
  clock.advance(1000);
  await agentRejects(attest(agentClient(server.address.port, bundlePem()), plugin), "ERR_NODE_ATTESTATION_FAILED");
  await adminRejects(admin.getAgent({ spiffeId: svid.svid!.spiffeId }), "ERR_NOT_FOUND");
});
