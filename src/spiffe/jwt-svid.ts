// JWT-SVID validation (JWT-SVID standard, section 4 and appendix A). The header and claims are read
// before the signature only to choose the key: `sub` picks the trust domain, `kid` the key in THAT
// domain's bundle. Every claim check happens after the signature verifies.
import { compactVerify, errors as joseErrors, importJWK, type JWK } from "jose";
import { SpindleError, spindleError, type ErrorCode } from "../common/errors.js";
import { findDuplicateMemberName } from "../common/json-members.js";
import type { BundleSource } from "./bundle.js";
import { parseSpiffeId, type SpiffeId } from "./spiffe-id.js";

/** Section 3: the only accepted `alg` values (never `none` or HS*). */
export const JWT_SVID_ALGORITHMS: readonly string[] = Object.freeze(["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512"]);
/** Default clock skew tolerance for exp/nbf/iat ("small leeway", section 3). */
export const DEFAULT_JWT_LEEWAY_SECONDS = 30;
/** Tokens longer than this are refused before any parsing. */
export const MAX_JWT_LENGTH = 64 * 1024;

const COMPACT_RE = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)$/;

export interface ValidateJwtSvidOptions {
  /** The audience this validator accepts; `aud` must contain it. */
  audience: string;
  /** Epoch milliseconds. */
  now: number;
  leewaySeconds?: number;
}

export interface JwtSvidInfo {
  readonly spiffeId: SpiffeId;
  /** Every claim, as signed. */
  readonly claims: Readonly<Record<string, unknown>>;
  readonly header: Readonly<Record<string, unknown>>;
  readonly audience: readonly string[];
  /** `exp` in epoch milliseconds. */
  readonly expiresAt: number;
}

function reject(code: ErrorCode, why: string, cause?: unknown): never {
  throw spindleError(code, `JWT-SVID invalid: ${why}`, { cause });
}

function decodeJsonPart(part: string, what: string): Record<string, unknown> {
  const text = Buffer.from(part, "base64url").toString("utf8");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    reject("ERR_JWT_MALFORMED", `the ${what} is not base64url JSON`, err);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) reject("ERR_JWT_MALFORMED", `the ${what} is not a JSON object`);
  // RFC 7515 section 4 and RFC 7519 section 4: names must be unique; a parser either refuses
  // duplicates or keeps the last one. Keeping one would let a token carry two `aud` or `sub`
  // values that different validators read differently, so it is refused.
  const duplicate = findDuplicateMemberName(text);
  if (duplicate !== undefined) reject("ERR_JWT_MALFORMED", `the ${what} has the member ${JSON.stringify(duplicate)} more than once`);
  return value as Record<string, unknown>;
}

/**
 * Decodes the header and claims of a compact JWS without verifying anything else: the shape
 * checks every validator (the agent's and a client's) makes before trusting any member.
 * Throws ERR_JWT_MALFORMED.
 */
export function decodeJwtSvidParts(token: string): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  if (typeof token !== "string" || token.length > MAX_JWT_LENGTH) reject("ERR_JWT_MALFORMED", `token must be a string of at most ${MAX_JWT_LENGTH} characters`);
  const m = COMPACT_RE.exec(token);
  if (m === null) reject("ERR_JWT_MALFORMED", "not a JWS compact serialization (three base64url parts separated by '.')");
  return { header: decodeJsonPart(m[1]!, "header"), claims: decodeJsonPart(m[2]!, "payload") };
}

/** NumericDate (seconds) for messages; raw when outside Date's range. */
function at(seconds: number): string {
  const d = new Date(seconds * 1000);
  return Number.isNaN(d.getTime()) ? String(seconds) : d.toISOString();
}

function numericClaim(claims: Record<string, unknown>, name: string, required: boolean): number | undefined {
  const value = claims[name];
  if (value === undefined && !required) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value)) {
    reject("ERR_JWT_CLAIM_MISSING", value === undefined ? `claim "${name}" is missing` : `claim "${name}" must be a NumericDate, got ${JSON.stringify(value)}`);
  }
  return value;
}

function audienceClaim(claims: Record<string, unknown>): string[] {
  const aud = claims["aud"];
  const list = typeof aud === "string" ? [aud] : Array.isArray(aud) && aud.every((a) => typeof a === "string") ? (aud as string[]) : undefined;
  if (list === undefined || list.length === 0) {
    reject("ERR_JWT_CLAIM_MISSING", aud === undefined ? `claim "aud" is missing` : `claim "aud" must be a string or a non-empty array of strings`);
  }
  return list;
}

