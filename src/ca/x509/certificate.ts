// Certificate assembly (RFC 5280 section 4.1) and the CA certificates Spindle issues: self-signed
// roots and intermediates signed by an upstream CA. Issuer-side constants live in `Issuer` so
// they are computed once per CA, not per certificate.
import { X509Certificate, createPublicKey, randomFillSync, type KeyObject } from "node:crypto";
import { spindleError } from "../../common/index.js";
import { contentOf, parseCertificateParts, readElement } from "./der-reader.js";
import { bitString, explicit, oid, printableString, sequence, set, smallInteger, time, tlv, Tag, utf8String } from "./der.js";
import { signData, signatureAlgorithmFor, type SignatureAlgorithm } from "./algorithms.js";
import {
  KeyUsageBit,
  OID,
  authorityKeyIdentifier,
  basicConstraints,
  keyIdentifier,
  keyUsage,
  subjectAltName,
  subjectKeyIdentifier,
} from "./extensions.js";

/** Everything a CA contributes to the certificates it signs. */
export interface Issuer {
  /** The issuing certificate's subject Name, DER (becomes each child's issuer field). */
  nameDer: Buffer;
  /** The issuing certificate's subject key identifier (becomes each child's AKI). */
  ski: Buffer;
  privateKey: KeyObject;
  algorithm: SignatureAlgorithm;
  /** Children never outlive their issuer (docs/design/wire-facts.md, "X.509-SVIDs"). Epoch ms. */
  notAfter: number;
}

const ATTRIBUTE_OIDS = { C: "2.5.4.6", O: "2.5.4.10", OU: "2.5.4.11", CN: "2.5.4.3", serialNumber: "2.5.4.5" } as const;
export type NameAttribute = keyof typeof ATTRIBUTE_OIDS;

/** RDNSequence with one attribute per RDN; C and serialNumber are PrintableString, the rest UTF8String (RFC 5280 4.1.2.4). */
export function encodeName(attrs: readonly (readonly [NameAttribute, string])[]): Buffer {
  return sequence(
    ...attrs.map(([type, value]) => {
      const encoded = type === "C" || type === "serialNumber" ? printableString(value) : utf8String(value);
      return set(sequence(oid(ATTRIBUTE_OIDS[type]), encoded));
    }),
  );
}

export interface Serial {
  /** INTEGER DER. */
  der: Buffer;
  /** Lower-case hex of the value, 32 digits. */
  hex: string;
}

/**
 * A random positive 128-bit serial (RFC 5280 4.1.2.2: positive, at most 20 octets, unpredictable).
 * The top bit is forced to 1 so every serial has the same 17-octet encoding (a 0x00 sign octet
 * then 16 value octets).
 */
export function randomSerial(pool?: { take(n: number): Buffer }): Serial {
  const value = pool ? pool.take(16) : randomFillSync(Buffer.alloc(16));
  value[0]! |= 0x80;
  return { der: tlv(Tag.INTEGER, Buffer.from([0]), value), hex: value.toString("hex") };
}

export const validity = (notBefore: number, notAfter: number): Buffer => sequence(time(notBefore), time(notAfter));

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }. */
export function signCertificate(tbs: Buffer, issuer: Pick<Issuer, "algorithm" | "privateKey">): Buffer {
  const signature = signData(issuer.algorithm, issuer.privateKey, tbs);
  return sequence(tbs, issuer.algorithm.identifierDer, bitString(signature));
}

export interface CaCertificateOptions {
  publicKey: KeyObject;
  subjectNameDer: Buffer;
  /** `spiffe://<trust-domain>`, the URI SAN of a signing certificate (X509-SVID standard, section 3.2). */
  trustDomainId: string;
  notBefore: number;
  notAfter: number;
  /** Signs an intermediate; omitted for a self-signed root, which then needs `privateKey`. */
  issuer?: Issuer;
  privateKey?: KeyObject;
}

export interface BuiltCaCertificate {
  der: Buffer;
  ski: Buffer;
}

export function buildCaCertificate(opts: CaCertificateOptions): BuiltCaCertificate {
  const spki = opts.publicKey.export({ format: "der", type: "spki" });
  const ski = keyIdentifier(spki);
  let issuer = opts.issuer;
  if (issuer === undefined) {
    if (opts.privateKey === undefined) throw new TypeError("buildCaCertificate: a self-signed root needs privateKey");
    issuer = {
      nameDer: opts.subjectNameDer,
      ski,
      privateKey: opts.privateKey,
      algorithm: signatureAlgorithmFor(opts.privateKey),
      notAfter: opts.notAfter,
    };
  }
  const notAfter = Math.min(opts.notAfter, issuer.notAfter);
  if (notAfter <= opts.notBefore) throw new TypeError("buildCaCertificate: the issuer expires before the certificate would start");
  const extensions = [
    basicConstraints(true),
    keyUsage([KeyUsageBit.keyCertSign, KeyUsageBit.cRLSign]),
    subjectAltName([opts.trustDomainId], [], false),
    subjectKeyIdentifier(ski),
    authorityKeyIdentifier(issuer.ski),
  ];
  const tbs = sequence(
    explicit(0, smallInteger(2)),
    randomSerial().der,
    issuer.algorithm.identifierDer,
    issuer.nameDer,
    validity(opts.notBefore, notAfter),
    opts.subjectNameDer,
    spki,
    explicit(3, sequence(...extensions)),
  );
  return { der: signCertificate(tbs, issuer), ski };
}

/**
 * An Issuer for an existing CA certificate and its key (upstream CAs, journal reloads). Refuses
 * a key that does not match the certificate or a certificate that is not a CA.
 */
export function issuerFromCertificate(certDer: Buffer, privateKey: KeyObject, source: string): Issuer {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certDer);
  } catch (err) {
    throw spindleError("ERR_KEY_FILE_INVALID", `${source}: not a valid X.509 certificate`, { cause: err });
  }
  if (!cert.ca) throw spindleError("ERR_CONFIG_INVALID", `${source}: certificate ${cert.subject} is not a CA (basicConstraints cA=false)`);
  if (!cert.checkPrivateKey(privateKey)) throw spindleError("ERR_CONFIG_INVALID", `${source}: the private key does not match certificate ${cert.subject}`);
  let algorithm: SignatureAlgorithm;
  try {
    algorithm = signatureAlgorithmFor(privateKey);
  } catch (err) {
    throw spindleError("ERR_KEY_UNSUPPORTED", `${source}: ${(err as Error).message}`, { cause: err });
  }
  const parts = parseCertificateParts(certDer);
  const skiExt = parts.extensions.get(oid(OID.subjectKeyIdentifier).subarray(2).toString("hex"));
  // The SKI extension value is an OCTET STRING; fall back to method 1 when the issuer has none.
  const ski = skiExt ? contentOf(skiExt.value, readElement(skiExt.value)) : keyIdentifier(createPublicKey(privateKey).export({ format: "der", type: "spki" }));
  return {
    nameDer: parts.subject,
    ski: Buffer.from(ski),
    privateKey,
    algorithm,
    notAfter: Date.parse(cert.validTo),
  };
}
