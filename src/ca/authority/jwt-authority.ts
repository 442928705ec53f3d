// JWT signing authorities and JWT-SVID minting (JWT-SVID standard, sections 2-3): JWS compact with
// `kid` and `typ: JWT`; claims sub, aud, exp, iat and optionally iss.
import { randomBytes, sign, type KeyObject } from "node:crypto";
import { calculateJwkThumbprint, type JWK } from "jose";
import type { JwtAuthorityRecord, KeyManager, KeyType } from "../contracts.js";
import { keyTypeOf } from "../keys/index.js";

export interface JwtAuthorityContext {
  serverId: string;
  keyManager: KeyManager;
  keyType: KeyType;
  caTtlMs: number;
}

const ALG: Record<KeyType, "ES256" | "ES384" | "RS256"> = { "ec-p256": "ES256", "ec-p384": "ES384", "rsa-2048": "RS256" };

export interface JwtSigner {
  record: JwtAuthorityRecord;
  privateKey: KeyObject;
  alg: "ES256" | "ES384" | "RS256";
}

/** The public JWK members only (kty/crv/x/y or kty/n/e): what the bundle publishes. */
function publicJwk(publicKey: KeyObject): Record<string, unknown> {
  const jwk = publicKey.export({ format: "jwk" });
  return jwk.kty === "RSA" ? { kty: jwk.kty, n: jwk.n, e: jwk.e } : { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
}

export async function createJwtAuthority(ctx: JwtAuthorityContext, now: number): Promise<{ record: JwtAuthorityRecord; privateKey: KeyObject }> {
  const keyId = `${ctx.serverId}.jwt.${randomBytes(8).toString("hex")}`;
  const pair = await ctx.keyManager.generateKey(keyId, ctx.keyType);
  const jwk = publicJwk(pair.publicKey);
  // The RFC 7638 thumbprint is a stable, collision-free kid derived from the key itself.
  const kid = await calculateJwkThumbprint(jwk as JWK, "sha256");
  const record: JwtAuthorityRecord = {
    kid,
    state: "prepared",
    keyId,
    publicKeyJwk: jwk,
    // Same whole-second window as an X.509 CA created at the same moment, so both kinds rotate
    // together (section 8 fractions are computed from notBefore..notAfter).
    notBefore: Math.floor((now - 10_000) / 1000) * 1000,
    notAfter: Math.floor((now + ctx.caTtlMs) / 1000) * 1000,
    tainted: false,
    serverId: ctx.serverId,
  };
  return { record, privateKey: pair.privateKey };
}

export function jwtSigner(record: JwtAuthorityRecord, privateKey: KeyObject): JwtSigner {
  const type = keyTypeOf(privateKey);
  if (type === undefined) throw new TypeError(`JWT authority ${record.kid}: unsupported key`);
  return { record, privateKey, alg: ALG[type] };
}

export interface JwtClaimsInput {
  spiffeId: string;
  audience: readonly string[];
  issuedAt: number;
  expiresAt: number;
  issuer: string | undefined;
}

const HASH: Record<JwtSigner["alg"], string> = { ES256: "sha256", ES384: "sha384", RS256: "sha256" };

const b64url = (s: string): string => Buffer.from(s, "utf8").toString("base64url");

/**
 * Signs a JWT-SVID. Times are epoch seconds. A single audience is a string, several an array (RFC
 * 7519 4.1.3). The JWS Compact Serialization (RFC 7515 section 7.1) is built here and signed with
 * node:crypto in one synchronous call: ECDSA signatures are the fixed-width R || S that JWS
 * requires (RFC 7518 section 3.4, `ieee-p1363`), RS256 is RSASSA-PKCS1-v1_5 (section 3.3).
 */
export async function signJwtSvid(signer: JwtSigner, c: JwtClaimsInput): Promise<string> {
  const header = { alg: signer.alg, kid: signer.record.kid, typ: "JWT" };
  const claims: Record<string, unknown> = {
    sub: c.spiffeId,
    aud: c.audience.length === 1 ? c.audience[0]! : [...c.audience],
    iat: c.issuedAt,
    exp: c.expiresAt,
  };
  if (c.issuer !== undefined) claims.iss = c.issuer;
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const signature = sign(HASH[signer.alg], Buffer.from(input, "ascii"), signer.alg === "RS256" ? signer.privateKey : { key: signer.privateKey, dsaEncoding: "ieee-p1363" });
  return `${input}.${signature.toString("base64url")}`;
}
