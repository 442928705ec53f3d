import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate, generateKeyPairSync, type KeyObject } from "node:crypto";
import { SpindleError } from "../../common/index.js";
import { buildCaCertificate, childrenOf, contentOf, createLeafMinter, encodeName, encodeSpki, issuerFromCertificate, readElement, type Issuer } from "./index.js";
import { assertCaRules, assertLeafRules, px } from "../../../test/support/x509-checks.js";

const TD = "spiffe://example.org";
const NOW = Date.UTC(2026, 2, 1, 12, 0, 0);
const HOUR = 3_600_000;

const keys = {
  p256: () => generateKeyPairSync("ec", { namedCurve: "P-256" }),
  p384: () => generateKeyPairSync("ec", { namedCurve: "P-384" }),
  rsa: () => generateKeyPairSync("rsa", { modulusLength: 2048 }),
};

function root(pair: { publicKey: KeyObject; privateKey: KeyObject }, notAfter = NOW + 24 * HOUR) {
  const built = buildCaCertificate({
    publicKey: pair.publicKey,
    privateKey: pair.privateKey,
    subjectNameDer: encodeName([["O", "Spindle"], ["CN", "Test Root"]]),
    trustDomainId: TD,
    notBefore: NOW - 10_000,
    notAfter,
  });
  return { ...built, issuer: issuerFromCertificate(built.der, pair.privateKey, "test root") };
}

test("encodeSpki matches node:crypto's own SPKI export for P-256, P-384 and RSA", () => {
  for (const make of Object.values(keys)) {
    const { publicKey } = make();
    assert.deepEqual(encodeSpki(publicKey).der, publicKey.export({ format: "der", type: "spki" }));
  }
});

for (const [caName, caKey] of Object.entries(keys)) {
  for (const [leafName, leafKey] of Object.entries(keys)) {
    test(`leaf (${leafName} key) signed by a ${caName} root follows every X.509-SVID rule and verifies`, () => {
      const ca = root(caKey());
      const wl = leafKey();
      const leaf = createLeafMinter(ca.issuer).mint({
        spiffeId: "spiffe://example.org/ns/prod/web",
        publicKey: wl.publicKey,
        dnsNames: leafName === "p256" ? ["web.example.org", "*.web.example.org"] : [],
        notBefore: NOW - 10_000,
        notAfter: NOW + HOUR,
      });
      const parsed = assertLeafRules(leaf.der, {
        spiffeId: "spiffe://example.org/ns/prod/web",
        dnsNames: leafName === "p256" ? ["web.example.org", "*.web.example.org"] : [],
        issuerSki: ca.ski.toString("hex"),
        rsaKey: leafName === "rsa",
      });
      assert.equal(parsed.serialNumber, leaf.serialHex);
      assert.equal(parsed.notBefore.getTime(), NOW - 10_000);
      assert.equal(parsed.notAfter.getTime(), NOW + HOUR);
      const x = new X509Certificate(leaf.der);
      const r = new X509Certificate(ca.der);
      assert.ok(x.checkIssued(r), "issuer name matches the root's subject");
      assert.ok(x.verify(r.publicKey), "signature verifies with the root key");
      assert.ok(x.publicKey.equals(wl.publicKey), "leaf carries the workload key");
      assertCaRules(ca.der, TD);
      assert.ok(r.verify(r.publicKey), "root is self-signed");
    });
  }
}