async function verifySignature(token: string, jwk: Readonly<JWK>, alg: string, kid: string, td: string): Promise<void> {
  if (jwk.alg !== undefined && jwk.alg !== alg) reject("ERR_JWT_ALG", `alg ${alg} does not match alg ${jwk.alg} of key "${kid}" in the bundle of "${td}"`);
  let key: Awaited<ReturnType<typeof importJWK>>;
  try {
    key = await importJWK({ ...jwk }, alg);
  } catch (err) {
    reject("ERR_JWT_ALG", `alg ${alg} cannot be used with the ${String(jwk.kty)} key "${kid}" in the bundle of "${td}"`, err);
  }
  try {
    await compactVerify(token, key, { algorithms: [alg] });
  } catch (err) {
    if (err instanceof joseErrors.JWSSignatureVerificationFailed) reject("ERR_JWT_SIGNATURE", `signature does not verify with key "${kid}" of "${td}"`, err);
    reject("ERR_JWT_MALFORMED", `not a valid JWS: ${(err as Error).message}`, err);
  }
}

/** Validates a JWT-SVID (compact JWS). Throws SpindleError with ERR_JWT_* (ERR_SPIFFE_ID_* for a bad `sub`). */
export async function validateJwtSvid(token: string, bundles: BundleSource, options: ValidateJwtSvidOptions): Promise<JwtSvidInfo> {
  if (typeof options.audience !== "string" || options.audience === "") throw new TypeError("validateJwtSvid: audience must be a non-empty string");
  const leeway = options.leewaySeconds ?? DEFAULT_JWT_LEEWAY_SECONDS;
  const { header, claims } = decodeJwtSvidParts(token);

  const alg = header["alg"];
  if (typeof alg !== "string" || !JWT_SVID_ALGORITHMS.includes(alg)) reject("ERR_JWT_ALG", `alg ${JSON.stringify(alg)} is not one of ${JWT_SVID_ALGORITHMS.join(", ")}`);
  const typ = header["typ"];
  if (typ !== undefined && typ !== "JWT" && typ !== "JOSE") reject("ERR_JWT_TYP", `typ ${JSON.stringify(typ)} is neither JWT nor JOSE`);
  const kid = header["kid"];
  if (typeof kid !== "string" || kid === "") reject("ERR_JWT_KID_MISSING", "the header has no kid");

  const sub = claims["sub"];
  if (typeof sub !== "string") reject("ERR_JWT_CLAIM_MISSING", sub === undefined ? `claim "sub" is missing` : `claim "sub" must be a string`);
  let spiffeId: SpiffeId;
  try {
    spiffeId = parseSpiffeId(sub);
  } catch (err) {
    if (!(err instanceof SpindleError)) throw err;
    throw spindleError(err.code, `JWT-SVID invalid: claim "sub" is not a SPIFFE ID: ${err.message}`, { cause: err });
  }
  const td = spiffeId.trustDomain.name;
  const bundle = bundles.getBundle(spiffeId.trustDomain);
  if (bundle === undefined) reject("ERR_JWT_NO_BUNDLE", `no bundle for trust domain "${td}" (from sub ${spiffeId})`);
  const jwk = bundle.jwtAuthorities.get(kid);
  if (jwk === undefined) reject("ERR_JWT_KID_UNKNOWN", `kid ${JSON.stringify(kid)} is not a JWT authority of trust domain "${td}"`);
  await verifySignature(token, jwk, alg, kid, td);

  const nowSeconds = options.now / 1000;
  const exp = numericClaim(claims, "exp", true)!;
  if (nowSeconds >= exp + leeway) reject("ERR_JWT_EXPIRED", `expired at ${at(exp)} (now ${at(nowSeconds)}, leeway ${leeway}s)`);
  const nbf = numericClaim(claims, "nbf", false);
  if (nbf !== undefined && nowSeconds + leeway < nbf) reject("ERR_JWT_NOT_YET_VALID", `not valid before ${at(nbf)} (nbf)`);
  const iat = numericClaim(claims, "iat", false);
  if (iat !== undefined && nowSeconds + leeway < iat) reject("ERR_JWT_NOT_YET_VALID", `issued in the future at ${at(iat)} (iat)`);
  const audience = audienceClaim(claims);
  if (!audience.includes(options.audience)) reject("ERR_JWT_AUDIENCE", `aud ${JSON.stringify(audience)} does not contain ${JSON.stringify(options.audience)}`);

  return Object.freeze({ spiffeId, claims: Object.freeze(claims), header: Object.freeze(header), audience: Object.freeze(audience), expiresAt: exp * 1000 });
}
