// The two OIDC documents relying parties read (OpenID Connect Discovery 1.0 section 3 and RFC 7517
// section 5), built from the trust domain's JWT authorities. Pure functions of their inputs.

/** A JWT authority as published in the trust domain's bundle. */
export interface JwtAuthorityKey {
  kid: string;
  publicKeyJwk: Record<string, unknown>;
}

/**
 * The JWS algorithm a JWT authority signs with, from its public key: our JWT authorities sign
 * EC P-256 with ES256, P-384 with ES384 and RSA with RS256 (RFC 7518 section 3.1). Undefined for
 * any other key, which is then left out of the JWKS rather than published with a guessed alg.
 */
export function algOf(jwk: Record<string, unknown>): "ES256" | "ES384" | "RS256" | undefined {
  if (jwk.kty === "RSA") return "RS256";
  if (jwk.kty === "EC" && jwk.crv === "P-256") return "ES256";
  if (jwk.kty === "EC" && jwk.crv === "P-384") return "ES384";
  return undefined;
}

export interface JwksOptions {
  /** Adds `use: "sig"` (RFC 7517 section 4.2) to every key; some consumers (Keycloak, Kafka) require it. */
  setKeyUse: boolean;
}

/** RFC 7517 JWK Set: kid, alg, kty and the public members (crv/x/y or n/e) only; never `d`. */
export function buildJwks(authorities: readonly JwtAuthorityKey[], o: JwksOptions): { keys: Record<string, unknown>[] } {
  const keys: Record<string, unknown>[] = [];
  for (const a of authorities) {
    const jwk = a.publicKeyJwk;
    const alg = algOf(jwk);
    if (alg === undefined) continue;
    const members = jwk.kty === "RSA" ? { n: jwk.n, e: jwk.e } : { crv: jwk.crv, x: jwk.x, y: jwk.y };
    keys.push({ kty: jwk.kty, kid: a.kid, alg, ...(o.setKeyUse ? { use: "sig" } : {}), ...members });
  }
  return { keys };
}

/**
 * OpenID Connect Discovery 1.0 section 3 provider metadata for an issuer that only issues
 * JWT-SVIDs: no authorization endpoint (empty string), ID tokens only, public subjects, and
 * exactly the algorithms the published keys use.
 */
export function buildDiscovery(issuer: string, jwksUri: string, jwks: { keys: Record<string, unknown>[] }): Record<string, unknown> {
  const algs = [...new Set(jwks.keys.map((k) => k.alg as string))].sort();
  return {
    issuer,
    jwks_uri: jwksUri,
    authorization_endpoint: "",
    response_types_supported: ["id_token"],
    subject_types_supported: ["public"],
    id_token_signing_alg_values_supported: algs,
  };
}

/** The issuer without a trailing slash, so `<issuer>/keys` and the discovery path join cleanly. */
export function trimSlash(s: string): string {
  return s.endsWith("/") ? s.slice(0, -1) : s;
}
