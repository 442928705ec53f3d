// A small DER encoder (ITU-T X.690 section 10) for the values certificates need. It works on
// byte buffers only, so the minting hot path is concatenation of precomputed parts plus a few
// headers, with no ASN.1 object model in between.

/** Universal and context tags used by X.509 (X.690 section 8, RFC 5280 section 4.1). */
export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Definite-length header (X.690 8.1.3): short form below 128, long form otherwise. */
export function header(tag: number, length: number): Buffer {
  if (!Number.isInteger(length) || length < 0) throw new TypeError(`DER length must be a non-negative integer, got ${length}`);
  if (length < 0x80) return Buffer.from([tag, length]);
  if (length < 0x100) return Buffer.from([tag, 0x81, length]);
  if (length < 0x10000) return Buffer.from([tag, 0x82, length >> 8, length & 0xff]);
  if (length < 0x1000000) return Buffer.from([tag, 0x83, length >> 16, (length >> 8) & 0xff, length & 0xff]);
  throw new TypeError(`DER value too long (${length} bytes)`);
}

/** Tag-length-value of already-encoded content parts. */
export function tlv(tag: number, ...content: Uint8Array[]): Buffer {
  let len = 0;
  for (const c of content) len += c.length;
  return Buffer.concat([header(tag, len), ...content], len + (len < 0x80 ? 2 : len < 0x100 ? 3 : len < 0x10000 ? 4 : 5));
}

export const sequence = (...parts: Uint8Array[]): Buffer => tlv(Tag.SEQUENCE, ...parts);
export const set = (...parts: Uint8Array[]): Buffer => tlv(Tag.SET, ...parts);

/** [n] EXPLICIT (constructed context tag, X.690 8.14). */
export const explicit = (n: number, ...parts: Uint8Array[]): Buffer => tlv(0xa0 | n, ...parts);

/** [n] IMPLICIT on a primitive value (context tag, primitive). */
export const implicitPrimitive = (n: number, content: Uint8Array): Buffer => tlv(0x80 | n, content);

export const booleanValue = (v: boolean): Buffer => Buffer.from([Tag.BOOLEAN, 1, v ? 0xff : 0x00]);
export const nullValue = (): Buffer => Buffer.from([Tag.NULL, 0]);
export const octetString = (content: Uint8Array): Buffer => tlv(Tag.OCTET_STRING, content);

/** BIT STRING with a leading unused-bits octet (X.690 8.6.2). */
export const bitString = (content: Uint8Array, unusedBits = 0): Buffer => tlv(Tag.BIT_STRING, Buffer.from([unusedBits]), content);

/**
 * Named-bit-list BIT STRING (keyUsage): DER drops trailing zero bits (X.690 11.2.2), so the
 * unused-bits count is the number of zero bits after the highest set bit in the last octet.
 */
export function namedBits(bits: readonly number[]): Buffer {
  if (bits.length === 0) return bitString(Buffer.alloc(0));
  const highest = Math.max(...bits);
  const bytes = Buffer.alloc((highest >> 3) + 1);
  for (const b of bits) bytes[b >> 3]! |= 0x80 >> (b & 7);
  return bitString(bytes, 7 - (highest & 7));
}

/** INTEGER from a non-negative JS integer (small values: versions, path lengths). */
export function smallInteger(n: number): Buffer {
  if (!Number.isSafeInteger(n) || n < 0) throw new TypeError(`smallInteger expects a safe non-negative integer, got ${n}`);
  const bytes: number[] = [];
  let v = n;
  do {
    bytes.unshift(v & 0xff);
    v = Math.floor(v / 256);
  } while (v > 0);
  if (bytes[0]! & 0x80) bytes.unshift(0);
  return tlv(Tag.INTEGER, Buffer.from(bytes));
}

/** INTEGER from unsigned big-endian magnitude bytes: minimal, and positive (X.690 8.3.2). */
export function unsignedInteger(magnitude: Uint8Array): Buffer {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  const trimmed = magnitude.subarray(i);
  if (trimmed.length === 0) return Buffer.from([Tag.INTEGER, 1, 0]);
  return trimmed[0]! & 0x80 ? tlv(Tag.INTEGER, Buffer.from([0]), trimmed) : tlv(Tag.INTEGER, trimmed);
}

/** OBJECT IDENTIFIER from dotted form (X.690 8.19): base-128 arcs, first two arcs combined. */
export function oid(dotted: string): Buffer {
  const arcs = dotted.split(".").map((s) => {
    if (!/^\d+$/.test(s)) throw new TypeError(`invalid OID "${dotted}"`);
    return Number(s);
  });
  if (arcs.length < 2 || arcs[0]! > 2 || (arcs[0]! < 2 && arcs[1]! > 39)) throw new TypeError(`invalid OID "${dotted}"`);
  const out: number[] = [];
  const push = (v: number) => {
    const chunk = [v & 0x7f];
    for (let x = Math.floor(v / 128); x > 0; x = Math.floor(x / 128)) chunk.unshift((x & 0x7f) | 0x80);
    out.push(...chunk);
  };
  push(arcs[0]! * 40 + arcs[1]!);
  for (const a of arcs.slice(2)) push(a);
  return tlv(Tag.OID, Buffer.from(out));
}

export const utf8String = (s: string): Buffer => tlv(Tag.UTF8_STRING, Buffer.from(s, "utf8"));

export function printableString(s: string): Buffer {
  if (!/^[A-Za-z0-9 '()+,\-./:=?]*$/.test(s)) throw new TypeError(`"${s}" is not a PrintableString`);
  return tlv(Tag.PRINTABLE_STRING, Buffer.from(s, "ascii"));
}

/** IA5String content bytes (ASCII only; used bare under IMPLICIT tags such as GeneralName). */
export function ia5Bytes(s: string): Buffer {
  if (!/^[\x00-\x7f]*$/.test(s)) throw new TypeError(`"${s}" is not an IA5String`);
  return Buffer.from(s, "ascii");
}

export const ia5String = (s: string): Buffer => tlv(Tag.IA5_STRING, ia5Bytes(s));

const GENERALIZED_FROM = Date.UTC(2050, 0, 1);

/**
 * RFC 5280 4.1.2.5: UTCTime (YYMMDDHHMMSSZ) through 2049, GeneralizedTime (YYYYMMDDHHMMSSZ) from
 * 2050; whole seconds, always Zulu. Milliseconds are truncated.
 */
export function time(ms: number): Buffer {
  const d = new Date(Math.floor(ms / 1000) * 1000);
  const y = d.getUTCFullYear();
  if (y < 1950 || y > 9999) throw new TypeError(`certificate time out of range: ${d.toISOString()}`);
  const two = (n: number) => (n < 10 ? "0" + n : String(n));
  const rest = two(d.getUTCMonth() + 1) + two(d.getUTCDate()) + two(d.getUTCHours()) + two(d.getUTCMinutes()) + two(d.getUTCSeconds()) + "Z";
  if (ms < GENERALIZED_FROM) return tlv(Tag.UTC_TIME, Buffer.from(two(y % 100) + rest, "ascii"));
  return tlv(Tag.GENERALIZED_TIME, Buffer.from(String(y) + rest, "ascii"));
}
