import assert from "node:assert/strict";
import { createHash, generateKeyPairSync } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { createFakeClock, SpindleError } from "../../../common/index.js";
import { parseTrustDomain } from "../../../spiffe/index.js";
import { createTestCa, issueTestSvid, type TestCa } from "../../../spiffe/testing/index.js";
import * as agentSide from "../../../agent/nodeattestors/x509pop/index.js";
import type { ChallengeFn } from "../plugin.js";
import { createX509PopAttestor, parseX509PopServerConfig, readCaBundle, X509POP_CHALLENGE_CONTEXT, type X509PopAttestorOptions } from "./index.js";

const TD = parseTrustDomain("example.org");
const NOW = Date.UTC(2026, 5, 1);
const clock = createFakeClock(NOW);
const root = createTestCa({ trustDomain: "nodes.example", now: NOW, subject: "CN=Node Root" });
const sha = (alg: string, der: Uint8Array) => createHash(alg).update(der).digest("hex");

function nodeCert(ca: TestCa, o: { now?: number; notAfter?: number } = {}) {
  return issueTestSvid(ca, { spiffeId: "spiffe://unused/x", uris: [], subject: "CN=node-1", dnsNames: ["node-1.example"], now: NOW, ...o });
}

function server(o: Partial<X509PopAttestorOptions> = {}) {
  return createX509PopAttestor({ trustDomain: TD, caCertificates: [root.der], clock, ...o });
}

async function run(plugin: ReturnType<typeof server>, agent: ReturnType<typeof agentSide.createX509PopAgentAttestor>, beforeCommit = async (_id: string) => {}) {
  let rounds = 0;
  const challenge: ChallengeFn = async (c) => {
    rounds++;
    return agent.answer(c);
  };
  const result = await plugin.attest(await agent.payload(), challenge, beforeCommit);
  return { result, rounds };
}

const failed = (err: unknown) => err instanceof SpindleError && err.code === "ERR_NODE_ATTESTATION_FAILED";

test("x509pop: a node proving its key gets a fingerprint agent ID and certificate selectors", async () => {
  const leaf = nodeCert(root);
  const agent = agentSide.createX509PopAgentAttestor({ certificateChainDer: [leaf.der], privateKey: leaf.privateKey });
  const { result, rounds } = await run(server(), agent);
  assert.equal(rounds, 1);
  assert.equal(result.agentId, `spiffe://example.org/spindle/agent/x509pop/${sha("sha256", leaf.der)}`);
  assert.equal(result.canReattest, true);
  const values = result.selectors.map((s) => `${s.type}:${s.value}`);
  assert.ok(values.includes("x509pop:subject:cn:node-1"), values.join(" "));
  assert.ok(values.includes(`x509pop:ca:fingerprint:${sha("sha256", root.der)}`));
  assert.ok(values.includes("x509pop:san:dns:node-1.example"));
});

test("x509pop: sha1 fingerprints and intermediates between the node and the configured CA", async () => {
  const intermediate = createTestCa({ trustDomain: "nodes.example", parent: root, now: NOW, subject: "CN=Node Intermediate" });
  const leaf = nodeCert(intermediate);
  const agent = agentSide.createX509PopAgentAttestor({ certificateChainDer: [leaf.der, intermediate.der], privateKey: leaf.privateKey });
  const { result } = await run(server({ agentIdFingerprint: "sha1" }), agent);
  assert.equal(result.agentId, `spiffe://example.org/spindle/agent/x509pop/${sha("sha1", leaf.der)}`);
  const values = result.selectors.map((s) => s.value);
  assert.ok(values.includes(`ca:fingerprint:${sha("sha256", intermediate.der)}`));
  assert.ok(values.includes(`ca:fingerprint:${sha("sha256", root.der)}`));
});

test("x509pop: a signature by another key than the certificate's is refused", async () => {
  const leaf = nodeCert(root);
  const other = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  const agent = agentSide.createX509PopAgentAttestor({ certificateChainDer: [leaf.der], privateKey: other });
  await assert.rejects(run(server(), agent), (err) => failed(err) && /proof of possession/.test((err as Error).message));
});

test("x509pop: a certificate from a CA outside the configured bundle is refused before any challenge", async () => {
  const stranger = createTestCa({ trustDomain: "elsewhere.example", now: NOW });
  const leaf = nodeCert(stranger);
  const agent = agentSide.createX509PopAgentAttestor({ certificateChainDer: [leaf.der], privateKey: leaf.privateKey });
  let challenged = false;
  const plugin = server();
  await assert.rejects(
    plugin.attest(await agent.payload(), async (c) => ((challenged = true), agent.answer(c)), async () => {}),
    (err) => failed(err) && /does not chain/.test((err as Error).message),
  );
  assert.equal(challenged, false);
});

