// A minimal DER reader: just enough of X.690 to walk a certificate's TBSCertificate. Node's
// X509Certificate does not expose keyUsage bits, pathLen or raw names, and @peculiar/x509 needs a
// global Reflect polyfill, so the few fields SVID validation needs are read here.

export interface Tlv {
  readonly tag: number;
  /** Offset of the tag byte. */
  readonly start: number;
  /** Offset of the first content byte. */
  readonly contentStart: number;
  /** Offset just past the content. */
  readonly end: number;
}

export class DerError extends Error {
  override readonly name = "DerError";
}

/** Reads one TLV at `offset`, bounded by `limit`. Only definite lengths and low tag numbers (X.509 needs no more). */
export function readTlv(buf: Uint8Array, offset: number, limit = buf.length): Tlv {
  if (offset + 2 > limit) throw new DerError(`truncated header at offset ${offset}`);
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError(`high tag number at offset ${offset}`);
  const first = buf[offset + 1]!;
  let length = first;
  let header = 2;
  if (first & 0x80) {
    const n = first & 0x7f;
    if (n === 0 || n > 4) throw new DerError(`unsupported length encoding at offset ${offset}`);
    if (offset + 2 + n > limit) throw new DerError(`truncated length at offset ${offset}`);
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + buf[offset + 2 + i]!;
    header = 2 + n;
  }
  const end = offset + header + length;
  if (end > limit) throw new DerError(`element at offset ${offset} runs past its container`);
  return { tag, start: offset, contentStart: offset + header, end };
}

/** The elements inside a constructed TLV. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let off = parent.contentStart; off < parent.end; ) {
    const child = readTlv(buf, off, parent.end);
    out.push(child);
    off = child.end;
  }
  return out;
}

export function expectTag(tlv: Tlv | undefined, tag: number, what: string): Tlv {
  if (tlv === undefined) throw new DerError(`${what} is missing`);
  if (tlv.tag !== tag) throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, found 0x${tlv.tag.toString(16)}`);
  return tlv;
}

export function content(buf: Uint8Array, tlv: Tlv): Buffer {
  return Buffer.from(buf.buffer, buf.byteOffset + tlv.contentStart, tlv.end - tlv.contentStart);
}

export function whole(buf: Uint8Array, tlv: Tlv): Buffer {
  return Buffer.from(buf.buffer, buf.byteOffset + tlv.start, tlv.end - tlv.start);
}

export function decodeOid(bytes: Uint8Array): string {
  if (bytes.length === 0) throw new DerError("empty OBJECT IDENTIFIER");
  const parts: number[] = [];
  let value = 0;
  for (const b of bytes) {
    value = value * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) {
      parts.push(value);
      value = 0;
    }
  }
  if ((bytes[bytes.length - 1]! & 0x80) !== 0) throw new DerError("truncated OBJECT IDENTIFIER");
  const head = parts.shift()!;
  const first = head < 80 ? Math.floor(head / 40) : 2;
  return [first, head - first * 40, ...parts].join(".");
}

export function decodeBoolean(bytes: Uint8Array): boolean {
  if (bytes.length !== 1) throw new DerError("BOOLEAN must be one byte");
  return bytes[0] !== 0;
}

/** A non-negative INTEGER that fits in a JS number (pathLenConstraint). */
export function decodeSmallUnsigned(bytes: Uint8Array): number {
  if (bytes.length === 0 || bytes.length > 6 || (bytes[0]! & 0x80) !== 0) throw new DerError("INTEGER is negative or too large");
  let n = 0;
  for (const b of bytes) n = n * 256 + b;
  return n;
}

/** UTCTime (0x17, two-digit year per RFC 5280 4.1.2.5.1) or GeneralizedTime (0x18), as epoch ms. */
export function decodeTime(buf: Uint8Array, tlv: Tlv | undefined, what: string): number {
  if (tlv === undefined) throw new DerError(`${what} is missing`);
  const text = content(buf, tlv).toString("latin1");
  const m = tlv.tag === 0x17 ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text) : tlv.tag === 0x18 ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text) : null;
  if (m === null) throw new DerError(`${what}: unsupported time ${JSON.stringify(text)}`);
  let year = Number(m[1]);
  if (tlv.tag === 0x17) year += year < 50 ? 2000 : 1900;
  return Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
}
