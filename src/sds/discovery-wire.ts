// DiscoveryResponse written straight in protobuf wire format from resources encoded once (see
// BuildCache): a rotation sends the same Secret to thousands of SotW streams, and building and
// encoding the message tree per stream dominated the server's CPU per push. An embedded message
// field is its encoding, length-delimited, so this is byte-for-byte what
// toBinary(DiscoveryResponse) writes for these fields (a test checks it). One exact-size buffer.

// Tags (field number << 3 | wire type 2) of envoy.service.discovery.v3.DiscoveryResponse fields.
const VERSION_INFO = (1 << 3) | 2;
const RESOURCES = (2 << 3) | 2;
const TYPE_URL = (4 << 3) | 2;
const NONCE = (5 << 3) | 2;

export interface EncodedDiscoveryResponse {
  versionInfo: string;
  typeUrl: string;
  nonce: string;
  /** Each resource's Any, already encoded. */
  resources: readonly Uint8Array[];
}

export function encodeDiscoveryResponse(response: EncodedDiscoveryResponse): Buffer {
  const strings: [number, string, number][] = [
    [VERSION_INFO, response.versionInfo, Buffer.byteLength(response.versionInfo)],
    [TYPE_URL, response.typeUrl, Buffer.byteLength(response.typeUrl)],
    [NONCE, response.nonce, Buffer.byteLength(response.nonce)],
  ];
  let size = 0;
  for (const [, , n] of strings) size += 1 + varintSize(n) + n;
  for (const r of response.resources) size += 1 + varintSize(r.length) + r.length;
  const out = Buffer.allocUnsafe(size);
  let off = 0;
  const field = (tag: number, length: number) => {
    out[off++] = tag;
    off = writeVarint(out, off, length);
  };
  // Field order as toBinary writes them: 1, 2..., 4, 5.
  field(VERSION_INFO, strings[0]![2]);
  off += out.write(response.versionInfo, off, "utf8");
  for (const r of response.resources) {
    field(RESOURCES, r.length);
    out.set(r, off);
    off += r.length;
  }
  for (const [tag, value, n] of strings.slice(1)) {
    field(tag, n);
    off += out.write(value, off, "utf8");
  }
  return out;
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(buf: Buffer, off: number, n: number): number {
  while (n >= 0x80) {
    buf[off++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[off++] = n;
  return off;
}