test("x509pop: an expired node certificate is refused", async () => {
  const leaf = nodeCert(root, { now: NOW - 7200_000, notAfter: NOW - 3600_000 });
  const agent = agentSide.createX509PopAgentAttestor({ certificateChainDer: [leaf.der], privateKey: leaf.privateKey });
  await assert.rejects(run(server(), agent), failed);
});

test("x509pop: a replayed signature for an old nonce fails (every attestation gets a fresh nonce)", async () => {
  const leaf = nodeCert(root);
  const agent = agentSide.createX509PopAgentAttestor({ certificateChainDer: [leaf.der], privateKey: leaf.privateKey });
  let recorded: Uint8Array | undefined;
  await server().attest(await agent.payload(), async (c) => (recorded = await agent.answer(c)), async () => {});
  await assert.rejects(server().attest(await agent.payload(), async () => recorded!, async () => {}), failed);
});

test("x509pop: beforeCommit sees the agent ID and can refuse", async () => {
  const leaf = nodeCert(root);
  const agent = agentSide.createX509PopAgentAttestor({ certificateChainDer: [leaf.der], privateKey: leaf.privateKey });
  await assert.rejects(
    run(server(), agent, async (id) => {
      assert.match(id, /\/spindle\/agent\/x509pop\//);
      throw new SpindleError("ERR_AGENT_BANNED", "banned");
    }),
    (err) => SpindleError.is(err, "ERR_AGENT_BANNED"),
  );
});

test("x509pop: malformed payloads and answers are protocol errors", async () => {
  const plugin = server();
  const never: ChallengeFn = async () => assert.fail("no challenge expected");
  for (const bad of ["", "[]", "{}", '{"certificates":[]}', '{"certificates":[1]}']) {
    await assert.rejects(plugin.attest(Buffer.from(bad), never, async () => {}), (err) => SpindleError.is(err, "ERR_NODE_ATTESTATION_PROTOCOL"), bad);
  }
  await assert.rejects(plugin.attest(Buffer.from('{"certificates":["AAAA"]}'), never, async () => {}), failed);
  const leaf = nodeCert(root);
  const agent = agentSide.createX509PopAgentAttestor({ certificateChainDer: [leaf.der], privateKey: leaf.privateKey });
  await assert.rejects(plugin.attest(await agent.payload(), async () => Buffer.from("garbage"), async () => {}), (err) => SpindleError.is(err, "ERR_NODE_ATTESTATION_PROTOCOL"));
});

test("x509pop: agent and server use the same challenge context", () => {
  assert.ok(agentSide.X509POP_CHALLENGE_CONTEXT.equals(X509POP_CHALLENGE_CONTEXT));
});

test("x509pop config: every problem reported; the CA bundle file is read", () => {
  assert.throws(
    () => parseX509PopServerConfig({ agent_id_fingerprint: "md5", extra: 1 }),
    (err) => {
      const problems = (err as SpindleError).details["problems"] as string[];
      return SpindleError.is(err, "ERR_CONFIG_INVALID") && problems.length === 3 && problems.some((p) => p.includes("extra: unknown key")) && problems.some((p) => p.includes("ca_bundle_path: required"));
    },
  );
  const dir = mkdtempSync(join(tmpdir(), "x509pop-"));
  writeFileSync(join(dir, "ca.pem"), root.pem);
  const c = parseX509PopServerConfig({ ca_bundle_path: join(dir, "ca.pem") });
  assert.equal(c.agentIdFingerprint, "sha256");
  assert.ok(readCaBundle(c.caBundlePath)[0]!.equals(root.der));
  assert.throws(() => readCaBundle(join(dir, "missing.pem")), (err) => SpindleError.is(err, "ERR_CONFIG_READ"));
  writeFileSync(join(dir, "empty.pem"), "");
  assert.throws(() => readCaBundle(join(dir, "empty.pem")), (err) => SpindleError.is(err, "ERR_CONFIG_INVALID"));
});

test("x509pop agent side: loads its certificate and key from files", async () => {
  const leaf = nodeCert(root);
  const dir = mkdtempSync(join(tmpdir(), "x509pop-agent-"));
  writeFileSync(join(dir, "node.pem"), leaf.pem);
  writeFileSync(join(dir, "node.key"), leaf.privateKey.export({ type: "pkcs8", format: "pem" }));
  const config = agentSide.parseX509PopAgentConfig({ certificate_path: join(dir, "node.pem"), private_key_path: join(dir, "node.key") });
  const { result } = await run(server(), agentSide.loadX509PopAgentAttestor(config));
  assert.match(result.agentId, /x509pop\/[0-9a-f]{64}$/);
  assert.throws(() => agentSide.parseX509PopAgentConfig({ certificate_path: "/x", bogus: true }), (err) => ((err as SpindleError).details["problems"] as string[]).length === 2);
});
