// Test-only JWT-SVID factory: authorities (key + kid) and tokens with any header or claim changed.
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";
import { CompactSign, type JWK } from "jose";

export type TestJwtAlg = "RS256" | "RS384" | "RS512" | "ES256" | "ES384" | "ES512" | "PS256" | "PS384" | "PS512";

export interface TestJwtAuthority {
  readonly kid: string;
  readonly alg: TestJwtAlg;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** Public JWK without kid/use, as stored in a Bundle. */
  readonly publicJwk: JWK;
}

const CURVES: Record<string, string> = { ES256: "P-256", ES384: "P-384", ES512: "P-521" };

export function createTestJwtAuthority(options: { kid?: string; alg?: TestJwtAlg } = {}): TestJwtAuthority {
  const alg = options.alg ?? "ES256";
  const curve = CURVES[alg];
  const keys = curve === undefined ? generateKeyPairSync("rsa", { modulusLength: 2048 }) : generateKeyPairSync("ec", { namedCurve: curve });
  return Object.freeze({
    kid: options.kid ?? randomBytes(8).toString("hex"),
    alg,
    ...keys,
    publicJwk: keys.publicKey.export({ format: "jwk" }) as JWK,
  });
}

export interface TestJwtOptions {
  sub: string;
  aud: string | readonly string[];
  /** Epoch ms used for iat/exp. Default: Date.now(). */
  now?: number;
  /** Default 300 (section 8: JWT-SVID TTL 5 min). */
  ttlSeconds?: number;
  /** Extra or replacement claims; a value of `undefined` removes the claim. */
  claims?: Record<string, unknown>;
  /** Extra or replacement header members; `undefined` removes one (but `alg` always stays). */
  header?: Record<string, unknown>;
  /** Sign with another key than the authority's (a token whose signature does not verify). */
  signWith?: KeyObject;
}

function without<T extends Record<string, unknown>>(obj: T): T {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as T;
}

/** Signs a JWT-SVID with `kid` and `typ: JWT` (section 3) unless overridden. */
export async function signTestJwtSvid(authority: TestJwtAuthority, o: TestJwtOptions): Promise<string> {
  const nowSeconds = Math.floor((o.now ?? Date.now()) / 1000);
  const claims = without({ sub: o.sub, aud: o.aud, iat: nowSeconds, exp: nowSeconds + (o.ttlSeconds ?? 300), ...o.claims });
  const header = without({ alg: authority.alg, kid: authority.kid, typ: "JWT", ...o.header });
  return new CompactSign(Buffer.from(JSON.stringify(claims)))
    .setProtectedHeader({ ...header, alg: String(header["alg"] ?? authority.alg) })
    .sign(o.signWith ?? authority.privateKey);
}

/** Builds a compact JWS from raw parts without signing (for `alg: none` and malformed tokens). */
export function encodeTestJws(header: Record<string, unknown>, claims: Record<string, unknown>, signature = ""): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  return `${part(header)}.${part(claims)}.${signature}`;
}

/**
 * Signs a compact JWS whose header and payload are the given JSON TEXT, byte for byte (members
 * named twice, odd escapes), with the authority's key. ES* and RS* only.
 */
export function signRawTestJws(authority: TestJwtAuthority, headerJson: string, payloadJson: string): string {
  if (!/^(ES|RS)/.test(authority.alg)) throw new TypeError(`signRawTestJws: ${authority.alg} is not supported`);
  const input = `${Buffer.from(headerJson).toString("base64url")}.${Buffer.from(payloadJson).toString("base64url")}`;
  const digest = `sha${authority.alg.slice(2)}`;
  const signature = sign(digest, Buffer.from(input), { key: authority.privateKey, dsaEncoding: "ieee-p1363" });
  return `${input}.${signature.toString("base64url")}`;
}
