// The X.509-SVID hot path (X509-SVID standard, sections 3.1 and 4). Everything that depends only on
// the issuing CA (issuer name, AKI, algorithm identifier, constant extensions, the fixed subject)
// is encoded once in createLeafMinter; a mint then encodes serial, validity, SPKI, SKI and SAN,
// concatenates, and makes one signature.
import { hash, randomFillSync, type KeyObject } from "node:crypto";
import { explicit, header, sequence, smallInteger, Tag, time } from "./der.js";
import { encodeSpki } from "./spki.js";
import { randomSerial, signCertificate, encodeName, type Issuer } from "./certificate.js";
import {
  KeyUsageBit,
  OID,
  authorityKeyIdentifier,
  basicConstraints,
  extKeyUsage,
  keyUsage,
  subjectAltName,
  subjectKeyIdentifier,
} from "./extensions.js";

/**
 * Leaf subject: a fixed `O=Spindle`. The SPIFFE ID lives only in the URI SAN; a non-empty subject
 * keeps TLS stacks that dislike empty subjects happy, and RFC 5280 4.2.1.6 then wants the SAN
 * extension non-critical.
 */
export const LEAF_SUBJECT_DER = encodeName([["O", "Spindle"]]);

/** Leaves start this long before "now" to absorb clock skew between servers and peers. */
export const LEAF_BACKDATE_MS = 10_000;

export interface LeafParams {
  spiffeId: string;
  publicKey: KeyObject;
  dnsNames: readonly string[];
  notBefore: number;
  notAfter: number;
}

export interface MintedLeaf {
  der: Buffer;
  serialHex: string;
}

export interface LeafMinter {
  mint(params: LeafParams): MintedLeaf;
}

/** Random bytes drawn from a refilled pool: one getrandom call per 256 serials. */
function createRandomPool(size = 4096) {
  const buf = Buffer.alloc(size);
  let off = size;
  return {
    take(n: number): Buffer {
      if (off + n > size) {
        randomFillSync(buf);
        off = 0;
      }
      const out = Buffer.from(buf.subarray(off, off + n));
      off += n;
      return out;
    },
  };
}

/** Remembers the encoding of the last whole second asked for. */
function createTimeCache() {
  let second = NaN;
  let encoded: Buffer = Buffer.alloc(0);
  return (ms: number): Buffer => {
    const s = Math.floor(ms / 1000);
    if (s !== second) {
      encoded = time(ms);
      second = s;
    }
    return encoded;
  };
}

export function createLeafMinter(issuer: Issuer): LeafMinter {
  const version = explicit(0, smallInteger(2));
  const algorithm = issuer.algorithm.identifierDer;
  const issuerName = issuer.nameDer;
  const subject = LEAF_SUBJECT_DER;
  // cA=false, keyUsage digitalSignature (+keyEncipherment for RSA keys, which TLS 1.2 RSA key
  // exchange needs), EKU serverAuth+clientAuth, AKI: identical for every leaf of this issuer.
  const constantEc = Buffer.concat([
    basicConstraints(false),
    keyUsage([KeyUsageBit.digitalSignature]),
    extKeyUsage([OID.serverAuth, OID.clientAuth]),
    authorityKeyIdentifier(issuer.ski),
  ]);
  const constantRsa = Buffer.concat([
    basicConstraints(false),
    keyUsage([KeyUsageBit.digitalSignature, KeyUsageBit.keyEncipherment]),
    extKeyUsage([OID.serverAuth, OID.clientAuth]),
    authorityKeyIdentifier(issuer.ski),
  ]);
  const pool = createRandomPool();
  // Mints arrive in bursts (a batch of CSRs) within the same second: reuse the last encodings.
  const timeCache = { notBefore: createTimeCache(), notAfter: createTimeCache() };

  return {
    mint(p) {
      if (p.notAfter > issuer.notAfter) throw new TypeError("leaf notAfter is past the issuer's notAfter");
      if (p.notAfter <= p.notBefore) throw new TypeError("leaf notAfter must be after notBefore");
      const spki = encodeSpki(p.publicKey);
      const ski = hash("sha1", spki.publicKeyBits, "buffer");
      const serial = randomSerial(pool);
      const exts = Buffer.concat([
        p.publicKey.asymmetricKeyType === "rsa" ? constantRsa : constantEc,
        subjectKeyIdentifier(ski),
        subjectAltName([p.spiffeId], p.dnsNames, false),
      ]);
      const extsSeq = header(Tag.SEQUENCE, exts.length);
      const extsWrapper = header(0xa3, extsSeq.length + exts.length);
      const parts = [version, serial.der, algorithm, issuerName, sequence(timeCache.notBefore(p.notBefore), timeCache.notAfter(p.notAfter)), subject, spki.der, extsWrapper, extsSeq, exts];
      const tbs = sequence(...parts);
      return { der: signCertificate(tbs, issuer), serialHex: serial.hex };
    },
  };
}
