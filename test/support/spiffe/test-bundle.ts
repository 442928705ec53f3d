// Test-only Bundle builder from test CAs and JWT authorities.
import { createBundle, type Bundle } from "../../../src/spiffe/bundle.js";
import { parseTrustDomain, type TrustDomain } from "../../../src/spiffe/trust-domain.js";
import type { TestCa } from "./test-ca.js";
import type { TestJwtAuthority } from "./test-jwt.js";

export interface TestBundleOptions {
  /** Default: the first CA's trust domain. */
  trustDomain?: string | TrustDomain;
  /** Each CA's root becomes an X.509 authority. */
  cas?: readonly TestCa[];
  jwtAuthorities?: readonly TestJwtAuthority[];
  sequenceNumber?: number;
  refreshHintSeconds?: number;
}

export function createTestBundle(options: TestBundleOptions): Bundle {
  const td = options.trustDomain ?? options.cas?.[0]?.trustDomain;
  if (td === undefined) throw new TypeError("createTestBundle: give a trustDomain or at least one CA");
  const roots = new Map((options.cas ?? []).map((ca) => [ca.rootDer.toString("hex"), ca.rootDer]));
  return createBundle({
    trustDomain: typeof td === "string" ? parseTrustDomain(td) : td,
    x509Authorities: roots.values(),
    jwtAuthorities: (options.jwtAuthorities ?? []).map((a) => [a.kid, a.publicJwk] as const),
    sequenceNumber: options.sequenceNumber,
    refreshHintSeconds: options.refreshHintSeconds,
  });
}
