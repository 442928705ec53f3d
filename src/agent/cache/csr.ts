// PKCS#10 certificate signing requests (RFC 2986) for workload and agent keys. The request carries
// an empty subject and the SPIFFE ID as the only URI SAN (X509-SVID standard, section 2) inside a
// PKCS#9 extensionRequest attribute (RFC 2985 5.4.2), and is signed by the key it certifies. The
// server decides what to sign from registration data; the SAN only lets it cross-check. A few DER
// helpers (X.690) are enough here, so the agent does not depend on the CA's encoder.
import { constants, sign, type KeyObject } from "node:crypto";
import type { WorkloadKey } from "./workload-key.js";

function tlv(tag: number, ...parts: Uint8Array[]): Buffer {
  const content = Buffer.concat(parts);
  const n = content.length;
  let head: number[];
  if (n < 0x80) head = [tag, n];
  else if (n < 0x100) head = [tag, 0x81, n];
  else if (n < 0x10000) head = [tag, 0x82, n >> 8, n & 0xff];
  else head = [tag, 0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return Buffer.concat([Buffer.from(head), content]);
}

const seq = (...parts: Uint8Array[]): Buffer => tlv(0x30, ...parts);

function oid(dotted: string): Buffer {
  const arcs = dotted.split(".").map(Number);
  const bytes: number[] = [arcs[0]! * 40 + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const chunk: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}

const OID_EXTENSION_REQUEST = "1.2.840.113549.1.9.14";
const OID_SUBJECT_ALT_NAME = "2.5.29.17";

interface CsrAlgorithm {
  hash: "sha256" | "sha384";
  identifier: Buffer;
  rsa: boolean;
}

// ECDSA identifiers have no parameters (RFC 5758 3.2); RSA's carry an explicit NULL (RFC 4055 5).
function algorithmFor(key: WorkloadKey): CsrAlgorithm {
  switch (key.type) {
    case "ec-p256":
      return { hash: "sha256", identifier: seq(oid("1.2.840.10045.4.3.2")), rsa: false };
    case "ec-p384":
      return { hash: "sha384", identifier: seq(oid("1.2.840.10045.4.3.3")), rsa: false };
    case "rsa-2048":
      return { hash: "sha256", identifier: seq(oid("1.2.840.113549.1.1.11"), Buffer.from([0x05, 0x00])), rsa: true };
  }
}

function signWith(alg: CsrAlgorithm, privateKey: KeyObject, data: Buffer): Buffer {
  // node:crypto emits ECDSA signatures as the DER Ecdsa-Sig-Value that PKCS#10 expects.
  return alg.rsa ? sign(alg.hash, data, { key: privateKey, padding: constants.RSA_PKCS1_PADDING }) : sign(alg.hash, data, privateKey);
}

export interface CsrSubject {
  /** Becomes the only URI SAN. */
  spiffeId: string;
  dnsNames?: readonly string[];
}

/** A DER PKCS#10 request for `key` naming `subject.spiffeId` (and optional DNS names). */
export function buildCsr(subject: CsrSubject, key: WorkloadKey): Buffer {
  const names = [
    tlv(0x86, Buffer.from(subject.spiffeId, "latin1")),
    ...(subject.dnsNames ?? []).map((d) => tlv(0x82, Buffer.from(d, "latin1"))),
  ];
  // Critical because the subject is empty (RFC 5280 4.2.1.6).
  const san = seq(oid(OID_SUBJECT_ALT_NAME), Buffer.from([0x01, 0x01, 0xff]), tlv(0x04, seq(...names)));
  const attributes = tlv(0xa0, seq(oid(OID_EXTENSION_REQUEST), tlv(0x31, seq(san))));
  const info = seq(Buffer.from([0x02, 0x01, 0x00]), seq(), key.spkiDer, attributes);
  const alg = algorithmFor(key);
  const signature = signWith(alg, key.privateKey, info);
  return seq(info, alg.identifier, tlv(0x03, Buffer.from([0]), signature));
}
