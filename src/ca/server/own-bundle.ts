// The trust domain's own bundle as published (SPIFFE format) with a sequence number that the
// datastore increments on every authority change (shared by HA replicas).
import type { CertificateAuthority } from "../contracts.js";
import type { Datastore } from "../datastore/index.js";
import type { OwnBundle } from "../admin/index.js";
import { createBundle, encodeSpiffeBundle, parseTrustDomain } from "../../spiffe/index.js";

export function bundleSequenceName(trustDomain: string): string {
  return `bundle_sequence:${trustDomain}`;
}

export function createOwnBundleSource(ca: CertificateAuthority, datastore: Datastore, refreshHintSeconds: number): () => Promise<OwnBundle> {
  const td = parseTrustDomain(ca.trustDomain);
  return async () => {
    const contents = ca.bundleContents();
    const sequence = await datastore.readCounter(bundleSequenceName(ca.trustDomain));
    const bundle = createBundle({
      trustDomain: td,
      x509Authorities: contents.x509Authorities,
      jwtAuthorities: contents.jwtAuthorities.map((a) => [a.kid, a.publicKeyJwk] as const),
      sequenceNumber: sequence,
      refreshHintSeconds,
    });
    return { x509Authorities: contents.x509Authorities, spiffeJson: encodeSpiffeBundle(bundle), sequence };
  };
}
