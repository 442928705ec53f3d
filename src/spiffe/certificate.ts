// The fields of an X.509 certificate that SVID validation needs (X509-SVID standard, section 5),
// read once from DER. Signatures are checked with node:crypto (see x509-chain.ts).
import { X509Certificate } from "node:crypto";
import { DerError, children, content, decodeBoolean, decodeOid, decodeSmallUnsigned, decodeTime, expectTag, readTlv, whole, type Tlv } from "./der-reader.js";

/** keyUsage bits (RFC 5280 4.2.1.3), bit n of the BIT STRING = 1 << n. */
export const KeyUsage = {
  digitalSignature: 1 << 0,
  nonRepudiation: 1 << 1,
  keyEncipherment: 1 << 2,
  dataEncipherment: 1 << 3,
  keyAgreement: 1 << 4,
  keyCertSign: 1 << 5,
  cRLSign: 1 << 6,
  encipherOnly: 1 << 7,
  decipherOnly: 1 << 8,
} as const;

export const OID = {
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  nameConstraints: "2.5.29.30",
  certificatePolicies: "2.5.29.32",
  authorityKeyIdentifier: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
} as const;

export interface CertificateExtension {
  readonly oid: string;
  readonly critical: boolean;
}

export interface ParsedCertificate {
  readonly der: Buffer;
  /** node:crypto view, for signature checks and the public key. */
  readonly x509: X509Certificate;
  /** Raw DER of the subject and issuer Names; issuer/subject chaining compares these bytes. */
  readonly subjectDer: Buffer;
  readonly issuerDer: Buffer;
  /** For messages: the subject as text and the hex serial. */
  readonly subject: string;
  readonly serialNumber: string;
  readonly notBefore: number;
  readonly notAfter: number;
  /** Absent when the extension is absent. */
  readonly basicConstraints?: { readonly ca: boolean; readonly pathLength?: number };
  readonly keyUsage?: number;
  readonly uris: readonly string[];
  readonly dnsNames: readonly string[];
  readonly subjectKeyId?: Buffer;
  readonly authorityKeyId?: Buffer;
  readonly extensions: readonly CertificateExtension[];
  /** OID of the algorithm the issuer signed this certificate with. */
  readonly signatureAlgorithm: string;
}

function readKeyUsage(bytes: Buffer): number {
  if (bytes.length < 1) throw new DerError("keyUsage BIT STRING is empty");
  let bits = 0;
  for (let i = 1; i < bytes.length; i++) {
    for (let b = 0; b < 8; b++) if (bytes[i]! & (0x80 >> b)) bits |= 1 << ((i - 1) * 8 + b);
  }
  return bits;
}

function readBasicConstraints(value: Buffer): { ca: boolean; pathLength?: number } {
  const seq = expectTag(readTlv(value, 0), 0x30, "basicConstraints");
  let ca = false;
  let pathLength: number | undefined;
  for (const el of children(value, seq)) {
    if (el.tag === 0x01) ca = decodeBoolean(content(value, el));
    else if (el.tag === 0x02) pathLength = decodeSmallUnsigned(content(value, el));
    else throw new DerError("basicConstraints has an unexpected element");
  }
  return pathLength === undefined ? { ca } : { ca, pathLength };
}

function readSan(value: Buffer): { uris: string[]; dnsNames: string[] } {
  const uris: string[] = [];
  const dnsNames: string[] = [];
  for (const name of children(value, expectTag(readTlv(value, 0), 0x30, "subjectAltName"))) {
    // GeneralName [6] uniformResourceIdentifier and [2] dNSName, both IMPLICIT IA5String.
    if (name.tag === 0x86) uris.push(content(value, name).toString("latin1"));
    else if (name.tag === 0x82) dnsNames.push(content(value, name).toString("latin1"));
  }
  return { uris, dnsNames };
}

function readAuthorityKeyId(value: Buffer): Buffer | undefined {
  const seq = expectTag(readTlv(value, 0), 0x30, "authorityKeyIdentifier");
  const keyId = children(value, seq).find((el) => el.tag === 0x80);
  return keyId === undefined ? undefined : Buffer.from(content(value, keyId));
}

