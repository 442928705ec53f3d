// Test-only certificate factory: CAs (root or intermediate) and X.509-SVIDs with every field
// overridable, so tests across Spindle can build valid and deliberately broken chains.
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";
import { certsToPem, derToPem } from "../../../src/common/pem.js";
import { KeyUsage, OID } from "../../../src/spiffe/certificate.js";
import { parseTrustDomain, type TrustDomain } from "../../../src/spiffe/trust-domain.js";
import { bitString, bool, explicit, integer, name, namedBits, nullValue, octets, oid, seq, time, tlv } from "./der-writer.js";

export type TestKeyType = "ec-p256" | "ec-p384" | "rsa-2048";

export interface TestKeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

export interface TestExtension {
  readonly oid: string;
  readonly critical?: boolean;
  /** extnValue contents (the DER inside the OCTET STRING). */
  readonly value: Uint8Array;
}

/** Every field a test may want to change. `null` removes an extension the default would add. */
export interface TestCertOptions {
  /** Base time for the defaults, epoch ms. Default: Date.now(). */
  now?: number;
  notBefore?: number;
  notAfter?: number;
  /** `CN=..,O=..`; `""` for an empty subject (the SAN extension then defaults to critical). */
  subject?: string;
  /** Issuer Name override (default: the issuing CA's subject). */
  issuer?: string;
  serialNumber?: bigint;
  keyType?: TestKeyType;
  /** Reuse a key (CA rotation tests, key-mismatch tests). */
  keyPair?: TestKeyPair;
  uris?: readonly string[];
  dnsNames?: readonly string[];
  sanCritical?: boolean;
  basicConstraints?: { ca: boolean; pathLength?: number; critical?: boolean } | null;
  /** KeyUsage bits from certificate.ts. */
  keyUsage?: number | null;
  keyUsageCritical?: boolean;
  /** EKU OIDs. */
  extKeyUsage?: readonly string[] | null;
  subjectKeyId?: Uint8Array | null;
  authorityKeyId?: Uint8Array | null;
  extraExtensions?: readonly TestExtension[];
  /** Pre-encoded Extension DER appended as is (malformed-extension tests). */
  rawExtensions?: readonly Uint8Array[];
  /** Sign with this key instead of the issuer's (a certificate whose signature does not verify). */
  signWith?: KeyObject;
  /** Signature hash (default: sha384 for P-384 signers, sha256 otherwise); sha1 for weak-algorithm tests. */
  signatureHash?: TestSignatureHash;
}

export interface TestCertificate {
  readonly der: Buffer;
  readonly pem: string;
  readonly subject: string;
  readonly subjectKeyId: Buffer | undefined;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

export interface TestCa extends TestCertificate {
  readonly trustDomain: TrustDomain;
  readonly parent: TestCa | undefined;
  /** This CA and its parents up to, excluding, the root (empty for a root): what an SVID carries. */
  readonly chainDer: readonly Buffer[];
  readonly rootDer: Buffer;
}

export const EKU_SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
export const EKU_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

export function generateTestKeyPair(type: TestKeyType = "ec-p256"): TestKeyPair {
  if (type === "rsa-2048") return generateKeyPairSync("rsa", { modulusLength: 2048 });
  return generateKeyPairSync("ec", { namedCurve: type === "ec-p384" ? "P-384" : "P-256" });
}

export type TestSignatureHash = "sha1" | "sha256" | "sha384" | "sha512";

const RSA_SIGNATURE_OIDS: Record<TestSignatureHash, string> = {
  sha1: "1.2.840.113549.1.1.5",
  sha256: "1.2.840.113549.1.1.11",
  sha384: "1.2.840.113549.1.1.12",
  sha512: "1.2.840.113549.1.1.13",
};
const ECDSA_SIGNATURE_OIDS: Record<TestSignatureHash, string> = {
  sha1: "1.2.840.10045.4.1",
  sha256: "1.2.840.10045.4.3.2",
  sha384: "1.2.840.10045.4.3.3",
  sha512: "1.2.840.10045.4.3.4",
};

function signatureAlgorithm(key: KeyObject, requested: TestSignatureHash | undefined): { der: Buffer; hash: string } {
  if (key.asymmetricKeyType === "rsa") {
    const hash = requested ?? "sha256";
    return { der: seq(oid(RSA_SIGNATURE_OIDS[hash]), nullValue()), hash };
  }
  const hash = requested ?? (key.asymmetricKeyDetails?.namedCurve === "secp384r1" ? "sha384" : "sha256");
  return { der: seq(oid(ECDSA_SIGNATURE_OIDS[hash])), hash };
}

function extension(id: string, critical: boolean, value: Uint8Array): Buffer {
  return critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));
}

function keyId(publicKey: KeyObject): Buffer {
  return createHash("sha1").update(publicKey.export({ type: "spki", format: "der" })).digest();
}

interface IssueDefaults {
  subject: string;
  notBefore: number;
  notAfter: number;
  uris: readonly string[];
  basicConstraints: { ca: boolean; pathLength?: number; critical?: boolean };
  keyUsage: number;
  extKeyUsage: readonly string[] | null;
}

