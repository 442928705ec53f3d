// Certificate extensions (RFC 5280 section 4.2) as DER, built once per CA where they are constant.
import { createHash } from "node:crypto";
import { spkiPublicKeyBits } from "./der-reader.js";
import { booleanValue, ia5Bytes, implicitPrimitive, namedBits, octetString, oid, sequence, smallInteger } from "./der.js";

export const OID = {
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  authorityKeyIdentifier: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
} as const;

/** keyUsage bit positions (RFC 5280 4.2.1.3). */
export const KeyUsageBit = {
  digitalSignature: 0,
  keyEncipherment: 2,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
} as const;

// Encoded once: two of these are used on every mint.
const SKI_OID = oid(OID.subjectKeyIdentifier);
const SAN_OID = oid(OID.subjectAltName);
const CRITICAL = booleanValue(true);

/** Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING } (DER omits FALSE). */
export function extension(id: string | Buffer, critical: boolean, value: Uint8Array): Buffer {
  const idDer = typeof id === "string" ? oid(id) : id;
  return critical ? sequence(idDer, CRITICAL, octetString(value)) : sequence(idDer, octetString(value));
}

/** basicConstraints, always critical for SVIDs and CAs (X509-SVID standard, section 4.1). */
export function basicConstraints(ca: boolean, pathLen?: number): Buffer {
  const inner = ca ? (pathLen === undefined ? [booleanValue(true)] : [booleanValue(true), smallInteger(pathLen)]) : [];
  return extension(OID.basicConstraints, true, sequence(...inner));
}

export const keyUsage = (bits: readonly number[]): Buffer => extension(OID.keyUsage, true, namedBits(bits));

export const extKeyUsage = (oids: readonly string[]): Buffer => extension(OID.extKeyUsage, false, sequence(...oids.map(oid)));

/** SKI method 1 of RFC 5280 4.2.1.2: SHA-1 of the subjectPublicKey BIT STRING value. */
export function keyIdentifier(spkiDer: Uint8Array): Buffer {
  return createHash("sha1").update(spkiPublicKeyBits(spkiDer)).digest();
}

export const subjectKeyIdentifier = (ski: Uint8Array): Buffer => extension(SKI_OID, false, octetString(ski));

/** AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING } (RFC 5280 4.2.1.1). */
export const authorityKeyIdentifier = (issuerSki: Uint8Array): Buffer =>
  extension(OID.authorityKeyIdentifier, false, sequence(implicitPrimitive(0, issuerSki)));

/**
 * subjectAltName with GeneralName uniformResourceIdentifier [6] and dNSName [2] (RFC 5280
 * 4.2.1.6). Critical only when the subject is empty, as RFC 5280 requires.
 */
export function subjectAltName(uris: readonly string[], dnsNames: readonly string[], critical: boolean): Buffer {
  const names = [
    ...uris.map((u) => implicitPrimitive(6, ia5Bytes(u))),
    ...dnsNames.map((d) => implicitPrimitive(2, ia5Bytes(d))),
  ];
  return extension(SAN_OID, critical, sequence(...names));
}
