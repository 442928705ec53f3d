import { test } from "node:test";
import assert from "node:assert/strict";
import { SpindleError, type ErrorCode } from "../common/errors.js";
import { createBundleSet, type BundleSource } from "./bundle.js";
import { KeyUsage } from "./certificate.js";
import { createTestBundle, createTestCa, generateTestKeyPair, issueTestSvid, type TestCa } from "../../test/support/spiffe/index.js";
import { validateX509Svid } from "./x509-svid.js";

const now = Date.UTC(2026, 0, 1);
const TD = "example.org";
const ID = "spiffe://example.org/ns/web";

function assertCode(fn: () => unknown, code: ErrorCode, ...parts: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof SpindleError, `expected a SpindleError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    for (const p of parts) assert.ok(err.message.includes(p), `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(p)}`);
    return true;
  });
}

function setup(): { root: TestCa; inter: TestCa; bundles: BundleSource } {
  const root = createTestCa({ trustDomain: TD, now });
  const inter = createTestCa({ trustDomain: TD, parent: root, now });
  return { root, inter, bundles: createBundleSet([createTestBundle({ cas: [root] })]) };
}

test("accepts root -> leaf and root -> intermediate -> leaf, returning the ID and the validated path", () => {
  const { root, inter, bundles } = setup();
  const direct = issueTestSvid(root, { spiffeId: ID, now, dnsNames: ["web.local"] });
  const r1 = validateX509Svid(direct.chainDer, bundles, { now });
  assert.equal(r1.spiffeId.toString(), ID);
  assert.deepEqual(r1.chain, [direct.der]);
  assert.deepEqual(r1.leaf.dnsNames, ["web.local"]);
  assert.equal(r1.leaf.notAfter, direct.notAfter);
  assert.ok(r1.leaf.publicKey.equals(direct.publicKey));

  const viaInter = issueTestSvid(inter, { spiffeId: ID, now, subject: "" });
  const r2 = validateX509Svid(viaInter.chainDer, bundles, { now });
  assert.deepEqual(r2.chain, [viaInter.der, inter.der]);
  assert.equal(r2.leaf.subject, "");
  // A presented copy of the root and an unrelated extra certificate are tolerated, not needed.
  const other = createTestCa({ trustDomain: TD, now });
  assert.equal(validateX509Svid([viaInter.der, root.der, other.der, inter.der], bundles, { now }).spiffeId.toString(), ID);
});

test("accepts P-384 and RSA chains", () => {
  const root = createTestCa({ trustDomain: TD, now, keyType: "rsa-2048" });
  const inter = createTestCa({ trustDomain: TD, parent: root, now, keyType: "ec-p384" });
  const svid = issueTestSvid(inter, { spiffeId: ID, now });
  assert.equal(validateX509Svid(svid.chainDer, createBundleSet([createTestBundle({ cas: [root] })]), { now }).spiffeId.toString(), ID);
});

test("picks the bundle of the SVID's own trust domain and never pools trust domains", () => {
  const { root, bundles } = setup();
  const svid = issueTestSvid(root, { spiffeId: "spiffe://other.org/w", now });
  assertCode(() => validateX509Svid(svid.chainDer, bundles, { now }), "ERR_X509_SVID_NO_BUNDLE", '"other.org"');
  // other.org's bundle exists but the leaf was signed by example.org's CA: that CA must not count.
  const otherRoot = createTestCa({ trustDomain: "other.org", now });
  const both = createBundleSet([createTestBundle({ cas: [root] }), createTestBundle({ cas: [otherRoot] })]);
  assertCode(() => validateX509Svid(svid.chainDer, both, { now }), "ERR_X509_SVID_CHAIN", "certificate 0 (leaf", "no issuer found", '"other.org"');
});

test("CA rotation: two authorities with the same subject are told apart by key", () => {
  const oldRoot = createTestCa({ trustDomain: TD, now, subject: "CN=example.org CA" });
  const newRoot = createTestCa({ trustDomain: TD, now, subject: "CN=example.org CA" });
  const bundles = createBundleSet([createTestBundle({ cas: [oldRoot, newRoot] })]);
  for (const ca of [oldRoot, newRoot]) {
    assert.equal(validateX509Svid(issueTestSvid(ca, { spiffeId: ID, now }).chainDer, bundles, { now }).spiffeId.toString(), ID);
  }
  // Without key identifiers every same-name candidate is tried by signature.
  const noIds = issueTestSvid(newRoot, { spiffeId: ID, now, authorityKeyId: null });
  assert.equal(validateX509Svid(noIds.chainDer, bundles, { now }).spiffeId.toString(), ID);
});

test("rejects a signature that does not verify and a missing intermediate", () => {
  const { root, inter, bundles } = setup();
  const forged = issueTestSvid(root, { spiffeId: ID, now, signWith: generateTestKeyPair().privateKey });
  assertCode(() => validateX509Svid(forged.chainDer, bundles, { now }), "ERR_X509_SVID_CHAIN", "certificate 0 (leaf", "signature verifies with none");
  const svid = issueTestSvid(inter, { spiffeId: ID, now });
  assertCode(() => validateX509Svid([svid.der], bundles, { now }), "ERR_X509_SVID_CHAIN", "no issuer found");
});

test("leaf rules: URI SAN count and form, cA, keyUsage", () => {
  const { root, bundles } = setup();
  const cases: [Parameters<typeof issueTestSvid>[1], string][] = [
    [{ spiffeId: ID, uris: [ID, "spiffe://example.org/other"] }, "has 2 URI SANs"],
    [{ spiffeId: ID, uris: [], dnsNames: ["web"] }, "has 0 URI SANs"],
    [{ spiffeId: ID, uris: ["spiffe://example.org/a/"] }, "ERR_SPIFFE_ID_TRAILING_SLASH"],
    [{ spiffeId: ID, uris: ["https://example.org/a"] }, "ERR_SPIFFE_ID_SCHEME"],
    [{ spiffeId: ID, basicConstraints: { ca: true } }, "cA is true"],
    [{ spiffeId: ID, keyUsage: KeyUsage.keyEncipherment }, "lacks digitalSignature"],
    [{ spiffeId: ID, keyUsage: null }, "no keyUsage extension"],
    [{ spiffeId: ID, keyUsageCritical: false }, "keyUsage extension is not marked critical"],
    [{ spiffeId: ID, keyUsage: KeyUsage.digitalSignature | KeyUsage.keyCertSign }, "keyCertSign"],
    [{ spiffeId: ID, keyUsage: KeyUsage.digitalSignature | KeyUsage.cRLSign }, "cRLSign"],
  ];
  for (const [options, part] of cases) {
    const svid = issueTestSvid(root, { ...options, now });
    assertCode(() => validateX509Svid(svid.chainDer, bundles, { now }), "ERR_X509_SVID_LEAF_RULE", "certificate 0 (leaf", part);
  }
  // Absent basicConstraints means "not a CA" and is fine for a leaf.
  assert.ok(validateX509Svid(issueTestSvid(root, { spiffeId: ID, now, basicConstraints: null }).chainDer, bundles, { now }));
});

test("validity windows of the leaf, the intermediate and the bundle authority", () => {
  const { root, inter, bundles } = setup();
  const svid = issueTestSvid(inter, { spiffeId: ID, now });
  assertCode(() => validateX509Svid(svid.chainDer, bundles, { now: svid.notAfter + 1000 }), "ERR_X509_SVID_EXPIRED", "certificate 0 (leaf", "expired at");
  assertCode(() => validateX509Svid(svid.chainDer, bundles, { now: svid.notBefore - 1000 }), "ERR_X509_SVID_NOT_YET_VALID", "certificate 0 (leaf");
  // Edges are inclusive (RFC 5280 4.1.2.5).
  assert.ok(validateX509Svid(svid.chainDer, bundles, { now: svid.notAfter }));
  assert.ok(validateX509Svid(svid.chainDer, bundles, { now: svid.notBefore }));

  const shortInter = createTestCa({ trustDomain: TD, parent: root, now, notAfter: now + 60_000 });
  const longLeaf = issueTestSvid(shortInter, { spiffeId: ID, now, notAfter: now + 3600_000 });
  assertCode(() => validateX509Svid(longLeaf.chainDer, bundles, { now: now + 120_000 }), "ERR_X509_SVID_EXPIRED", "certificate 1 (intermediate");

  const shortRoot = createTestCa({ trustDomain: TD, now, notAfter: now + 60_000 });
  const leaf = issueTestSvid(shortRoot, { spiffeId: ID, now, notAfter: now + 3600_000 });
  const b = createBundleSet([createTestBundle({ cas: [shortRoot] })]);
  assertCode(() => validateX509Svid(leaf.chainDer, b, { now: now + 120_000 }), "ERR_X509_SVID_EXPIRED", "bundle authority 0");
});

test("intermediates must be CAs with keyCertSign, within every pathLenConstraint", () => {
  const root = createTestCa({ trustDomain: TD, now });
  const bundles = createBundleSet([createTestBundle({ cas: [root] })]);
  const cases: [Parameters<typeof createTestCa>[0], string][] = [
    [{ trustDomain: TD, keyUsage: KeyUsage.cRLSign }, "lacks keyCertSign"],
    [{ trustDomain: TD, keyUsage: null }, "no keyUsage extension"],
    [{ trustDomain: TD, basicConstraints: { ca: false } }, "cA is not true"],
    [{ trustDomain: TD, basicConstraints: null }, "cA is not true"],
  ];
  for (const [options, part] of cases) {
    const inter = createTestCa({ ...options, parent: root, now });
    const svid = issueTestSvid(inter, { spiffeId: ID, now });
    assertCode(() => validateX509Svid(svid.chainDer, bundles, { now }), "ERR_X509_SVID_CHAIN", "certificate 1 (intermediate", part);
  }

  const tightRoot = createTestCa({ trustDomain: TD, now, basicConstraints: { ca: true, pathLength: 0 } });
  const underTight = createTestCa({ trustDomain: TD, parent: tightRoot, now });
  const tightBundles = createBundleSet([createTestBundle({ cas: [tightRoot] })]);
  assert.ok(validateX509Svid(issueTestSvid(tightRoot, { spiffeId: ID, now }).chainDer, tightBundles, { now }));
  assertCode(
    () => validateX509Svid(issueTestSvid(underTight, { spiffeId: ID, now }).chainDer, tightBundles, { now }),
    "ERR_X509_SVID_CHAIN",
    "bundle authority 0",
    "pathLenConstraint 0",
  );

  const i1 = createTestCa({ trustDomain: TD, parent: root, now, basicConstraints: { ca: true, pathLength: 0 } });
  const i2 = createTestCa({ trustDomain: TD, parent: i1, now });
  assertCode(
    () => validateX509Svid(issueTestSvid(i2, { spiffeId: ID, now }).chainDer, bundles, { now }),
    "ERR_X509_SVID_CHAIN",
    "certificate 2 (intermediate",
    "pathLenConstraint 0 allows 0 intermediate(s) below it, the chain has 1",
  );
  const i1ok = createTestCa({ trustDomain: TD, parent: root, now, basicConstraints: { ca: true, pathLength: 1 } });
  const i2ok = createTestCa({ trustDomain: TD, parent: i1ok, now });
  const deep = issueTestSvid(i2ok, { spiffeId: ID, now });
  assert.deepEqual(validateX509Svid(deep.chainDer, bundles, { now }).chain, [deep.der, i2ok.der, i1ok.der]);
});

test("an unsupported critical extension anywhere in the path is refused", () => {
  const { root, bundles } = setup();
  const ext = { oid: "1.3.6.1.4.1.99999.1", critical: true, value: Buffer.from([0x05, 0x00]) };
  const inter = createTestCa({ trustDomain: TD, parent: root, now, extraExtensions: [ext] });
  assertCode(() => validateX509Svid(issueTestSvid(inter, { spiffeId: ID, now }).chainDer, bundles, { now }), "ERR_X509_SVID_CHAIN", "certificate 1", "1.3.6.1.4.1.99999.1");
  const leaf = issueTestSvid(root, { spiffeId: ID, now, extraExtensions: [ext] });
  assertCode(() => validateX509Svid(leaf.chainDer, bundles, { now }), "ERR_X509_SVID_CHAIN", "certificate 0");
  // The same extension marked non-critical is ignored.
  assert.ok(validateX509Svid(issueTestSvid(root, { spiffeId: ID, now, extraExtensions: [{ ...ext, critical: false }] }).chainDer, bundles, { now }));
});

test("SHA-1 signatures are refused wherever they appear; SHA-512 is accepted", () => {
  const { root, bundles } = setup();
  const weakLeaf = issueTestSvid(root, { spiffeId: ID, now, signatureHash: "sha1" });
  assertCode(() => validateX509Svid(weakLeaf.chainDer, bundles, { now }), "ERR_X509_SVID_CHAIN", "certificate 0 (leaf)", "1.2.840.10045.4.1");
  const weakInter = createTestCa({ trustDomain: TD, parent: root, now, signatureHash: "sha1" });
  assertCode(() => validateX509Svid(issueTestSvid(weakInter, { spiffeId: ID, now }).chainDer, bundles, { now }), "ERR_X509_SVID_CHAIN", "certificate 1 (intermediate)");
  assert.ok(validateX509Svid(issueTestSvid(root, { spiffeId: ID, now, signatureHash: "sha512" }).chainDer, bundles, { now }));
});

test("malformed input: empty chain, garbage DER, overlong chain, broken bundle authority", () => {
  const { root, bundles } = setup();
  const svid = issueTestSvid(root, { spiffeId: ID, now });
  assertCode(() => validateX509Svid([], bundles, { now }), "ERR_X509_SVID_INVALID", "empty");
  assertCode(() => validateX509Svid([Buffer.from("not a certificate")], bundles, { now }), "ERR_X509_SVID_INVALID", "certificate 0 (leaf)");
  assertCode(() => validateX509Svid([svid.der, svid.der.subarray(0, 40)], bundles, { now }), "ERR_X509_SVID_INVALID", "certificate 1 (intermediate)");
  assertCode(() => validateX509Svid([Buffer.concat([svid.der, Buffer.from([0])])], bundles, { now }), "ERR_X509_SVID_INVALID");
  assertCode(() => validateX509Svid(new Array(17).fill(svid.der), bundles, { now }), "ERR_X509_SVID_INVALID", "17 certificates");
  const broken = createBundleSet([{ ...createTestBundle({ cas: [root] }), x509Authorities: [Buffer.from([0x30, 0x00])] }]);
  assertCode(() => validateX509Svid(svid.chainDer, broken, { now }), "ERR_BUNDLE_INVALID", "X.509 authority 0");
});