test("signature algorithms follow the CA key: ecdsa-with-SHA256/384, sha256WithRSAEncryption (+NULL)", () => {
  const expected: Record<string, string> = {
    p256: "06082a8648ce3d040302",
    p384: "06082a8648ce3d040303",
    rsa: "06092a864886f70d01010b0500",
  };
  for (const [name, make] of Object.entries(keys)) {
    const ca = root(make());
    const leaf = createLeafMinter(ca.issuer).mint({ spiffeId: "spiffe://example.org/a", publicKey: keys.p256().publicKey, dnsNames: [], notBefore: NOW, notAfter: NOW + HOUR });
    const [tbs, outerAlg] = childrenOf(leaf.der, readElement(leaf.der));
    const innerAlg = childrenOf(leaf.der, tbs!)[2]!;
    assert.equal(contentOf(leaf.der, outerAlg!).toString("hex"), expected[name], `${name} outer signatureAlgorithm`);
    assert.equal(contentOf(leaf.der, innerAlg).toString("hex"), expected[name], `${name} TBS signature field`);
    const alg = new px.X509Certificate(leaf.der).signatureAlgorithm as unknown as { name: string; hash: { name: string } };
    assert.equal(alg.name, name === "rsa" ? "RSASSA-PKCS1-v1_5" : "ECDSA");
    assert.equal(alg.hash.name, name === "p384" ? "SHA-384" : "SHA-256");
  }
});

test("serials are random and distinct", () => {
  const ca = root(keys.p256());
  const minter = createLeafMinter(ca.issuer);
  const wl = keys.p256().publicKey;
  const serials = new Set<string>();
  for (let i = 0; i < 300; i++) serials.add(minter.mint({ spiffeId: "spiffe://example.org/a", publicKey: wl, dnsNames: [], notBefore: NOW, notAfter: NOW + HOUR }).serialHex);
  assert.equal(serials.size, 300);
  for (const s of serials) assert.match(s, /^[89a-f][0-9a-f]{31}$/);
});

test("the minter refuses a leaf outliving its issuer", () => {
  const ca = root(keys.p256(), NOW + HOUR);
  const minter = createLeafMinter(ca.issuer);
  assert.throws(
    () => minter.mint({ spiffeId: "spiffe://example.org/a", publicKey: keys.p256().publicKey, dnsNames: [], notBefore: NOW, notAfter: NOW + 2 * HOUR }),
    /past the issuer's notAfter/,
  );
});

test("an intermediate signed by another CA chains to it and is capped at its notAfter", () => {
  const up = root(keys.rsa(), NOW + 5 * HOUR);
  const mine = keys.p256();
  const inter = buildCaCertificate({
    publicKey: mine.publicKey,
    subjectNameDer: encodeName([["O", "Spindle"], ["CN", "Inter"]]),
    trustDomainId: TD,
    notBefore: NOW,
    notAfter: NOW + 24 * HOUR,
    issuer: up.issuer,
  });
  const parsed = assertCaRules(inter.der, TD, up.ski.toString("hex"));
  assert.equal(parsed.notAfter.getTime(), NOW + 5 * HOUR, "capped at the upstream notAfter");
  assert.ok(new X509Certificate(inter.der).verify(new X509Certificate(up.der).publicKey));
  const interIssuer: Issuer = issuerFromCertificate(inter.der, mine.privateKey, "inter");
  const leaf = createLeafMinter(interIssuer).mint({ spiffeId: "spiffe://example.org/b", publicKey: keys.p384().publicKey, dnsNames: [], notBefore: NOW, notAfter: NOW + HOUR });
  assert.ok(new X509Certificate(leaf.der).verify(new X509Certificate(inter.der).publicKey));
});

test("issuerFromCertificate refuses a mismatched key and a non-CA certificate", () => {
  const ca = root(keys.p256());
  assert.throws(() => issuerFromCertificate(ca.der, keys.p256().privateKey, "x"), (e: unknown) => SpindleError.is(e, "ERR_CONFIG_INVALID") && /does not match/.test(e.message));
  const leafKey = keys.p256();
  const leaf = createLeafMinter(ca.issuer).mint({ spiffeId: "spiffe://example.org/a", publicKey: leafKey.publicKey, dnsNames: [], notBefore: NOW, notAfter: NOW + HOUR });
  assert.throws(() => issuerFromCertificate(leaf.der, leafKey.privateKey, "leaf"), (e: unknown) => SpindleError.is(e, "ERR_CONFIG_INVALID") && /not a CA/.test(e.message));
});
