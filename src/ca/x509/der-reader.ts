// A minimal DER reader: just enough to pull raw pieces (subject name, SPKI bit string, extension
// values) out of certificates we load (upstream CAs, our own journal). Strict about lengths so a
// truncated or malformed input is reported, never read past.
import { spindleError } from "../../common/index.js";

export interface DerElement {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  /** Offset just past the element. */
  end: number;
}

const malformed = (what: string) => spindleError("ERR_PEM_INVALID", `malformed DER: ${what}`);

/** Reads the element starting at `offset` (single-byte tags only, as in X.509). */
export function readElement(buf: Uint8Array, offset = 0, limit = buf.length): DerElement {
  if (offset + 2 > limit) throw malformed("truncated header");
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw malformed("multi-byte tag");
  const first = buf[offset + 1]!;
  let length: number;
  let contentStart: number;
  if (first < 0x80) {
    length = first;
    contentStart = offset + 2;
  } else {
    const n = first & 0x7f;
    if (n === 0 || n > 4) throw malformed("unsupported length form");
    if (offset + 2 + n > limit) throw malformed("truncated length");
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + buf[offset + 2 + i]!;
    contentStart = offset + 2 + n;
  }
  const end = contentStart + length;
  if (end > limit) throw malformed("element runs past its container");
  return { tag, start: offset, contentStart, end };
}

/** The elements inside a constructed element. */
export function childrenOf(buf: Uint8Array, el: DerElement): DerElement[] {
  const out: DerElement[] = [];
  for (let off = el.contentStart; off < el.end; ) {
    const child = readElement(buf, off, el.end);
    out.push(child);
    off = child.end;
  }
  return out;
}

export const rawOf = (buf: Uint8Array, el: DerElement): Buffer => Buffer.from(buf.subarray(el.start, el.end));
export const contentOf = (buf: Uint8Array, el: DerElement): Buffer => Buffer.from(buf.subarray(el.contentStart, el.end));

/** The pieces of a certificate (RFC 5280 4.1) that issuing from or chaining to it needs. */
export interface CertificateParts {
  tbs: Buffer;
  serial: Buffer;
  issuer: Buffer;
  subject: Buffer;
  spki: Buffer;
  /** extnID (DER OID content, hex) -> { critical, value (extnValue content) }. */
  extensions: Map<string, { critical: boolean; value: Buffer }>;
}

export function parseCertificateParts(der: Uint8Array): CertificateParts {
  const cert = readElement(der);
  if (cert.tag !== 0x30 || cert.end !== der.length) throw malformed("certificate is not one SEQUENCE");
  const [tbsEl] = childrenOf(der, cert);
  if (tbsEl === undefined || tbsEl.tag !== 0x30) throw malformed("missing TBSCertificate");
  const kids = childrenOf(der, tbsEl);
  const i = kids[0]?.tag === 0xa0 ? 1 : 0;
  const [serial, , issuer, , subject, spki] = kids.slice(i);
  if (serial === undefined || issuer === undefined || subject === undefined || spki === undefined) throw malformed("TBSCertificate too short");
  const extensions = new Map<string, { critical: boolean; value: Buffer }>();
  const extsWrapper = kids.find((k) => k.tag === 0xa3);
  if (extsWrapper !== undefined) {
    const [list] = childrenOf(der, extsWrapper);
    if (list === undefined) throw malformed("empty extensions wrapper");
    for (const ext of childrenOf(der, list)) {
      const parts = childrenOf(der, ext);
      const id = parts[0];
      const critical = parts.length === 3 && der[parts[1]!.contentStart] !== 0;
      const value = parts[parts.length - 1];
      if (id === undefined || value === undefined || id.tag !== 0x06 || value.tag !== 0x04) throw malformed("bad extension");
      extensions.set(contentOf(der, id).toString("hex"), { critical, value: contentOf(der, value) });
    }
  }
  return {
    tbs: rawOf(der, tbsEl),
    serial: contentOf(der, serial),
    issuer: rawOf(der, issuer),
    subject: rawOf(der, subject),
    spki: rawOf(der, spki),
    extensions,
  };
}

/** The subjectPublicKey BIT STRING contents (without the unused-bits octet) of an SPKI. */
export function spkiPublicKeyBits(spki: Uint8Array): Buffer {
  const outer = readElement(spki);
  const [, bits] = childrenOf(spki, outer);
  if (bits === undefined || bits.tag !== 0x03) throw malformed("SubjectPublicKeyInfo without a BIT STRING");
  return Buffer.from(spki.subarray(bits.contentStart + 1, bits.end));
}
