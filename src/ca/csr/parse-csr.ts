// PKCS#10 certificate signing requests (RFC 2986) from agents: parse, check the key
// algorithm, verify the self-signature with node:crypto, and report what the CSR asks for. The
// CA decides what to sign from registration data; the CSR's own SANs are only reported.
import { createPublicKey, verify, type KeyObject } from "node:crypto";
import { SpindleError, spindleError } from "../../common/index.js";
import { isAcceptableWorkloadKey } from "../keys/index.js";
import { childrenOf, contentOf, rawOf, readElement, type DerElement } from "../x509/index.js";
import { der } from "../x509/index.js";

export interface ParsedCsr {
  publicKey: KeyObject;
  /** SubjectPublicKeyInfo DER exactly as in the CSR. */
  publicKeySpkiDer: Buffer;
  /** URI SANs of the extensionRequest attribute (PKCS#9, RFC 2985 5.4.2). */
  uriSans: string[];
  dnsNames: string[];
  /** basicConstraints cA=true was requested: never granted to a workload, callers reject or log it. */
  requestsCa: boolean;
}

const oidHex = (dotted: string) => der.oid(dotted).subarray(2).toString("hex");

// Accepted signature algorithms: SHA-2 ECDSA (RFC 5758 3.2) and PKCS#1 v1.5 RSA (RFC 8017).
// SHA-1 and anything else are refused.
const SIGNATURE_ALGORITHMS = new Map<string, { hash: string; keyType: "ec" | "rsa" }>([
  [oidHex("1.2.840.10045.4.3.2"), { hash: "sha256", keyType: "ec" }],
  [oidHex("1.2.840.10045.4.3.3"), { hash: "sha384", keyType: "ec" }],
  [oidHex("1.2.840.10045.4.3.4"), { hash: "sha512", keyType: "ec" }],
  [oidHex("1.2.840.113549.1.1.11"), { hash: "sha256", keyType: "rsa" }],
  [oidHex("1.2.840.113549.1.1.12"), { hash: "sha384", keyType: "rsa" }],
  [oidHex("1.2.840.113549.1.1.13"), { hash: "sha512", keyType: "rsa" }],
]);
const EXTENSION_REQUEST = oidHex("1.2.840.113549.1.9.14");
const SAN = oidHex("2.5.29.17");
const BASIC_CONSTRAINTS = oidHex("2.5.29.19");

const invalid = (why: string, cause?: unknown) =>
  spindleError("ERR_CSR_INVALID", `invalid certificate signing request: ${why}`, cause === undefined ? {} : { cause });

function expect(el: DerElement | undefined, tag: number, what: string): DerElement {
  if (el === undefined || el.tag !== tag) throw invalid(`expected ${what}`);
  return el;
}

interface RequestedExtensions {
  uriSans: string[];
  dnsNames: string[];
  requestsCa: boolean;
}

function readExtensionRequest(buf: Buffer, attributes: DerElement): RequestedExtensions {
  const out: RequestedExtensions = { uriSans: [], dnsNames: [], requestsCa: false };
  for (const attr of childrenOf(buf, attributes)) {
    const [type, values] = childrenOf(buf, expect(attr, 0x30, "Attribute"));
    if (contentOf(buf, expect(type, 0x06, "attribute type")).toString("hex") !== EXTENSION_REQUEST) continue;
    for (const exts of childrenOf(buf, expect(values, 0x31, "attribute values"))) {
      for (const ext of childrenOf(buf, expect(exts, 0x30, "Extensions"))) {
        const parts = childrenOf(buf, expect(ext, 0x30, "Extension"));
        const id = contentOf(buf, expect(parts[0], 0x06, "extnID")).toString("hex");
        const value = contentOf(buf, expect(parts[parts.length - 1], 0x04, "extnValue"));
        if (id === SAN) {
          for (const name of childrenOf(value, expect(readElement(value), 0x30, "GeneralNames"))) {
            if (name.tag === 0x86) out.uriSans.push(contentOf(value, name).toString("latin1"));
            else if (name.tag === 0x82) out.dnsNames.push(contentOf(value, name).toString("latin1"));
          }
        } else if (id === BASIC_CONSTRAINTS) {
          const [first] = childrenOf(value, expect(readElement(value), 0x30, "BasicConstraints"));
          out.requestsCa = first !== undefined && first.tag === 0x01 && value[first.contentStart] !== 0;
        }
      }
    }
  }
  return out;
}

/** Parses and verifies a DER CSR. Throws ERR_CSR_INVALID, ERR_CSR_SIGNATURE or ERR_KEY_UNSUPPORTED. */
export function parseAndVerifyCsr(input: Uint8Array): ParsedCsr {
  const buf = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  try {
    const outer = expect(readElement(buf), 0x30, "CertificationRequest SEQUENCE");
    if (outer.end !== buf.length) throw invalid("trailing bytes after the request");
    const [info, algId, sig] = childrenOf(buf, outer);
    const [version, , spkiEl, attributes] = childrenOf(buf, expect(info, 0x30, "CertificationRequestInfo"));
    if (contentOf(buf, expect(version, 0x02, "version")).toString("hex") !== "00") throw invalid("version must be 0 (v1)");
    const spki = rawOf(buf, expect(spkiEl, 0x30, "SubjectPublicKeyInfo"));
    const algOid = contentOf(buf, expect(childrenOf(buf, expect(algId, 0x30, "AlgorithmIdentifier"))[0], 0x06, "algorithm OID")).toString("hex");
    const alg = SIGNATURE_ALGORITHMS.get(algOid);
    if (alg === undefined) throw invalid("unsupported signature algorithm (SHA-256/384/512 with ECDSA or RSA PKCS#1 v1.5 only)");
    const sigBits = expect(sig, 0x03, "signature BIT STRING");
    if (buf[sigBits.contentStart] !== 0) throw invalid("signature BIT STRING has unused bits");
    let publicKey: KeyObject;
    try {
      publicKey = createPublicKey({ key: spki, format: "der", type: "spki" });
    } catch (err) {
      throw invalid("the public key cannot be decoded", err);
    }
    if (!isAcceptableWorkloadKey(publicKey)) {
      const d = publicKey.asymmetricKeyDetails;
      throw spindleError("ERR_KEY_UNSUPPORTED", `CSR key ${publicKey.asymmetricKeyType ?? "?"}${d?.namedCurve ? " " + d.namedCurve : ""}${d?.modulusLength ? ` ${d.modulusLength} bits` : ""} is not allowed: use EC P-256/P-384 or RSA >= 2048 bits`);
    }
    if (publicKey.asymmetricKeyType !== alg.keyType) throw invalid(`signature algorithm does not match the ${publicKey.asymmetricKeyType} key`);
    const ok = verify(alg.hash, rawOf(buf, info!), publicKey, buf.subarray(sigBits.contentStart + 1, sigBits.end));
    if (!ok) throw spindleError("ERR_CSR_SIGNATURE", "certificate signing request signature does not verify with its public key");
    const requested = attributes === undefined ? { uriSans: [], dnsNames: [], requestsCa: false } : readExtensionRequest(buf, expect(attributes, 0xa0, "attributes [0]"));
    return { publicKey, publicKeySpkiDer: spki, ...requested };
  } catch (err) {
    if (err instanceof SpindleError && err.code !== "ERR_PEM_INVALID") throw err;
    throw invalid(err instanceof Error ? err.message : String(err), err);
  }
}
