// DER/PEM helpers. PEM parsing is strict about labels and base64 so garbage is reported, not
// silently skipped.
import { spindleError } from "./errors.js";

export interface PemBlock {
  label: string;
  der: Buffer;
}

const PEM_RE = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;

/** Encodes one DER value as PEM with 64-column lines. */
export function derToPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString("base64");
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** Parses every PEM block in `text`. Throws ERR_PEM_INVALID on mismatched labels or bad base64. */
export function parsePem(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  for (const m of text.matchAll(PEM_RE)) {
    const [, begin, body = "", end] = m;
    if (begin !== end) throw spindleError("ERR_PEM_INVALID", `PEM block "BEGIN ${begin}" ends with "END ${end}"`);
    const b64 = body.replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw spindleError("ERR_PEM_INVALID", `PEM block "${begin}" is not valid base64`);
    out.push({ label: begin!, der: Buffer.from(b64, "base64") });
  }
  return out;
}

/** Parses PEM text that must contain at least one block with the given label; returns their DER. */
export function pemToDers(text: string, label: string): Buffer[] {
  const blocks = parsePem(text).filter((b) => b.label === label);
  if (blocks.length === 0) throw spindleError("ERR_PEM_INVALID", `no "${label}" PEM block found`);
  return blocks.map((b) => b.der);
}

export function certsToPem(ders: readonly Uint8Array[]): string {
  return ders.map((d) => derToPem(d, "CERTIFICATE")).join("");
}

/**
 * Splits concatenated DER values (e.g. the Workload API's x509_svid or bundle fields) into the
 * individual DER elements by reading each top-level TLV header.
 */
export function splitConcatenatedDer(buf: Uint8Array): Buffer[] {
  const data = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: Buffer[] = [];
  let off = 0;
  while (off < data.length) {
    if (data.length - off < 2) throw spindleError("ERR_PEM_INVALID", "truncated DER element header");
    const first = data[off + 1]!;
    let len: number;
    let hdr: number;
    if (first < 0x80) {
      len = first;
      hdr = 2;
    } else {
      const n = first & 0x7f;
      if (n === 0 || n > 4 || off + 2 + n > data.length) throw spindleError("ERR_PEM_INVALID", "bad DER length encoding");
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + data[off + 2 + i]!;
      hdr = 2 + n;
    }
    if (off + hdr + len > data.length) throw spindleError("ERR_PEM_INVALID", "truncated DER element");
    out.push(data.subarray(off, off + hdr + len));
    off += hdr + len;
  }
  return out;
}

export function concatDer(ders: readonly Uint8Array[]): Buffer {
  return Buffer.concat(ders.map((d) => Buffer.from(d.buffer, d.byteOffset, d.byteLength)));
}
