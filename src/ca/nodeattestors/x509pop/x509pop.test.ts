import assert from "node:assert/strict";
import { createHash, createPrivateKey, generateKeyPairSync, webcrypto } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { SpindleError } from "../../../common/index.js";
import { createFakeClock } from "../../../../test/support/fake-clock.js";
import { parseTrustDomain, selectorProblem } from "../../../spiffe/index.js";
import { createTestCa, issueTestSvid, type TestCa } from "../../../../test/support/spiffe/index.js";
import * as agentSide from "../../../agent/nodeattestors/x509pop/index.js";
import { derToPem } from "../../../common/pem.js";
import { px } from "../../../../test/support/x509-checks.js";
import type { ChallengeFn } from "../plugin.js";
import { createX509PopAttestor, parseX509PopServerConfig, readCaBundle, X509POP_CHALLENGE_CONTEXT, type X509PopAttestorOptions } from "./index.js";
import { subjectAttributes } from "./subject.js";

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

/** A node certificate issued by `ca` with @peculiar/x509 (an encoder independent of ours), for subjects our test writer cannot express. */
async function pxNodeCert(ca: TestCa, subject: string) {
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const caKey = await webcrypto.subtle.importKey("pkcs8", ca.privateKey.export({ type: "pkcs8", format: "der" }), alg, false, ["sign"]);
  const keys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const cert = await px.X509CertificateGenerator.create(
    {
      serialNumber: "0a1b2c",
      subject,
      issuer: new px.X509Certificate(ca.der).subjectName,
      notBefore: new Date(NOW - 60_000),
      notAfter: new Date(NOW + 3600_000),
      publicKey: keys.publicKey,
      signingKey: caKey,
      signingAlgorithm: alg,
      extensions: [new px.KeyUsagesExtension(px.KeyUsageFlags.digitalSignature, true)],
    },
    webcrypto as never,
  );
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  return { der: Buffer.from(cert.rawData), privateKey: createPrivateKey({ key: derToPem(pkcs8, "PRIVATE KEY") }) };
}

test("x509pop: every subject attribute becomes a selector, unescaped, one per value, in certificate order", async () => {
  const cert = await pxNodeCert(root, "CN=node-9, O=Acme\\, Inc., OU=Edge, OU=Ops, C=DE, L=Berlin, ST=Berlin, 2.5.4.5=SN-42, 2.5.4.9=Main St 1, 2.5.4.17=10115, DC=example, E=ops@acme.example, 2.5.4.12=Operator");
  const agent = agentSide.createX509PopAgentAttestor({ certificateChainDer: [cert.der], privateKey: cert.privateKey });
  const { result } = await run(server(), agent);
  const subject = result.selectors.filter((s) => s.value.startsWith("subject:")).map((s) => `${s.type}:${s.value}`);
  assert.deepEqual(subject, [
    "x509pop:subject:cn:node-9",
    "x509pop:subject:o:Acme, Inc.",
    "x509pop:subject:ou:Edge",
    "x509pop:subject:ou:Ops",
    "x509pop:subject:c:DE",
    "x509pop:subject:l:Berlin",
    "x509pop:subject:st:Berlin",
    "x509pop:subject:serialnumber:SN-42",
    "x509pop:subject:street:Main St 1",
    "x509pop:subject:postalcode:10115",
    "x509pop:subject:dc:example",
    "x509pop:subject:emailaddress:ops@acme.example",
  ]);
  // The certificate's own serial stays a separate selector; the unknown title attribute is skipped.
  const values = result.selectors.map((s) => s.value);
  assert.ok(values.includes("serialnumber:0a1b2c"), values.join(" "));
  assert.ok(!values.some((v) => v.includes("Operator")));
  // Every selector emitted is one entry validation accepts (src/spiffe/selector-schema.ts).
  assert.deepEqual(result.selectors.map(selectorProblem).filter((p) => p !== undefined), []);
});

test("x509pop subject parsing: multi-valued RDNs, BMPString and PrintableString values; malformed DER throws", async () => {
  const name = new px.Name([{ CN: [{ utf8String: "a+b" }], O: [{ printableString: "Org" }] }, { OU: [{ bmpString: "Zürich" }] }]);
  assert.deepEqual(subjectAttributes(Buffer.from(name.toArrayBuffer())), [
    { name: "cn", value: "a+b" },
    { name: "o", value: "Org" },
    { name: "ou", value: "Zürich" },
  ]);
  assert.deepEqual(subjectAttributes(Buffer.from([0x30, 0x00])), []);
  assert.throws(() => subjectAttributes(Buffer.from([0x30, 0x03, 0x31, 0x01, 0x02])));
  assert.throws(() => subjectAttributes(Buffer.from([0x31, 0x00])), /subject Name/);
});