/** Parses a DER certificate; throws DerError (or node's error) on malformed input. */
export function parseCertificate(input: Uint8Array): ParsedCertificate {
  const der = Buffer.from(input);
  const x509 = new X509Certificate(der);
  const cert = expectTag(readTlv(der, 0), 0x30, "Certificate");
  if (cert.end !== der.length) throw new DerError("trailing bytes after the certificate");
  const [tbsTlv, outerAlg] = children(der, cert);
  const tbs = children(der, expectTag(tbsTlv, 0x30, "tbsCertificate"));
  let i = tbs[0]?.tag === 0xa0 ? 1 : 0; // optional [0] version
  i++; // serialNumber
  // RFC 5280 4.1.1.2: the signature algorithm inside and outside the signed part must be equal.
  const innerAlg = expectTag(tbs[i++], 0x30, "signature");
  if (!whole(der, innerAlg).equals(whole(der, expectTag(outerAlg, 0x30, "signatureAlgorithm")))) {
    throw new DerError("signatureAlgorithm differs from the signature field of tbsCertificate");
  }
  const issuer = expectTag(tbs[i++], 0x30, "issuer");
  const validity = children(der, expectTag(tbs[i++], 0x30, "validity"));
  const subject = expectTag(tbs[i++], 0x30, "subject");
  i++; // subjectPublicKeyInfo
  const extsTlv = tbs.slice(i).find((el) => el.tag === 0xa3);

  const fields: {
    basicConstraints?: { ca: boolean; pathLength?: number };
    keyUsage?: number;
    uris: string[];
    dnsNames: string[];
    subjectKeyId?: Buffer;
    authorityKeyId?: Buffer;
  } = { uris: [], dnsNames: [] };
  const extensions: CertificateExtension[] = [];
  const extList: Tlv[] = extsTlv === undefined ? [] : children(der, expectTag(children(der, extsTlv)[0], 0x30, "extensions"));
  for (const ext of extList) {
    const parts = children(der, ext);
    const oid = decodeOid(content(der, expectTag(parts[0], 0x06, "extnID")));
    const critical = parts.length === 3 ? decodeBoolean(content(der, expectTag(parts[1], 0x01, "critical"))) : false;
    const value = Buffer.from(content(der, expectTag(parts[parts.length - 1], 0x04, "extnValue")));
    // RFC 5280 4.2: a certificate must not include more than one instance of an extension.
    if (extensions.some((e) => e.oid === oid)) throw new DerError(`extension ${oid} appears twice`);
    extensions.push({ oid, critical });
    if (oid === OID.basicConstraints) fields.basicConstraints = readBasicConstraints(value);
    else if (oid === OID.keyUsage) fields.keyUsage = readKeyUsage(content(value, expectTag(readTlv(value, 0), 0x03, "keyUsage")));
    else if (oid === OID.subjectAltName) Object.assign(fields, readSan(value));
    else if (oid === OID.subjectKeyIdentifier) fields.subjectKeyId = Buffer.from(content(value, expectTag(readTlv(value, 0), 0x04, "subjectKeyIdentifier")));
    else if (oid === OID.authorityKeyIdentifier) fields.authorityKeyId = readAuthorityKeyId(value);
  }
  return Object.freeze({
    der,
    x509,
    subjectDer: whole(der, subject),
    issuerDer: whole(der, issuer),
    // node reports an empty subject as undefined despite its type.
    subject: (x509.subject as string | undefined)?.replace(/\n/g, ", ") ?? "",
    serialNumber: x509.serialNumber,
    notBefore: decodeTime(der, validity[0], "notBefore"),
    notAfter: decodeTime(der, validity[1], "notAfter"),
    ...fields,
    extensions: Object.freeze(extensions),
    signatureAlgorithm: decodeOid(content(der, expectTag(children(der, outerAlg!)[0], 0x06, "signatureAlgorithm OID"))),
  });
}
