// The trust domain's own bundle as published (SPIFFE format, SPIFFE_Trust_Domain_and_Bundle
// section 4) by the admin API, the agent API and the federation bundle endpoint. Its
// spiffe_sequence is derived from the stored authority journals (OwnBundleContents.sequence), so
// every HA replica that has read the same journals serves the same document.
import type { CertificateAuthority } from "../contracts.js";
import type { OwnBundle } from "../admin/index.js";
import { createBundle, encodeSpiffeBundle, parseTrustDomain } from "../../spiffe/index.js";

export function createOwnBundleSource(ca: Pick<CertificateAuthority, "trustDomain" | "bundleContents">, refreshHintSeconds: number): () => OwnBundle {
  const td = parseTrustDomain(ca.trustDomain);
  // Encoding is cached per content: the bundle endpoint answers every poll from it.
  let cached: { key: string; bundle: OwnBundle } | undefined;
  return () => {
    const contents = ca.bundleContents();
    const key = `${contents.sequence}:${contents.x509Authorities.length}:${contents.jwtAuthorities.map((a) => a.kid).join(",")}`;
    if (cached?.key === key) return cached.bundle;
    const bundle = createBundle({
      trustDomain: td,
      x509Authorities: contents.x509Authorities,
      jwtAuthorities: contents.jwtAuthorities.map((a) => [a.kid, a.publicKeyJwk] as const),
      sequenceNumber: contents.sequence,
      refreshHintSeconds,
    });
    cached = { key, bundle: { x509Authorities: contents.x509Authorities, spiffeJson: encodeSpiffeBundle(bundle), sequence: contents.sequence } };
    return cached.bundle;
  };
}