/** Issues one certificate; `issuer` undefined means self-signed. */
export function issueTestCertificate(issuer: TestCertificate | undefined, defaults: IssueDefaults, o: TestCertOptions): TestCertificate {
  const keys = o.keyPair ?? generateTestKeyPair(o.keyType);
  const subject = o.subject ?? defaults.subject;
  const notBefore = o.notBefore ?? defaults.notBefore;
  const notAfter = o.notAfter ?? defaults.notAfter;
  const ski = o.subjectKeyId === null ? undefined : Buffer.from(o.subjectKeyId ?? keyId(keys.publicKey));
  const aki = o.authorityKeyId === null ? undefined : (o.authorityKeyId ?? issuer?.subjectKeyId ?? ski);
  const exts: Buffer[] = [];
  const bc = o.basicConstraints === undefined ? defaults.basicConstraints : o.basicConstraints;
  if (bc !== null) {
    const body = seq(...(bc.ca ? [bool(true)] : []), ...(bc.pathLength === undefined ? [] : [integer(bc.pathLength)]));
    exts.push(extension(OID.basicConstraints, bc.critical ?? true, body));
  }
  const ku = o.keyUsage === undefined ? defaults.keyUsage : o.keyUsage;
  if (ku !== null) exts.push(extension(OID.keyUsage, o.keyUsageCritical ?? true, namedBits(ku)));
  const eku = o.extKeyUsage === undefined ? defaults.extKeyUsage : o.extKeyUsage;
  if (eku !== null) exts.push(extension(OID.extKeyUsage, false, seq(...eku.map(oid))));
  const uris = o.uris ?? defaults.uris;
  const dns = o.dnsNames ?? [];
  if (uris.length + dns.length > 0) {
    const names = [...uris.map((u) => tlv(0x86, Buffer.from(u, "latin1"))), ...dns.map((d) => tlv(0x82, Buffer.from(d, "latin1")))];
    exts.push(extension(OID.subjectAltName, o.sanCritical ?? subject === "", seq(...names)));
  }
  if (ski !== undefined) exts.push(extension(OID.subjectKeyIdentifier, false, octets(ski)));
  if (aki !== undefined) exts.push(extension(OID.authorityKeyIdentifier, false, seq(tlv(0x80, aki))));
  for (const e of o.extraExtensions ?? []) exts.push(extension(e.oid, e.critical ?? false, e.value));
  for (const raw of o.rawExtensions ?? []) exts.push(Buffer.from(raw));

  const signer = o.signWith ?? issuer?.privateKey ?? keys.privateKey;
  const alg = signatureAlgorithm(signer, o.signatureHash);
  const serial = o.serialNumber ?? BigInt(`0x${randomBytes(16).toString("hex")}`) >> 1n;
  const tbs = seq(
    explicit(0, integer(2)),
    integer(serial),
    alg.der,
    name(o.issuer ?? issuer?.subject ?? subject),
    seq(time(notBefore), time(notAfter)),
    name(subject),
    keys.publicKey.export({ type: "spki", format: "der" }),
    explicit(3, seq(...exts)),
  );
  const der = seq(tbs, alg.der, bitString(sign(alg.hash, tbs, signer)));
  return Object.freeze({ der, pem: derToPem(der, "CERTIFICATE"), subject, subjectKeyId: ski, notBefore, notAfter, ...keys });
}

export interface CreateTestCaOptions extends TestCertOptions {
  trustDomain: string | TrustDomain;
  /** Issue an intermediate under this CA instead of a self-signed root. */
  parent?: TestCa;
}

/** A root CA (or an intermediate when `parent` is set) following section 2's CA profile by default. */
export function createTestCa(options: CreateTestCaOptions): TestCa {
  const trustDomain = typeof options.trustDomain === "string" ? parseTrustDomain(options.trustDomain) : options.trustDomain;
  const now = options.now ?? Date.now();
  const parent = options.parent;
  const cert = issueTestCertificate(
    parent,
    {
      subject: `O=Spindle Test,CN=${trustDomain.name} ${parent === undefined ? "root" : "intermediate"} ${randomBytes(4).toString("hex")}`,
      notBefore: now - 60_000,
      notAfter: Math.min(now + 24 * 3600_000, parent?.notAfter ?? Infinity),
      uris: [trustDomain.id()],
      basicConstraints: { ca: true },
      keyUsage: KeyUsage.keyCertSign | KeyUsage.cRLSign,
      extKeyUsage: null,
    },
    options,
  );
  return Object.freeze({
    ...cert,
    trustDomain,
    parent,
    chainDer: parent === undefined ? [] : [cert.der, ...parent.chainDer],
    rootDer: parent === undefined ? cert.der : parent.rootDer,
  });
}

export interface TestSvid extends TestCertificate {
  readonly spiffeId: string;
  /** Leaf first, then the CA's intermediates; no root (the Workload API `x509_svid` order). */
  readonly chainDer: readonly Buffer[];
  readonly chainPem: string;
  /** Unencrypted PKCS#8 (the Workload API `x509_svid_key`). */
  readonly privateKeyDer: Buffer;
  readonly privateKeyPem: string;
}

/** An X.509-SVID following section 2's leaf profile by default, issued by `ca`. */
export function issueTestSvid(ca: TestCa, options: TestCertOptions & { spiffeId: string }): TestSvid {
  const now = options.now ?? Date.now();
  const cert = issueTestCertificate(
    ca,
    {
      subject: "O=Spindle Test",
      notBefore: now - 10_000,
      notAfter: Math.min(now + 3600_000, ca.notAfter),
      uris: [options.spiffeId],
      basicConstraints: { ca: false },
      keyUsage: KeyUsage.digitalSignature | KeyUsage.keyEncipherment | KeyUsage.keyAgreement,
      extKeyUsage: [EKU_SERVER_AUTH, EKU_CLIENT_AUTH],
    },
    options,
  );
  const chainDer = [cert.der, ...ca.chainDer];
  const privateKeyDer = cert.privateKey.export({ type: "pkcs8", format: "der" });
  return Object.freeze({
    ...cert,
    spiffeId: options.spiffeId,
    chainDer,
    chainPem: certsToPem(chainDer),
    privateKeyDer,
    privateKeyPem: derToPem(privateKeyDer, "PRIVATE KEY"),
  });
}
