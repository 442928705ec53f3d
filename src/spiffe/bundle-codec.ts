// SPIFFE bundle documents (SPIFFE Trust Domain and Bundle standard, section 4) and the Workload API
// bundle encodings (Workload API standard, sections 5-6). Decoding treats the document as
// untrusted: every problem is ERR_BUNDLE_INVALID with the JSON path, except what section 4.2 says
// consumers ignore (unknown `use` or `kty`).
import { X509Certificate, createPublicKey } from "node:crypto";
import type { JWK } from "jose";
import { spindleError } from "../common/errors.js";
import { concatDer } from "../common/pem.js";
import { createBundle, privateJwkMembers, type Bundle } from "./bundle.js";
import type { TrustDomain } from "./trust-domain.js";

export const USE_X509_SVID = "x509-svid";
export const USE_JWT_SVID = "jwt-svid";
// Asymmetric JWK key types; anything else (including `oct`) can never be an authority.
const KNOWN_KTY = new Set(["EC", "RSA", "OKP"]);
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function invalid(td: TrustDomain, path: string, why: string, cause?: unknown): never {
  throw spindleError("ERR_BUNDLE_INVALID", `invalid SPIFFE bundle for trust domain "${td.name}": ${path}: ${why}`, {
    cause,
    details: { trustDomain: td.name, path },
  });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function optionalCount(td: TrustDomain, doc: Record<string, unknown>, member: string): number | undefined {
  const value = doc[member];
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    invalid(td, `$.${member}`, `must be a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

function decodeX509Authority(td: TrustDomain, key: Record<string, unknown>, path: string): Buffer {
  const x5c = key["x5c"];
  if (!Array.isArray(x5c) || x5c.length === 0) invalid(td, `${path}.x5c`, "an x509-svid key needs a non-empty x5c array");
  // Section 4 says exactly one certificate; a longer array is tolerated and only the first is the
  // authority, as the official consumers do.
  const first: unknown = x5c[0];
  if (typeof first !== "string" || first === "" || !BASE64_RE.test(first)) invalid(td, `${path}.x5c[0]`, "is not a base64 string");
  const der = Buffer.from(first, "base64");
  try {
    new X509Certificate(der);
  } catch (err) {
    invalid(td, `${path}.x5c[0]`, "is not a DER certificate", err);
  }
  return der;
}

function decodeJwtAuthority(td: TrustDomain, key: Record<string, unknown>, path: string): [string, JWK] {
  const kid = key["kid"];
  if (typeof kid !== "string" || kid === "") invalid(td, `${path}.kid`, "a jwt-svid key needs a non-empty kid");
  try {
    createPublicKey({ key: key as JWK & { kty: string }, format: "jwk" });
  } catch (err) {
    invalid(td, path, `is not a usable ${String(key["kty"])} public key`, err);
  }
  return [kid, key as JWK];
}

/**
 * Parses a SPIFFE bundle document for `trustDomain`. Keys with an unknown `use` or `kty` are
 * skipped (section 4); an empty `keys` array is valid and trusts nothing.
 */
export function decodeSpiffeBundle(trustDomain: TrustDomain, document: string | Uint8Array): Bundle {
  let doc: unknown;
  try {
    doc = JSON.parse(typeof document === "string" ? document : Buffer.from(document).toString("utf8"));
  } catch (err) {
    invalid(trustDomain, "$", "is not JSON", err);
  }
  if (!isObject(doc)) invalid(trustDomain, "$", "must be a JSON object");
  const keys = doc["keys"];
  if (!Array.isArray(keys)) invalid(trustDomain, "$.keys", "must be an array");

  const x509: Buffer[] = [];
  const jwt = new Map<string, JWK>();
  keys.forEach((key: unknown, i) => {
    const path = `$.keys[${i}]`;
    if (!isObject(key)) invalid(trustDomain, path, "must be an object");
    if (typeof key["kty"] !== "string" || !KNOWN_KTY.has(key["kty"])) return;
    const priv = privateJwkMembers(key);
    if (priv.length > 0) invalid(trustDomain, path, `holds private key members (${priv.join(", ")})`);
    if (key["use"] === USE_X509_SVID) {
      x509.push(decodeX509Authority(trustDomain, key, path));
    } else if (key["use"] === USE_JWT_SVID) {
      const [kid, jwk] = decodeJwtAuthority(trustDomain, key, path);
      // Two different keys under one kid would make verification depend on document order.
      if (jwt.has(kid)) invalid(trustDomain, `${path}.kid`, `duplicate kid ${JSON.stringify(kid)}`);
      jwt.set(kid, jwk);
    }
  });
  return createBundle({
    trustDomain,
    x509Authorities: x509,
    jwtAuthorities: jwt,
    sequenceNumber: optionalCount(trustDomain, doc, "spiffe_sequence"),
    refreshHintSeconds: optionalCount(trustDomain, doc, "spiffe_refresh_hint"),
  });
}

/** The public key of a DER certificate as a JWK (kty and key members only). */
function certificateJwk(der: Uint8Array): JWK {
  return new X509Certificate(der).publicKey.export({ format: "jwk" }) as JWK;
}

/** Encodes a bundle as a SPIFFE bundle document (section 4): x509 keys carry x5c and no kid. */
export function encodeSpiffeBundle(bundle: Bundle): string {
  const keys: JWK[] = [];
  for (const der of bundle.x509Authorities) {
    keys.push({ ...certificateJwk(der), use: USE_X509_SVID, x5c: [Buffer.from(der).toString("base64")] });
  }
  for (const [kid, jwk] of bundle.jwtAuthorities) keys.push({ ...jwk, use: USE_JWT_SVID, kid });
  const doc: Record<string, unknown> = { keys };
  if (bundle.sequenceNumber !== undefined) doc["spiffe_sequence"] = bundle.sequenceNumber;
  if (bundle.refreshHintSeconds !== undefined) doc["spiffe_refresh_hint"] = bundle.refreshHintSeconds;
  return JSON.stringify(doc);
}

/** Workload API X.509 bundle value (section 5): the CA certificates' DER, concatenated. */
export function encodeX509BundleDer(bundle: Bundle): Buffer {
  return concatDer(bundle.x509Authorities);
}

/** Workload API JWT bundle value (section 5): a plain JWKS in which every key has its `kid`. */
export function encodeJwtBundleJwks(bundle: Bundle): string {
  return JSON.stringify({ keys: [...bundle.jwtAuthorities].map(([kid, jwk]) => ({ ...jwk, kid })) });
}
