// Test helpers (imported by tests only): check a certificate rule by rule against the X509-SVID
// standard (sections 3-4), parsing with @peculiar/x509 so the check does not share code with our
// encoder.
import assert from "node:assert/strict";
import "./reflect-shim.js";

// Loaded dynamically so the shim above is in place before tsyringe checks for it.
export const px = await import("@peculiar/x509");
type Px = typeof px;


export interface LeafExpectations {
  spiffeId: string;
  dnsNames?: readonly string[];
  /** Hex SKI of the issuing CA. */
  issuerSki: string;
  rsaKey?: boolean;
}

const ext = <T extends InstanceType<Px["Extension"]>>(cert: InstanceType<Px["X509Certificate"]>, type: new (...args: never[]) => T, name: string): T => {
  const e = cert.getExtension(type as never) as T | null;
  assert.ok(e, `${name} extension present`);
  return e;
};

/** Asserts every X.509-SVID leaf rule; returns the parsed certificate for further checks. */
export function assertLeafRules(der: Uint8Array, want: LeafExpectations): InstanceType<Px["X509Certificate"]> {
  const cert = new px.X509Certificate(der);
  assert.equal(cert.subject, "O=Spindle", "fixed leaf subject");
  const serial = BigInt("0x" + cert.serialNumber);
  assert.ok(serial > 0n && serial < 1n << 128n && serial >= 1n << 127n, `128-bit positive serial, got ${cert.serialNumber}`);
  const bc = ext(cert, px.BasicConstraintsExtension, "basicConstraints");
  assert.equal(bc.critical, true, "basicConstraints critical");
  assert.equal(bc.ca, false, "cA=false");
  const ku = ext(cert, px.KeyUsagesExtension, "keyUsage");
  assert.equal(ku.critical, true, "keyUsage critical");
  const expectedKu = px.KeyUsageFlags.digitalSignature | (want.rsaKey ? px.KeyUsageFlags.keyEncipherment : 0);
  assert.equal(ku.usages, expectedKu, "keyUsage bits");
  assert.equal(ku.usages & (px.KeyUsageFlags.keyCertSign | px.KeyUsageFlags.cRLSign), 0, "never keyCertSign/cRLSign");
  const eku = ext(cert, px.ExtendedKeyUsageExtension, "extKeyUsage");
  assert.deepEqual([...eku.usages].sort(), ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"], "EKU serverAuth + clientAuth");
  const san = ext(cert, px.SubjectAlternativeNameExtension, "subjectAltName");
  assert.equal(san.critical, false, "SAN non-critical because the subject is not empty");
  const names = san.names.toJSON();
  assert.deepEqual(names.filter((n) => n.type === "url").map((n) => n.value), [want.spiffeId], "exactly one URI SAN = the SPIFFE ID");
  assert.deepEqual(names.filter((n) => n.type === "dns").map((n) => n.value), [...(want.dnsNames ?? [])], "DNS SANs");
  assert.equal(names.length, 1 + (want.dnsNames?.length ?? 0), "no other SANs");
  const ski = ext(cert, px.SubjectKeyIdentifierExtension, "subjectKeyIdentifier");
  assert.equal(ski.critical, false);
  assert.match(ski.keyId, /^[0-9a-f]{40}$/, "SKI is a SHA-1");
  const aki = ext(cert, px.AuthorityKeyIdentifierExtension, "authorityKeyIdentifier");
  assert.equal(aki.keyId, want.issuerSki, "AKI = issuer SKI");
  assert.equal(cert.extensions.length, 6, "no unexpected extensions");
  return cert;
}

/** Asserts the signing-certificate rules; returns the parsed certificate. */
export function assertCaRules(der: Uint8Array, trustDomainId: string, issuerSki?: string): InstanceType<Px["X509Certificate"]> {
  const cert = new px.X509Certificate(der);
  const bc = ext(cert, px.BasicConstraintsExtension, "basicConstraints");
  assert.equal(bc.critical, true, "basicConstraints critical");
  assert.equal(bc.ca, true, "cA=true");
  const ku = ext(cert, px.KeyUsagesExtension, "keyUsage");
  assert.equal(ku.critical, true, "keyUsage critical");
  assert.equal(ku.usages, px.KeyUsageFlags.keyCertSign | px.KeyUsageFlags.cRLSign, "keyCertSign + cRLSign");
  const san = ext(cert, px.SubjectAlternativeNameExtension, "subjectAltName");
  assert.deepEqual(san.names.toJSON(), [{ type: "url", value: trustDomainId }], "URI SAN spiffe://<td>");
  const ski = ext(cert, px.SubjectKeyIdentifierExtension, "subjectKeyIdentifier").keyId;
  const aki = ext(cert, px.AuthorityKeyIdentifierExtension, "authorityKeyIdentifier").keyId;
  assert.equal(aki, issuerSki ?? ski, issuerSki ? "AKI = upstream SKI" : "self-signed: AKI = own SKI");
  return cert;
}
