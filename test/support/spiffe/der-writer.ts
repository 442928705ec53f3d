// A small DER writer for building test certificates, including deliberately wrong ones. Test-only.

export function tlv(tag: number, ...parts: Uint8Array[]): Buffer {
  const body = Buffer.concat(parts);
  const n = body.length;
  let header: number[];
  if (n < 0x80) header = [tag, n];
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    header = [tag, 0x80 | bytes.length, ...bytes];
  }
  return Buffer.concat([Buffer.from(header), body]);
}

export const seq = (...parts: Uint8Array[]): Buffer => tlv(0x30, ...parts);
export const set = (...parts: Uint8Array[]): Buffer => tlv(0x31, ...parts);
export const octets = (bytes: Uint8Array): Buffer => tlv(0x04, bytes);
export const bool = (value: boolean): Buffer => tlv(0x01, Buffer.from([value ? 0xff : 0x00]));
export const nullValue = (): Buffer => tlv(0x05);
export const explicit = (n: number, inner: Uint8Array): Buffer => tlv(0xa0 | n, inner);

/** A non-negative INTEGER. */
export function integer(value: bigint | number): Buffer {
  let hex = BigInt(value).toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let bytes = Buffer.from(hex, "hex");
  if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return tlv(0x02, bytes);
}

export function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split(".").map(Number);
  const out: number[] = [];
  for (const n of [a! * 40 + b!, ...rest]) {
    const chunk: number[] = [n & 0x7f];
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** BIT STRING of named bits where bit n = 1 << n (keyUsage), minimal length per DER. */
export function namedBits(mask: number): Buffer {
  const bytes: number[] = [];
  for (let n = 0; mask >> n; n++) {
    if (mask & (1 << n)) {
      while (bytes.length <= n >> 3) bytes.push(0);
      bytes[n >> 3]! |= 0x80 >> (n & 7);
    }
  }
  let unused = 0;
  const last = bytes[bytes.length - 1];
  if (last !== undefined) while (!(last & (1 << unused))) unused++;
  return tlv(0x03, Buffer.from([unused, ...bytes]));
}

export const bitString = (bytes: Uint8Array): Buffer => tlv(0x03, Buffer.from([0]), bytes);

/** UTCTime before 2050, GeneralizedTime from 2050 on (RFC 5280 4.1.2.5). Whole seconds. */
export function time(ms: number): Buffer {
  const iso = new Date(Math.floor(ms / 1000) * 1000).toISOString(); // 2026-01-01T00:00:00.000Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, "");
  const year = Number(iso.slice(0, 4));
  return year < 2050 ? tlv(0x17, Buffer.from(`${digits.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${digits}Z`));
}

const NAME_ATTRIBUTES: Record<string, string> = { CN: "2.5.4.3", O: "2.5.4.10", OU: "2.5.4.11", C: "2.5.4.6", L: "2.5.4.7", ST: "2.5.4.8" };

/** A Name from `CN=a,O=b` (one attribute per RDN, UTF8String values); `""` is the empty Name. */
export function name(dn: string): Buffer {
  if (dn === "") return seq();
  return seq(
    ...dn.split(",").map((part) => {
      const eq = part.indexOf("=");
      const key = part.slice(0, eq).trim().toUpperCase();
      const type = NAME_ATTRIBUTES[key];
      if (eq < 1 || type === undefined) throw new TypeError(`name: unsupported attribute in ${JSON.stringify(dn)}`);
      return set(seq(oid(type), tlv(0x0c, Buffer.from(part.slice(eq + 1).trim(), "utf8"))));
    }),
  );
}
