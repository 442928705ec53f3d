import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { KeyUsage, OID, parseCertificate } from "./certificate.js";
import { children, readTlv, whole } from "./der-reader.js";
import { createTestCa, der, issueTestSvid } from "../../test/support/spiffe/index.js";

const now = Date.UTC(2026, 0, 1, 12, 30, 15);
const ca = createTestCa({ trustDomain: "example.org", now, basicConstraints: { ca: true, pathLength: 2 } });

test("parseCertificate reads the fields validation relies on", () => {
  const svid = issueTestSvid(ca, {
    spiffeId: "spiffe://example.org/w",
    now,
    dnsNames: ["a.example", "b.example"],
    keyUsage: KeyUsage.digitalSignature | KeyUsage.decipherOnly,
    serialNumber: 0x0102n,
  });
  const leaf = parseCertificate(svid.der);
  assert.deepEqual(leaf.uris, ["spiffe://example.org/w"]);
  assert.deepEqual(leaf.dnsNames, ["a.example", "b.example"]);
  assert.equal(leaf.keyUsage, KeyUsage.digitalSignature | KeyUsage.decipherOnly);
  assert.deepEqual(leaf.basicConstraints, { ca: false });
  assert.equal(leaf.notBefore, now - 10_000);
  assert.equal(leaf.notAfter, now + 3600_000);
  assert.equal(leaf.serialNumber, "0102");
  assert.equal(leaf.subject, "O=Spindle Test");
  assert.ok(leaf.authorityKeyId?.equals(ca.subjectKeyId!));
  assert.ok(leaf.issuerDer.equals(parseCertificate(ca.der).subjectDer));
  assert.deepEqual(
    leaf.extensions.map((e) => [e.oid, e.critical]),
    [
      [OID.basicConstraints, true],
      [OID.keyUsage, true],
      [OID.extKeyUsage, false],
      [OID.subjectAltName, false],
      [OID.subjectKeyIdentifier, false],
      [OID.authorityKeyIdentifier, false],
    ],
  );
  const root = parseCertificate(ca.der);
  assert.deepEqual(root.basicConstraints, { ca: true, pathLength: 2 });
  assert.equal(root.keyUsage, KeyUsage.keyCertSign | KeyUsage.cRLSign);
  assert.deepEqual(root.uris, ["spiffe://example.org"]);
});

test("times: UTCTime before 2050 and GeneralizedTime after, checked against node's reading", () => {
  const later = Date.UTC(2051, 5, 1);
  const c = createTestCa({ trustDomain: "example.org", now, notAfter: later });
  const parsed = parseCertificate(c.der);
  assert.equal(parsed.notAfter, later);
  assert.equal(parsed.notAfter, Date.parse(new X509Certificate(c.der).validTo));
  assert.equal(parsed.notBefore, Date.parse(new X509Certificate(c.der).validFrom));
});

test("structural problems are refused", () => {
  const svid = issueTestSvid(ca, { spiffeId: "spiffe://example.org/w", now });
  assert.throws(() => parseCertificate(Buffer.concat([svid.der, Buffer.from([0x00])])), /trailing bytes/);
  const dup = issueTestSvid(ca, {
    spiffeId: "spiffe://example.org/w",
    now,
    extraExtensions: [{ oid: OID.keyUsage, value: der.namedBits(KeyUsage.keyCertSign) }],
  });
  assert.throws(() => parseCertificate(dup.der), /extension 2\.5\.29\.15 appears twice/);
  // A malformed Extension (four elements) is refused by node's parser before ours reads it.
  const fourParts = der.seq(der.oid("1.2.3.4"), der.bool(false), der.bool(false), der.octets(Buffer.from([5, 0])));
  assert.throws(() => parseCertificate(issueTestSvid(ca, { spiffeId: "spiffe://example.org/w", now, rawExtensions: [fourParts] }).der));
  // Re-wrap the signed part with a different outer signatureAlgorithm.
  const top = readTlv(svid.der, 0);
  const [tbs, , sig] = children(svid.der, top);
  const rsaAlg = der.seq(der.oid("1.2.840.113549.1.1.11"), der.nullValue());
  const swapped = der.seq(whole(svid.der, tbs!), rsaAlg, whole(svid.der, sig!));
  assert.throws(() => parseCertificate(swapped), /signatureAlgorithm differs/);
});
