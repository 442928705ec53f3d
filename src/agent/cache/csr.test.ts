import assert from "node:assert/strict";
import { test } from "node:test";
import { parseAndVerifyCsr } from "../../ca/csr/index.js";
import { buildCsr } from "./csr.js";
import { generateWorkloadKey, WORKLOAD_KEY_TYPES } from "./workload-key.js";

const ID = "spiffe://example.org/ns/prod/sa/web";

for (const type of WORKLOAD_KEY_TYPES) {
  test(`buildCsr (${type}): the server's CSR parser verifies it and reads the SPIFFE ID and DNS names`, async () => {
    const key = await generateWorkloadKey(type);
    const csr = parseAndVerifyCsr(buildCsr({ spiffeId: ID, dnsNames: ["web.prod.svc", "web"] }, key));
    assert.deepEqual(csr.uriSans, [ID]);
    assert.deepEqual(csr.dnsNames, ["web.prod.svc", "web"]);
    assert.equal(csr.requestsCa, false);
    assert.ok(csr.publicKeySpkiDer.equals(key.spkiDer), "the CSR carries the generated public key");
  });
}

test("buildCsr: a tampered request no longer verifies (the signature covers the SAN)", async () => {
  const key = await generateWorkloadKey("ec-p256");
  const der = buildCsr({ spiffeId: ID }, key);
  const at = der.indexOf(Buffer.from("/web"));
  assert.ok(at > 0);
  der[at + 1] = "x".charCodeAt(0);
  assert.throws(() => parseAndVerifyCsr(der), (e: unknown) => (e as { code?: string }).code === "ERR_CSR_SIGNATURE");
});

test("buildCsr: long SPIFFE IDs use long-form DER lengths", async () => {
  const key = await generateWorkloadKey("ec-p384");
  const long = `spiffe://example.org/${"a".repeat(300)}`;
  assert.deepEqual(parseAndVerifyCsr(buildCsr({ spiffeId: long }, key)).uriSans, [long]);
});

test("generateWorkloadKey: keys are fresh per call and their PKCS#8 matches the key type", async () => {
  const [a, b] = await Promise.all([generateWorkloadKey("ec-p256"), generateWorkloadKey("ec-p256")]);
  assert.ok(!a.spkiDer.equals(b.spkiDer));
  assert.equal(a.privateKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
  const rsa = await generateWorkloadKey("rsa-2048");
  assert.equal(rsa.privateKey.asymmetricKeyDetails?.modulusLength, 2048);
  assert.ok(rsa.pkcs8Der.length > 1000);
  await assert.rejects(generateWorkloadKey("ed25519" as never), TypeError);
});
