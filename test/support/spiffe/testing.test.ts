import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { KeyUsage, parseCertificate } from "../../../src/spiffe/certificate.js";
import { readTlv } from "../../../src/spiffe/der-reader.js";
import { integer, namedBits, oid, time } from "./der-writer.js";
import { createTestCa, issueTestSvid } from "./test-ca.js";
import { createTestJwtAuthority, encodeTestJws, signTestJwtSvid } from "./test-jwt.js";

test("der-writer encodes integers, OIDs, named bits and both time forms per DER", () => {
  assert.equal(integer(0).toString("hex"), "020100");
  assert.equal(integer(128).toString("hex"), "02020080");
  assert.equal(integer(0x0102n).toString("hex"), "02020102");
  assert.equal(oid("2.5.29.19").toString("hex"), "0603551d13");
  assert.equal(oid("1.2.840.113549.1.1.11").toString("hex"), "06092a864886f70d01010b");
  assert.equal(namedBits(KeyUsage.digitalSignature).toString("hex"), "03020780");
  assert.equal(namedBits(KeyUsage.keyCertSign | KeyUsage.cRLSign).toString("hex"), "03020106");
  assert.equal(namedBits(KeyUsage.decipherOnly).toString("hex"), "0303070080");
  assert.equal(time(Date.UTC(2026, 0, 2, 3, 4, 5)).toString("latin1").slice(2), "260102030405Z");
  assert.equal(readTlv(time(Date.UTC(2050, 0, 1)), 0).tag, 0x18);
});

test("createTestCa and issueTestSvid build consistent chains that node can read", () => {
  const now = Date.UTC(2026, 0, 1);
  const root = createTestCa({ trustDomain: "example.org", now });
  const inter = createTestCa({ trustDomain: "example.org", parent: root, now, notAfter: now + 600_000 });
  assert.deepEqual(root.chainDer, []);
  assert.deepEqual(inter.chainDer, [inter.der]);
  assert.equal(inter.rootDer, root.der);
  const svid = issueTestSvid(inter, { spiffeId: "spiffe://example.org/w", now });
  assert.deepEqual(svid.chainDer, [svid.der, inter.der]);
  assert.equal(svid.notAfter, now + 600_000, "a leaf never outlives its CA by default");
  assert.ok(new X509Certificate(svid.der).checkIssued(new X509Certificate(inter.der)));
  assert.ok(new X509Certificate(svid.der).verify(inter.publicKey));
  assert.ok(new X509Certificate(root.der).verify(root.publicKey));
  assert.equal(svid.chainPem.match(/BEGIN CERTIFICATE/g)?.length, 2);
  assert.ok(createPrivateKey(svid.privateKeyPem).equals(svid.privateKey));
  assert.ok(createPrivateKey({ key: svid.privateKeyDer, format: "der", type: "pkcs8" }).equals(svid.privateKey));
  // Overrides reach the certificate.
  const custom = issueTestSvid(root, { spiffeId: "spiffe://example.org/w", now, uris: [], dnsNames: ["x"], keyUsage: null, basicConstraints: null });
  const parsed = parseCertificate(custom.der);
  assert.deepEqual([parsed.uris, parsed.dnsNames, parsed.keyUsage, parsed.basicConstraints], [[], ["x"], undefined, undefined]);
});

test("signTestJwtSvid and encodeTestJws produce the requested header and claims", async () => {
  const a = createTestJwtAuthority({ kid: "k" });
  const token = await signTestJwtSvid(a, { sub: "spiffe://example.org/w", aud: "x", now: 1_000_000, claims: { iat: undefined, extra: 1 } });
  const [h, p] = token.split(".").slice(0, 2).map((part) => JSON.parse(Buffer.from(part, "base64url").toString()) as Record<string, unknown>);
  assert.deepEqual(h, { alg: "ES256", kid: "k", typ: "JWT" });
  assert.deepEqual(p, { sub: "spiffe://example.org/w", aud: "x", exp: 1300, extra: 1 });
  assert.equal(encodeTestJws({ alg: "none" }, {}), "eyJhbGciOiJub25lIn0.e30.");
});
